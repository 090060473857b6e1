import type { JpmEnvironment } from '../domain/types.ts';
import { AppError, ConflictError, NotFoundError } from '../shared/errors.ts';
import { uuidv7 } from '../shared/ids.ts';
import { createLogger } from '../shared/logger.ts';
import * as certificatesRepo from '../storage/certificates.repo.ts';
import type { BeforeCommit, Database, Executor } from '../storage/db.ts';
import { findIntegrationLifecycle, updateIntegrationLifecycle } from '../storage/integration-lifecycle.repo.ts';
import { findKeyPairsByPublicKey } from '../storage/key-pairs.repo.ts';
import { insertOutboxEvents } from '../storage/outbox.repo.ts';
import { refuseCancelled } from './key-pairs.ts';
import { chainProblems, parseCertificatePem, usageProblems, validityProblem } from './certificate-check.ts';

// Resolved per call: the root logger is configured by main/ after modules are imported.
const log = () => createLogger('credentials');

/** J.P. Morgan accepts at most two active certificates per Common Name: enough for a rotation overlap. */
export const MAX_ACTIVE_PER_COMMON_NAME = 2;

export const CERTIFICATE_STATUSES = ['active', 'retired', 'expired'] as const;
export type CertificateStatus = (typeof CERTIFICATE_STATUSES)[number];

export interface CertificateView {
  id: string;
  integrationId: string;
  keyPairId: string;
  environment: JpmEnvironment;
  certificatePem: string;
  fingerprintSha256: string;
  serialNumber: string;
  subjectCn: string;
  issuer: string;
  notBefore: Date;
  notAfter: Date;
  status: CertificateStatus;
  installedBy: string;
  installedAt: Date;
  retiredBy: string | null;
  retiredAt: Date | null;
  expiredAt: Date | null;
  expiryWarningsSent: number[];
}

export function certificateView(row: certificatesRepo.CertificateRow): CertificateView {
  return {
    id: row.id,
    integrationId: row.integration_id,
    keyPairId: row.key_pair_id,
    environment: row.environment as JpmEnvironment,
    certificatePem: row.certificate_pem,
    fingerprintSha256: row.fingerprint_sha256,
    serialNumber: row.serial_number,
    subjectCn: row.subject_cn,
    issuer: row.issuer,
    notBefore: row.not_before,
    notAfter: row.not_after,
    status: row.status as CertificateStatus,
    installedBy: row.installed_by,
    installedAt: row.installed_at,
    retiredBy: row.retired_by,
    retiredAt: row.retired_at,
    expiredAt: row.expired_at,
    expiryWarningsSent: row.expiry_warnings_sent,
  };
}

export interface InstallCertificateInput {
  integrationId: string;
  /** The issued certificate; may be followed by its chain in the same paste. */
  certificatePem: string;
  /** Optional issuing chain or CA; when given (here or after the leaf) the leaf must chain to it. */
  chainPem?: string | null;
  actor: string;
  now?: Date;
}

function refused(problems: string[]): AppError {
  return new AppError(`certificate refused: ${problems.join('; ')}`, {
    code: 'certificate_refused',
    httpStatus: 422,
    details: { problems },
  });
}

/**
 * Checks and installs an issued certificate: it must match a key pair we generated for this
 * integration, be inside its validity window, be a TLS client certificate, chain to the given
 * chain/CA, and keep the Common Name at two active certificates at most. Installing the same
 * certificate twice returns the installed one. Rotation: install the new one (two active, the
 * newest is used from then on), then retire the old one.
 */
export async function installCertificate(
  db: Database,
  input: InstallCertificateInput,
  beforeCommit?: BeforeCommit<CertificateView>,
): Promise<CertificateView> {
  const now = input.now ?? new Date();
  const parsed = parseCertificatePem(input.certificatePem, input.chainPem);
  const problems = [
    validityProblem(parsed.notBefore, parsed.notAfter, now),
    ...usageProblems(parsed.cert),
    ...(await chainProblems(parsed, now)),
  ].filter((p): p is string => p !== undefined);

  const row = await db.transaction().execute(async (trx) => {
    // The integration row lock serializes installs and retirements, so the two-per-CN count holds.
    const integration = await findIntegrationLifecycle(trx, input.integrationId, { forUpdate: true });
    if (!integration) {
      throw new NotFoundError('integration', input.integrationId);
    }
    refuseCancelled(integration, 'install a certificate for it');
    const [keyPair] = await findKeyPairsByPublicKey(trx, integration.id, parsed.publicKeySha256);
    if (!keyPair) {
      problems.unshift(
        'its public key does not match any key pair generated for this integration (issued for another CSR?)',
      );
    } else if (keyPair.common_name !== parsed.subjectCn) {
      problems.push(
        `its Common Name ${JSON.stringify(parsed.subjectCn)} differs from the CSR's ${JSON.stringify(keyPair.common_name)}`,
      );
    }
    if (problems.length > 0 || !keyPair) {
      throw refused(problems);
    }
    const existing = await certificatesRepo.findCertificateByFingerprint(trx, integration.id, parsed.fingerprintSha256);
    if (existing) {
      if (existing.status === 'active') {
        return existing;
      }
      throw new ConflictError(
        `this certificate was installed before and is now ${existing.status}; it cannot be installed again`,
        'certificate_already_installed',
        { certificateId: existing.id },
      );
    }
    const active = await certificatesRepo.countActiveByCommonName(trx, integration.id, parsed.subjectCn);
    if (active >= MAX_ACTIVE_PER_COMMON_NAME) {
      throw new ConflictError(
        `Common Name ${parsed.subjectCn} already has ${active} active certificates (J.P. Morgan allows ${MAX_ACTIVE_PER_COMMON_NAME}); retire the old one first`,
        'too_many_active_certificates',
        { commonName: parsed.subjectCn, active },
      );
    }
    const chainPem = parsed.chain.length > 0 ? parsed.chain.map((c) => c.toString('pem')).join('\n') : null;
    const inserted = await certificatesRepo.insertCertificate(trx, {
      id: uuidv7(),
      organizationId: integration.organization_id,
      integrationId: integration.id,
      keyPairId: keyPair.id,
      environment: keyPair.environment,
      certificatePem: parsed.pem,
      chainPem,
      fingerprintSha256: parsed.fingerprintSha256,
      serialNumber: parsed.serialNumber,
      subjectCn: parsed.subjectCn,
      issuer: parsed.issuer,
      notBefore: parsed.notBefore,
      notAfter: parsed.notAfter,
      installedBy: input.actor,
      installedAt: now,
    });
    if (integration.sync_status === 'certificate_expired' && keyPair.environment === integration.environment) {
      await updateIntegrationLifecycle(trx, integration.id, { sync_status: 'ok', sync_status_reason: null });
    }
    await insertOutboxEvents(trx, [
      {
        organizationId: integration.organization_id,
        integrationId: integration.id,
        type: 'certificate.installed',
        payload: {
          integrationId: integration.id,
          certificateId: inserted.id,
          commonName: inserted.subject_cn,
          environment: inserted.environment,
          notAfter: inserted.not_after.toISOString(),
          fingerprintSha256: inserted.fingerprint_sha256,
          actor: input.actor,
        },
      },
    ]);
    await beforeCommit?.(trx, certificateView(inserted));
    return inserted;
  });
  log().info(
    { integrationId: input.integrationId, certificateId: row.id, commonName: row.subject_cn, notAfter: row.not_after },
    'certificate installed',
  );
  return certificateView(row);
}

export interface RetireCertificateInput {
  integrationId: string;
  certificateId: string;
  actor: string;
  /** Retire even when it is the last usable certificate of a stage that syncs (approved, validating, live). */
  force?: boolean;
  now?: Date;
}

const SYNCING_STAGES = ['approved', 'validating', 'live'];

/** Retires an active certificate (the last step of a rotation). Refuses to strand a syncing integration. */
export async function retireCertificate(
  db: Database,
  input: RetireCertificateInput,
  beforeCommit?: BeforeCommit<CertificateView>,
): Promise<CertificateView> {
  const now = input.now ?? new Date();
  const row = await db.transaction().execute(async (trx) => {
    const integration = await findIntegrationLifecycle(trx, input.integrationId, { forUpdate: true });
    if (!integration) {
      throw new NotFoundError('integration', input.integrationId);
    }
    const cert = await certificatesRepo.findCertificate(trx, integration.id, input.certificateId);
    if (!cert) {
      throw new NotFoundError('certificate', input.certificateId);
    }
    if (cert.status !== 'active') {
      throw new ConflictError(`certificate ${cert.id} is already ${cert.status}`, 'certificate_not_active');
    }
    const usable = await certificatesRepo.listUsableCertificates(trx, integration.id, integration.environment, now);
    const others = usable.filter((c) => c.id !== cert.id);
    const strands = usable.some((c) => c.id === cert.id) && others.length === 0;
    if (strands && SYNCING_STAGES.includes(integration.stage) && input.force !== true) {
      throw new ConflictError(
        `certificate ${cert.id} is the only usable certificate of an integration that is ${integration.stage}; install its successor first (or retire with force)`,
        'last_usable_certificate',
      );
    }
    const retired = await certificatesRepo.retireCertificateRow(trx, cert.id, input.actor, now);
    if (!retired) {
      throw new ConflictError(`certificate ${cert.id} is no longer active`, 'certificate_not_active');
    }
    await insertOutboxEvents(trx, [
      {
        organizationId: integration.organization_id,
        integrationId: integration.id,
        type: 'certificate.retired',
        payload: {
          integrationId: integration.id,
          certificateId: cert.id,
          commonName: cert.subject_cn,
          actor: input.actor,
          at: now.toISOString(),
        },
      },
    ]);
    await beforeCommit?.(trx, certificateView(retired));
    return retired;
  });
  log().info({ integrationId: input.integrationId, certificateId: row.id }, 'certificate retired');
  return certificateView(row);
}

export async function listCertificates(
  ex: Executor,
  integrationId: string,
  filter: { status?: CertificateStatus; environment?: JpmEnvironment } = {},
): Promise<CertificateView[]> {
  return (await certificatesRepo.listCertificates(ex, integrationId, filter)).map(certificateView);
}
