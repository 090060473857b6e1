import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey } from '../../src/admin-api/api-keys.service.ts';
import { loadConfig, type Secrets } from '../../src/config/index.ts';
import { generateCsr, installCertificate } from '../../src/credentials/index.ts';
import { runWebhookDeliveries } from '../../src/events/webhook-delivery.ts';
import { createWebhookEndpoint, pingEndpoint } from '../../src/events/webhook-endpoints.ts';
import { createIntegration } from '../../src/onboarding/index.ts';
import { createQueues, triggerSync, type Queues } from '../../src/scheduler/index.ts';
import { createLogger } from '../../src/shared/logger.ts';
import { createOutboundPolicy } from '../../src/shared/outbound-policy.ts';
import { addDays, localDate } from '../../src/shared/time.ts';
import { NO_QUIRKS, signCsr, startSimulator, type RunningSimulator } from '../../src/simulator/index.ts';
import { CSR_SUBJECT, createOrganization } from '../factories/onboarding.ts';
import { createAccount } from '../factories/tenancy.ts';
import { createTestDb, testQueuePrefix, type TestDb } from '../helpers/db.ts';
import { REDIS_URL } from '../helpers/env.ts';
import { obliterate } from '../helpers/orchestration.ts';
import { spawnService } from '../helpers/start-service.ts';

/**
 * The worker role (`npm start` with ROLES=worker) told to stop while webhook receivers never answer and a sync window
 * waits for the bank (the simulator, over mTLS). A receiver must not hold the stop: the sends in flight are cut short
 * and their deliveries stay pending, due again at once (nothing delivered, nothing lost, no receiver failure logged),
 * and the window goes back to the queue without spending an attempt, all within SHUTDOWN_TIMEOUT_MS (exit 0).
 */
const ZONE = 'America/New_York';
const OPS = 'ops@jpm-sync.example';
/** More than one pass's worth of rounds: 8 sends at a time, each allowed 10 s, outlast a 25 s stop several times. */
const DELIVERIES = 40;

let t: TestDb;
let secrets: Secrets;
let sim: RunningSimulator;
let pkiDir: string;
let queues: Queues;
let receiver: Server;
let receiverUrl: string;
/** While deaf, the receiver reads each request and never answers; afterwards it answers 204. */
const receiving = { deaf: true, requests: 0, answered: new Map<string, string[]>() };
let child: ChildProcess | undefined;
let accountId: string;
const today = localDate(new Date(), ZONE);

beforeAll(async () => {
  t = await createTestDb();
  ({ secrets } = loadConfig({ NODE_ENV: 'test', DATABASE_URL: t.url, REDIS_URL }));
  pkiDir = await mkdtemp(join(tmpdir(), 'worker-stop-webhooks-pki-'));
  // Every bank call is answered 2 s late: a window is in flight for a while.
  sim = await startSimulator({
    pkiDir,
    today,
    seed: 'worker-stop-webhooks',
    accounts: [{ currency: 'USD' }],
    historyDays: 30,
    txPerDay: 4,
    quirks: NO_QUIRKS,
    latencyMs: 2_000,
  });
  const orgId = await createOrganization(t.db);
  const integration = await createIntegration(t.db, {
    organizationId: orgId,
    name: 'Acme Syncs',
    environment: 'simulator',
    baseUrl: sim.url,
    serverCaPem: sim.caCertPem,
    actor: OPS,
  });
  const kp = await generateCsr(t.db, secrets, { integrationId: integration.id, subject: CSR_SUBJECT, actor: OPS });
  await installCertificate(t.db, {
    integrationId: integration.id,
    certificatePem: await signCsr(sim.pki, kp.csrPem),
    chainPem: sim.caCertPem,
    actor: OPS,
  });
  await t.db.updateTable('integrations').set({ stage: 'live' }).where('id', '=', integration.id).execute();
  accountId = (
    await createAccount(
      t.db,
      { organizationId: orgId, integrationId: integration.id },
      { jpmAccountId: sim.accounts[0]!.accountId, currency: 'USD', decimalLocation: 2, timeZone: ZONE },
    )
  ).id;

  receiver = createServer((req: IncomingMessage, res: ServerResponse) => {
    receiving.requests++;
    if (receiving.deaf) {
      req.resume();
      return;
    }
    const id = String(req.headers['jpm-sync-delivery-id']);
    receiving.answered.set(id, [
      ...(receiving.answered.get(id) ?? []),
      String(req.headers['jpm-sync-delivery-attempt']),
    ]);
    req.resume();
    req.on('end', () => res.writeHead(204).end());
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
  const { endpoint } = await createWebhookEndpoint(
    { db: t.db, keys: secrets, allowHttpEndpoints: true },
    { organizationId: orgId, url: receiverUrl, eventTypes: ['webhook.ping'], description: 'deaf', createdBy: OPS },
  );
  for (let i = 0; i < DELIVERIES; i++) {
    await pingEndpoint(t.db, endpoint);
  }
  queues = createQueues({ redisUrl: REDIS_URL, prefix: testQueuePrefix() });
}, 120_000);

afterAll(async () => {
  if (child && child.exitCode === null && child.signalCode === null) {
    child.kill('SIGKILL');
  }
  receiver.closeAllConnections();
  await new Promise((resolve) => receiver.close(resolve));
  await obliterate(queues);
  await queues.close();
  await sim.stop();
  await rm(pkiDir, { recursive: true, force: true });
  await t.drop();
});

describe('the worker role stopping while webhook receivers never answer', () => {
  it('cuts the sends short (deliveries pending, due at once), gives the window back and exits 0', async () => {
    const svc = spawnService(t.url, {
      TZ: 'UTC',
      ROLES: 'worker',
      QUEUE_PREFIX: queues.prefix,
      SHUTDOWN_TIMEOUT_MS: '25000',
    });
    const { proc, exited } = svc;
    child = proc;

    const { runs } = await triggerSync(
      { db: t.db, queues, now: () => new Date(), logger: createLogger('scheduler'), lookbackDays: 5 },
      { accountId, request: { mode: 'range', from: addDays(today, -20), to: addDays(today, -1) }, trigger: 'backfill' },
    );
    expect(runs).toHaveLength(1);
    const sync = queues.queue('sync');
    const inFlight = async () =>
      (await sync.getJobs(['active'])).filter((j) => j.name === 'sync-window').map((j) => j.id!);
    // A full round of sends waits on the receiver, and a window waits on the bank.
    await expect.poll(() => receiving.requests, { timeout: 60_000, interval: 50 }).toBeGreaterThanOrEqual(8);
    await expect.poll(inFlight, { timeout: 60_000, interval: 50 }).not.toEqual([]);
    const held = await inFlight();
    proc.kill('SIGTERM');
    const code = await exited;

    expect(svc.output).toContain('shutdown complete');
    expect(svc.output).not.toContain('shutdown timed out');
    expect(code, svc.output).toBe(0);
    for (const id of held) {
      const job = (await sync.getJob(id))!;
      expect({ id, state: await job.getState(), attemptsMade: job.attemptsMade }).toEqual({
        id,
        state: expect.stringMatching(/^(delayed|wait|waiting|prioritized)$/) as unknown,
        attemptsMade: 0,
      });
    }
    // Nothing delivered, nothing failed, no hold left: every delivery is due again now.
    const deliveries = await t.db
      .selectFrom('webhook_deliveries')
      .select(['id', 'status', 'attempts', 'last_error'])
      .select((eb) => [
        eb('locked_until', 'is not', null).as('held'),
        eb('next_attempt_at', '<=', sql<Date>`now()`).as('due'),
      ])
      .execute();
    expect(deliveries).toHaveLength(DELIVERIES);
    for (const d of deliveries) {
      expect(d, svc.output).toMatchObject({ status: 'pending', last_error: null, held: false, due: true });
    }
    // A send cut short by the stop is not the receiver's failure: no attempt was logged as failed.
    const logged = await t.db.selectFrom('webhook_delivery_attempts').select('outcome').execute();
    expect(logged).toEqual([]);

    // The receiver is back: the next runner delivers every one, each attempt under a number of its own.
    receiving.deaf = false;
    let delivered = 0;
    for (let pass = 0; pass < 5 && delivered < DELIVERIES; pass++) {
      const r = await runWebhookDeliveries({
        db: t.db,
        keys: secrets,
        outbound: createOutboundPolicy({ allow: ['127.0.0.0/8'] }),
      });
      delivered += r.succeeded;
    }
    expect(delivered).toBe(DELIVERIES);
    const attempts = new Map(deliveries.map((d) => [d.id, d.attempts]));
    for (const [id, numbers] of receiving.answered) {
      expect(numbers).toEqual([String(attempts.get(id)! + 1)]);
    }
    expect(receiving.answered.size).toBe(DELIVERIES);
  }, 180_000);

  it('with the api in the same process, a request still being sent does not hold the windows past the stop', async () => {
    const svc = spawnService(t.url, {
      TZ: 'UTC',
      ROLES: 'api,worker',
      HOST: '127.0.0.1',
      PORT: '0',
      QUEUE_PREFIX: queues.prefix,
      SHUTDOWN_TIMEOUT_MS: '25000',
    });
    const { proc, exited } = svc;
    child = proc;
    await expect
      .poll(() => /"port":(\d+)[^\n]*"api listening"/.exec(svc.output)?.[1], { timeout: 60_000 })
      .toBeDefined();
    const port = Number(/"port":(\d+)[^\n]*"api listening"/.exec(svc.output)![1]);

    await triggerSync(
      { db: t.db, queues, now: () => new Date(), logger: createLogger('scheduler'), lookbackDays: 5 },
      {
        accountId,
        request: { mode: 'range', from: addDays(today, -40), to: addDays(today, -21) },
        trigger: 'backfill',
      },
    );
    const sync = queues.queue('sync');
    const inFlight = async () =>
      (await sync.getJobs(['active'])).filter((j) => j.name === 'sync-window').map((j) => j.id!);
    await expect.poll(inFlight, { timeout: 60_000, interval: 50 }).not.toEqual([]);
    // A client that sent its request's head and is still sending the body (a slow upload): the request is in flight.
    const slow: Socket = connect(port, '127.0.0.1');
    await new Promise<void>((resolve) => slow.once('connect', resolve));
    slow.on('error', () => undefined);
    const { token } = await createApiKey(t.db, {
      name: 'slow',
      role: 'admin',
      organizationId: null,
      createdByKeyId: null,
    });
    slow.write('POST /v1/organizations HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n');
    slow.write(`Authorization: Bearer ${token}\r\n`);
    slow.write('Content-Length: 1000000\r\n\r\n{"name":"');
    const held = await inFlight();
    proc.kill('SIGTERM');
    await exited;
    slow.destroy();

    // The request never completes, so the stop runs to its deadline (exit 1): the windows must be back by then.
    expect(svc.output).toContain('"msg":"shutting down"');
    for (const id of held) {
      const job = (await sync.getJob(id))!;
      expect({ id, state: await job.getState(), attemptsMade: job.attemptsMade }).toEqual({
        id,
        state: expect.stringMatching(/^(delayed|wait|waiting|prioritized)$/) as unknown,
        attemptsMade: 0,
      });
    }
  }, 180_000);
});
