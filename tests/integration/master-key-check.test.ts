import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyId, loadConfig } from '../../src/config/index.ts';
import { generateCsr } from '../../src/credentials/index.ts';
import { createWebhookEndpoint } from '../../src/events/webhook-endpoints.ts';
import { CSR_SUBJECT } from '../factories/onboarding.ts';
import { createTenancy } from '../factories/tenancy.ts';
import { createTestDb, type TestDb } from '../helpers/db.ts';
import { REDIS_URL } from '../helpers/env.ts';
import { spawnService } from '../helpers/start-service.ts';

/**
 * The worker started with a CREDENTIALS_MASTER_KEY that is not the one the stored private keys and webhook secrets
 * were sealed under says so once at start, at error level, naming the missing key's id (never key material), and runs
 * on; with the right key it says every stored secret opens.
 */
let t: TestDb;
let sealedUnder: string;

beforeAll(async () => {
  t = await createTestDb();
  // The test configuration's master key (the development key) seals one key pair and one webhook secret.
  const { secrets } = loadConfig({ NODE_ENV: 'test', DATABASE_URL: t.url, REDIS_URL });
  sealedUnder = secrets.masterKey.id;
  const tenancy = await createTenancy(t.db);
  await generateCsr(t.db, secrets, { integrationId: tenancy.integrationId, subject: CSR_SUBJECT, actor: 'test' });
  await createWebhookEndpoint(
    { db: t.db, keys: secrets, allowHttpEndpoints: true },
    {
      organizationId: tenancy.organizationId,
      url: 'http://127.0.0.1:9/hook',
      eventTypes: ['*'],
      description: '',
      createdBy: 'test',
    },
  );
});

afterAll(async () => {
  await t?.drop();
});

/** The worker's output up to the line that says `until`, then it is stopped. */
async function workerOutputUntil(env: Record<string, string>, until: string): Promise<string> {
  const svc = spawnService(t.url, { ROLES: 'worker', ...env });
  const seen = new Promise<void>((resolve) => {
    const watch = () => {
      if (svc.output.includes(until)) {
        resolve();
      }
    };
    svc.proc.stdout!.on('data', watch);
    svc.proc.stderr!.on('data', watch);
  });
  // Bounded, so a worker that never says it is stopped, not left running.
  let timer: NodeJS.Timeout | undefined;
  const given = new Promise<'not said'>((resolve) => (timer = setTimeout(() => resolve('not said'), 40_000)));
  const outcome = await Promise.race([
    seen.then(() => 'seen' as const),
    svc.exited.then(() => 'exited' as const),
    given,
  ]);
  clearTimeout(timer);
  svc.proc.kill('SIGTERM');
  await svc.exited;
  expect(outcome, svc.output).toBe('seen');
  return svc.output;
}

describe('master keys at worker start', () => {
  it('a wrong CREDENTIALS_MASTER_KEY is an error line naming the missing key id; the worker runs on', async () => {
    const wrong = randomBytes(32);
    const output = await workerOutputUntil(
      { CREDENTIALS_MASTER_KEY: wrong.toString('base64') },
      'stored secrets sealed under master keys that are not configured',
    );
    const line = output.split('\n').find((l) => l.includes('stored secrets sealed under master keys'))!;
    expect(JSON.parse(line)).toMatchObject({
      level: 50,
      subsystem: 'credentials',
      missingKeyIds: [sealedUnder],
      keyPairs: 1,
      webhookSecrets: 1,
      masterKeyId: keyId(wrong),
    });
    expect(output).toContain('jpm-sync started');
    expect(output).not.toContain(wrong.toString('base64'));
  });

  it('with the key the secrets were sealed under, it says they all open', async () => {
    const output = await workerOutputUntil({}, 'master keys open every stored secret');
    expect(output).not.toContain('stored secrets sealed under master keys that are not configured');
  });
});
