import type { Secrets } from '../config/index.ts';
import { ENVIRONMENTS, type JpmEnvironment } from '../domain/types.ts';
import { ConflictError, NotFoundError, ValidationError } from '../shared/errors.ts';
import { uuidv7 } from '../shared/ids.ts';
import { createLogger } from '../shared/logger.ts';
import type { BeforeCommit, Database, Executor } from '../storage/db.ts';
import { findIntegrationLifecycle, type IntegrationLifecycleRow } from '../storage/integration-lifecycle.repo.ts';
import * as keyPairsRepo from '../storage/key-pairs.repo.ts';
import { insertOutboxEvents } from '../storage/outbox.repo.ts';
import {
  commonNameFor,
  DEFAULT_KEY_ALGORITHM,
  generateKeyAndCsr,
  KEY_ALGORITHMS,
  type CsrSubject,
  type KeyAlgorithm,
} from './csr.ts';
import { sealPrivateKey } from './envelope.ts';

// Resolved per call: the root logger is configured by main/ after modules are imported.
const log = () => createLogger('credentials');

/** A key pair as the API may show it: the CSR and metadata, never key material. */
export interface KeyPairView {
  id: string;
  integrationId: string;
  environment: JpmEnvironment;
  algorithm: KeyAlgorithm;
  subject: string;
  commonName: string;
  csrPem: string;
  publicKeySha256: string;
  masterKeyId: string;
  createdBy: string;
  createdAt: Date;
}

export function keyPairView(row: keyPairsRepo.KeyPairRow): KeyPairView {
  return {
    id: row.id,
    integrationId: row.integration_id,
    environment: row.environment as JpmEnvironment,
    algorithm: row.algorithm as KeyAlgorithm,
    subject: row.subject,
    commonName: row.common_name,
    csrPem: row.csr_pem,
    publicKeySha256: row.public_key_sha256,
    masterKeyId: row.master_key_id,
    createdBy: row.created_by,
    createdAt: row.created_at,
  };
}

export interface GenerateCsrInput {
  integrationId: string;
  subject: CsrSubject;
  /** RSA-2048 (default), RSA-3072, RSA-4096 or EC-P256. */
  algorithm?: KeyAlgorithm;
  /** Defaults to the integration's environment; decides the CN suffix. */
  environment?: JpmEnvironment;
  actor: string;
  now?: Date;
}

/**
 * Generates a key pair and its CSR. The private key is sealed (envelope encryption) before it is
 * written and never returned; the result carries the CSR PEM to send to J.P. Morgan.
 */
export async function generateCsr(
  db: Database,
  secrets: Pick<Secrets, 'masterKey'>,
  input: GenerateCsrInput,
  beforeCommit?: BeforeCommit<KeyPairView>,
): Promise<KeyPairView> {
  const algorithm = input.algorithm ?? DEFAULT_KEY_ALGORITHM;
  if (!KEY_ALGORITHMS.includes(algorithm)) {
    throw new ValidationError(`algorithm must be one of ${KEY_ALGORITHMS.join(', ')}`, [
      { path: 'algorithm', message: 'unsupported' },
    ]);
  }
  if (input.environment !== undefined && !ENVIRONMENTS.includes(input.environment)) {
    throw new ValidationError(`environment must be one of ${ENVIRONMENTS.join(', ')}`, [
      { path: 'environment', message: 'unsupported' },
    ]);
  }
  const integration = await findIntegrationLifecycle(db, input.integrationId);
  if (!integration) {
    throw new NotFoundError('integration', input.integrationId);
  }
  refuseCancelled(integration, 'generate a key pair for it');
  const environment = input.environment ?? (integration.environment as JpmEnvironment);
  const commonName = commonNameFor(environment, input.subject.commonName, integration.name);
  const generated = await generateKeyAndCsr(algorithm, input.subject, commonName);
  const id = uuidv7();
  const sealed = (() => {
    try {
      return sealPrivateKey(generated.privateKeyDer, secrets.masterKey, id);
    } finally {
      generated.privateKeyDer.fill(0);
    }
  })();
  const now = input.now ?? new Date();
  const row = await db.transaction().execute(async (trx) => {
    // Under the integration's row lock, as stage changes are: a cancel that committed meanwhile is seen here.
    const current = await findIntegrationLifecycle(trx, integration.id, { forUpdate: true });
    if (!current) {
      throw new NotFoundError('integration', input.integrationId);
    }
    refuseCancelled(current, 'generate a key pair for it');
    const inserted = await keyPairsRepo.insertKeyPair(trx, {
      id,
      organizationId: integration.organization_id,
      integrationId: integration.id,
      environment,
      algorithm,
      subject: generated.subject,
      commonName,
      csrPem: generated.csrPem,
      publicKeySha256: generated.publicKeySha256,
      private_key_ciphertext: sealed.privateKeyCiphertext,
      private_key_iv: sealed.privateKeyIv,
      private_key_auth_tag: sealed.privateKeyAuthTag,
      wrapped_data_key: sealed.wrappedDataKey,
      data_key_iv: sealed.dataKeyIv,
      data_key_auth_tag: sealed.dataKeyAuthTag,
      master_key_id: sealed.masterKeyId,
      createdBy: input.actor,
      createdAt: now,
    });
    await insertOutboxEvents(trx, [
      {
        organizationId: integration.organization_id,
        integrationId: integration.id,
        type: 'credentials.csr_generated',
        payload: {
          integrationId: integration.id,
          keyPairId: id,
          environment,
          commonName,
          algorithm,
          // The onboarding step it was made in (the one paused from, when paused): a CSR made again after the first
          // replaces a rejected one or renews the certificate, and the customer is told so.
          stage: current.stage === 'paused' ? (current.paused_from_stage ?? current.stage) : current.stage,
          actor: input.actor,
          at: now.toISOString(),
        },
      },
    ]);
    await beforeCommit?.(trx, keyPairView(inserted));
    return inserted;
  });
  log().info(
    { integrationId: integration.id, keyPairId: id, environment, algorithm, commonName },
    'key pair and CSR generated',
  );
  return keyPairView(row);
}

/** A cancelled integration is final: no new key material or certificate is made or installed for it. */
export function refuseCancelled(integration: Pick<IntegrationLifecycleRow, 'id' | 'stage'>, what: string): void {
  if (integration.stage === 'cancelled') {
    throw new ConflictError(
      `integration ${integration.id} is cancelled, which is final; cannot ${what}. Create a new integration instead`,
      'integration_cancelled',
      { integrationId: integration.id },
    );
  }
}

export async function listKeyPairs(
  ex: Executor,
  integrationId: string,
  environment?: JpmEnvironment,
): Promise<KeyPairView[]> {
  return (await keyPairsRepo.listKeyPairs(ex, integrationId, environment)).map(keyPairView);
}

/** The CSR PEM of one key pair, for download. */
export async function getCsrPem(ex: Executor, integrationId: string, keyPairId: string): Promise<string> {
  const row = await keyPairsRepo.findKeyPair(ex, integrationId, keyPairId);
  if (!row) {
    throw new NotFoundError('key pair', keyPairId);
  }
  return row.csr_pem;
}
