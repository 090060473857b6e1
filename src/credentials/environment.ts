// @peculiar/x509 resolves its internals through tsyringe, which needs the Reflect metadata API loaded first.
import 'reflect-metadata';
import { X509Certificate } from '@peculiar/x509';
import { certificatePemBlocks } from './certificate-check.ts';
import { DEFAULT_BASE_URLS, ENVIRONMENTS, type JpmEnvironment } from '../domain/types.ts';
import { NotFoundError, ValidationError } from '../shared/errors.ts';
import { createLogger } from '../shared/logger.ts';
import type { OutboundPolicy } from '../shared/outbound-policy.ts';
import { inTransaction, type Database, type Executor } from '../storage/db.ts';
import { findIntegrationLifecycle, updateIntegrationLifecycle } from '../storage/integration-lifecycle.repo.ts';

// Resolved per call: the root logger is configured by main/ after modules are imported.
const log = () => createLogger('credentials');

/**
 * Per-integration connection settings: the J.P. Morgan environment (`simulator`, `cat`, `prod`), the
 * base URL (defaults from API-NOTES.md for cat and prod; the simulator's has to be given) and an
 * optional server CA bundle to trust instead of the system roots (simulator, test gateways).
 */
export interface EnvironmentSettings {
  environment: JpmEnvironment;
  baseUrl: string;
  serverCaPem: string | null;
}

/**
 * Where a deployment lets integrations connect: the outbound address policy (no loopback, private or
 * metadata addresses unless allow-listed) and the operator-approved hosts, besides J.P. Morgan's own,
 * that a cat or prod base URL may name (e.g. an egress proxy).
 */
export interface ConnectionPolicy {
  outbound: OutboundPolicy;
  jpmBaseUrlHosts: readonly string[];
}

/** J.P. Morgan's mTLS gateways per environment (../shared/reference/jpm/API-NOTES.md §1). */
export const JPM_HOSTS: Readonly<Record<Exclude<JpmEnvironment, 'simulator'>, readonly string[]>> = {
  cat: ['apigatewaycat.jpmorgan.com', 'apigatewayqaf.jpmorgan.com', 'openbankinguat.jpmorgan.com'],
  prod: ['apigateway.jpmorgan.com', 'openbanking.jpmorgan.com'],
};

function assertJpmHost(environment: JpmEnvironment, url: URL, approvedHosts: readonly string[]): void {
  if (environment === 'simulator') {
    return;
  }
  const host = url.hostname.toLowerCase();
  const allowed = [...JPM_HOSTS[environment], ...approvedHosts.map((h) => h.toLowerCase())];
  if (!allowed.includes(host)) {
    throw new ValidationError(
      `a ${environment} baseUrl must be a J.P. Morgan host (${JPM_HOSTS[environment].join(', ')}) or one the operator approved (JPM_BASE_URL_HOSTS)`,
      [{ path: 'baseUrl', message: 'not a J.P. Morgan host' }],
      'base_url_not_allowed',
    );
  }
}

/**
 * Checks (synchronously) and normalises an integration's connection settings. `approvedHosts` are the
 * deployment's extra hosts for cat and prod (`ConnectionPolicy.jpmBaseUrlHosts`). The address check,
 * which resolves the host, is `checkBaseUrlAddress`.
 */
export function resolveEnvironmentSettings(
  input: { environment: string; baseUrl?: string | null; serverCaPem?: string | null },
  approvedHosts: readonly string[] = [],
): EnvironmentSettings {
  if (!(ENVIRONMENTS as readonly string[]).includes(input.environment)) {
    throw new ValidationError(`environment must be one of ${ENVIRONMENTS.join(', ')}`, [
      { path: 'environment', message: 'unsupported' },
    ]);
  }
  const environment = input.environment as JpmEnvironment;
  const baseUrl = input.baseUrl ?? (environment === 'simulator' ? undefined : DEFAULT_BASE_URLS[environment]);
  if (baseUrl === undefined) {
    throw new ValidationError('the simulator environment needs a baseUrl (e.g. https://127.0.0.1:8443)', [
      { path: 'baseUrl', message: 'required for simulator' },
    ]);
  }
  let parsed: URL;
  try {
    parsed = new URL(baseUrl);
  } catch {
    throw new ValidationError(`baseUrl ${JSON.stringify(baseUrl)} is not a URL`, [
      { path: 'baseUrl', message: 'not a URL' },
    ]);
  }
  if (parsed.protocol !== 'https:') {
    throw new ValidationError('baseUrl must be https: J.P. Morgan is reached over mutual TLS only', [
      { path: 'baseUrl', message: 'must be https' },
    ]);
  }
  if (parsed.username || parsed.password) {
    throw new ValidationError('baseUrl must not carry credentials', [
      { path: 'baseUrl', message: 'credentials in URL' },
    ]);
  }
  assertJpmHost(environment, parsed, approvedHosts);
  const serverCaPem = input.serverCaPem == null ? null : checkedCaBundle(input.serverCaPem);
  return { environment, baseUrl: parsed.toString().replace(/\/$/, ''), serverCaPem };
}

/** The bundle's certificates as clean PEM (indentation from YAML or an email dropped), each checked to parse. */
function checkedCaBundle(pem: string): string {
  if (/PRIVATE KEY-----/.test(pem)) {
    throw new ValidationError('serverCaPem contains a private key; a CA bundle holds certificates only', [
      { path: 'serverCaPem', message: 'contains a private key' },
    ]);
  }
  let blocks: string[];
  try {
    blocks = certificatePemBlocks(pem, 'serverCaPem');
  } catch (err) {
    // The same reason and fix, under this field's error code.
    throw err instanceof ValidationError ? new ValidationError(err.message, err.fields) : err;
  }
  if (blocks.length === 0) {
    throw new ValidationError('serverCaPem holds no PEM certificate', [
      { path: 'serverCaPem', message: 'no certificate found' },
    ]);
  }
  for (const block of blocks) {
    try {
      new X509Certificate(block);
    } catch {
      throw new ValidationError('serverCaPem holds a certificate that does not parse', [
        { path: 'serverCaPem', message: 'unparsable certificate' },
      ]);
    }
  }
  return blocks.join('\n');
}

/**
 * Refuses a base URL whose host is (or resolves to) an address the outbound policy forbids, or does not
 * resolve. J.P. Morgan's own gateways (a fixed list of public names) are not resolved here: a machine
 * without outside DNS can still be configured for cat or prod; every connection is checked anyway.
 * No policy: no check.
 */
export async function checkBaseUrlAddress(
  settings: EnvironmentSettings,
  policy: ConnectionPolicy | undefined,
): Promise<CheckedEnvironment> {
  if (
    settings.environment !== 'simulator' &&
    JPM_HOSTS[settings.environment].includes(new URL(settings.baseUrl).hostname.toLowerCase())
  ) {
    return settings as CheckedEnvironment;
  }
  await policy?.outbound.checkUrl(settings.baseUrl, { path: 'baseUrl' });
  return settings as CheckedEnvironment;
}

declare const checked: unique symbol;
/** Settings `checkBaseUrlAddress` has passed (after `resolveEnvironmentSettings`): the only ones `applyEnvironment` takes. */
export type CheckedEnvironment = EnvironmentSettings & { readonly [checked]: true };

export interface SetEnvironmentInput {
  integrationId: string;
  environment: JpmEnvironment;
  /** Omitted: the environment's default (required for the simulator). */
  baseUrl?: string | null;
  serverCaPem?: string | null;
  actor: string;
  policy?: ConnectionPolicy;
}

/**
 * Changes where an integration connects. Certificates are per environment (their CN carries the
 * environment), so after a switch `credentialFor` uses the target environment's certificates only.
 */
export async function setEnvironment(db: Database, input: SetEnvironmentInput): Promise<EnvironmentSettings> {
  const settings = await checkBaseUrlAddress(
    resolveEnvironmentSettings(input, input.policy?.jpmBaseUrlHosts),
    input.policy,
  );
  await applyEnvironment(db, input.integrationId, settings, input.actor);
  return settings;
}

/**
 * Writes settings that `resolveEnvironmentSettings` and `checkBaseUrlAddress` have passed (no address is resolved here:
 * a caller that checked once is not refused by a second DNS answer), in the caller's transaction when it has one.
 */
export async function applyEnvironment(
  ex: Executor,
  integrationId: string,
  settings: CheckedEnvironment,
  actor: string,
): Promise<void> {
  const row = await inTransaction(ex, async (trx) => {
    const integration = await findIntegrationLifecycle(trx, integrationId, { forUpdate: true });
    if (!integration) {
      throw new NotFoundError('integration', integrationId);
    }
    return updateIntegrationLifecycle(trx, integration.id, {
      environment: settings.environment,
      base_url: settings.baseUrl,
      server_ca_pem: settings.serverCaPem,
    });
  });
  // Inside a caller's transaction the caller says what it changed, once committed.
  if (!ex.isTransaction) {
    log().info(
      { integrationId: row.id, environment: settings.environment, baseUrl: settings.baseUrl, actor },
      'integration environment set',
    );
  }
}
