import type { Secrets } from '../config/index.ts';
import type { JpmEnvironment } from '../domain/types.ts';
import { isAppError, NotFoundError } from '../shared/errors.ts';
import { createLogger } from '../shared/logger.ts';
import type { Database } from '../storage/db.ts';
import { findIntegrationLifecycle } from '../storage/integration-lifecycle.repo.ts';
import { credentialFor, type JpmCredential } from './credential.ts';
import { credentialSource } from './credential-source.ts';
import { refuseCancelled } from './key-pairs.ts';

// Resolved per call: the root logger is configured by main/ after modules are imported.
const log = () => createLogger('credentials');

/**
 * The part of the J.P. Morgan client "test connection" needs. credentials/ may not import jpm/
 * (dependency direction), so the caller passes a factory: `(o) => new JpmClient(o)`.
 */
export interface ConnectionTester<R> {
  testConnection(): Promise<R>;
  close(): Promise<void>;
}
export type ConnectionTesterFactory<R> = (options: {
  baseUrl: string;
  credentials: () => Promise<JpmCredential>;
}) => ConnectionTester<R>;

export interface TestConnectionOutcome<R> {
  integrationId: string;
  environment: JpmEnvironment;
  baseUrl: string;
  /** The certificate tested, when there is a usable one. */
  credentialId: string | null;
  /** Why there is no usable credential (`no_certificate`, `certificate_expired`, …); the bank is not called. */
  credentialProblem?: { code: string; message: string };
  /** The client's own report (handshake, entitlement, balance call), when it ran. */
  report?: R;
}

/**
 * "Test connection" for an integration: checks our side first (a usable certificate whose key we
 * can decrypt) and says precisely what is wrong if not; otherwise runs the client's test (DNS, TLS
 * handshake with our certificate, a minimal balance call) with the integration's settings. A cancelled integration is
 * final and never calls the bank again: 409 `integration_cancelled`, as for its key pairs, certificates and syncs.
 */
export async function testConnection<R>(
  db: Database,
  secrets: Pick<Secrets, 'masterKey' | 'previousMasterKeys'>,
  integrationId: string,
  createClient: ConnectionTesterFactory<R>,
  now: Date = new Date(),
): Promise<TestConnectionOutcome<R>> {
  const integration = await findIntegrationLifecycle(db, integrationId);
  if (!integration) {
    throw new NotFoundError('integration', integrationId);
  }
  refuseCancelled(integration, 'test its connection to J.P. Morgan');
  const base = { integrationId, environment: integration.environment as JpmEnvironment, baseUrl: integration.base_url };
  let credentialId: string;
  try {
    credentialId = (await credentialFor(db, secrets, integrationId, now)).id;
  } catch (err) {
    if (!isAppError(err)) {
      throw err;
    }
    log().info({ integrationId, code: err.code }, 'connection test: no usable credential');
    return { ...base, credentialId: null, credentialProblem: { code: err.code, message: err.message } };
  }
  const client = createClient({
    baseUrl: integration.base_url,
    credentials: credentialSource(db, secrets, integrationId),
  });
  try {
    const report = await client.testConnection();
    log().info({ integrationId, credentialId }, 'connection test ran');
    return { ...base, credentialId, report };
  } finally {
    await client.close();
  }
}
