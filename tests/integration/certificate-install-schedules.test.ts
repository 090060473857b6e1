import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateCsr } from '../../src/credentials/index.ts';
import { createIntegration } from '../../src/onboarding/index.ts';
import { reconcileSchedules, scheduleId, startWorkers, type RunningWorkers } from '../../src/scheduler/index.ts';
import { createLogger } from '../../src/shared/logger.ts';
import { NO_QUIRKS, signCsr, startSimulator, type RunningSimulator } from '../../src/simulator/index.ts';
import { CSR_SUBJECT, createOrganization } from '../factories/onboarding.ts';
import { createAccount } from '../factories/tenancy.ts';
import { bearer, createTestApi, type TestApi } from '../helpers/api-app.ts';
import { REDIS_URL } from '../helpers/env.ts';
import { TEST_STALL } from '../helpers/recording-bank.ts';

/**
 * An integration whose certificates all expired has no scheduled syncs (`sync_status = certificate_expired`; the
 * daily reconcile removes its schedulers). Installing the renewed certificate sets it back to `ok`: its accounts must
 * get their schedulers back then, not at the next daily reconcile.
 */
const OPS = 'ops@jpm-sync.example';
let api: TestApi;
let sim: RunningSimulator;
let pkiDir: string;
let worker: RunningWorkers;

beforeAll(async () => {
  api = await createTestApi();
  pkiDir = await mkdtemp(join(tmpdir(), 'cert-install-schedules-'));
  sim = await startSimulator({ pkiDir, today: '2025-03-12', seed: 'cert-install', historyDays: 1, quirks: NO_QUIRKS });
  worker = startWorkers(
    {
      queues: api.ctx.queues,
      sync: {
        db: api.ctx.db,
        clientFor: (id) => api.ctx.clientFor(id),
        now: () => new Date(),
        logger: createLogger('sync'),
        lookbackDays: 2,
      },
      logger: createLogger('scheduler'),
    },
    { redisUrl: REDIS_URL, database: { url: api.t.url, poolMax: 3 }, concurrency: 2, stall: TEST_STALL },
  );
});

afterAll(async () => {
  await worker?.close();
  const { redis, prefix } = api.ctx.queues;
  const keys = await redis.keys(`${prefix}:*`);
  if (keys.length > 0) {
    await redis.del(...keys);
  }
  await api?.close();
  await sim?.stop();
  await rm(pkiDir, { recursive: true, force: true });
});

describe('installing a renewed certificate', () => {
  it('restores the schedules of an integration whose certificates had expired', async () => {
    const organizationId = await createOrganization(api.t.db);
    const integration = await createIntegration(api.t.db, {
      organizationId,
      name: 'Acme Renewal',
      environment: 'simulator',
      baseUrl: sim.url,
      serverCaPem: sim.caCertPem,
      actor: OPS,
    });
    const account = await createAccount(api.t.db, { organizationId, integrationId: integration.id });
    // What the expiry watch leaves: no usable certificate, syncs stopped; the daily reconcile removed its schedulers.
    await api.t.db
      .updateTable('integrations')
      .set({ stage: 'live', sync_status: 'certificate_expired', sync_status_reason: 'certificate expired' })
      .where('id', '=', integration.id)
      .execute();
    await reconcileSchedules({ db: api.t.db, queues: api.ctx.queues, logger: createLogger('scheduler') });
    const ids = async () => (await api.ctx.queues.queue('sync').getJobSchedulers(0, -1)).map((s) => s.key).sort();
    expect(await ids()).toEqual([]);

    const kp = await generateCsr(api.t.db, api.ctx.secrets, {
      integrationId: integration.id,
      subject: CSR_SUBJECT,
      actor: OPS,
    });
    const res = await request(api.app)
      .post(`/v1/integrations/${integration.id}/certificates`)
      .set(bearer(api.adminKey))
      .send({ certificatePem: await signCsr(sim.pki, kp.csrPem), chainPem: sim.caCertPem });
    expect(res.status).toBe(201);
    expect(
      await api.t.db
        .selectFrom('integrations')
        .select('sync_status')
        .where('id', '=', integration.id)
        .executeTakeFirstOrThrow(),
    ).toEqual({ sync_status: 'ok' });

    const expected = [scheduleId(account.id, 'intraday'), scheduleId(account.id, 'prior_day')].sort();
    for (let i = 0; i < 100 && (await ids()).length < expected.length; i++) {
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(await ids()).toEqual(expected);
  });
});
