import pg from 'pg';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.ts';
import { createContext, type AppContext } from '../../src/main/context.ts';
import { buildApiApp } from '../../src/main/api.ts';
import { QUEUE_NAMES, reconcileSchedules, triggerSync, type RunningWorkers } from '../../src/scheduler/index.ts';
import { createLogger } from '../../src/shared/logger.ts';
import { addDays } from '../../src/shared/time.ts';
import { PG_ADMIN_URL } from '../helpers/env.ts';
import { chaos, sleep } from './support/chaos.ts';
import { startChaosEnv, type ChaosEnv } from './support/harness.ts';
import { captureLogs, scanLogs } from './support/logs.ts';
import { startPrivateRedis, type PrivateRedis } from './support/redis-server.ts';
import { waitForAllRuns } from './support/runs.ts';
import { compareWithTruth, duplicateKeys } from './support/truth.ts';

/**
 * Infrastructure faults during a backfill: our own Redis crashes and comes back empty (no
 * persistence), and Postgres backends of the test database are terminated in the middle of their
 * transactions. Meanwhile /readyz tells the truth (503 while Redis is down, 200 after) and run
 * statuses do too; afterwards every run has finished `succeeded` and the data equals the bank's.
 */
const TODAY = '2025-03-12';
const c = chaos('infra');
const logs = captureLogs('info');
let redis: PrivateRedis;
let env: ChaosEnv;
let ctx: AppContext;
let app: ReturnType<typeof buildApiApp>;
let admin: pg.Client;

beforeAll(async () => {
  redis = await startPrivateRedis();
  env = await startChaosEnv({
    name: 'infra',
    today: TODAY,
    accounts: 5,
    historyDays: 32,
    txPerDay: 8,
    redisUrl: redis.url,
  });
  const { config, secrets } = loadConfig({
    NODE_ENV: 'test',
    DATABASE_URL: env.t.url,
    REDIS_URL: redis.url,
    QUEUE_PREFIX: env.prefix,
  });
  ctx = createContext(config, secrets);
  app = buildApiApp(ctx);
  admin = new pg.Client({ connectionString: PG_ADMIN_URL });
  await admin.connect();
});

afterAll(async () => {
  await admin.end();
  await ctx.close();
  await env.stop();
  await redis.stop();
  c.flush();
});

const scopes = (from: string, to: string) =>
  env.accounts.map((a) => ({
    accountId: a.id,
    jpmAccountId: a.jpmAccountId,
    decimalLocation: a.decimalLocation,
    from,
    to,
  }));

async function backfill(from: string, to: string): Promise<string[]> {
  const ids: string[] = [];
  for (const a of env.accounts) {
    const { runs } = await triggerSync(env.producer(), {
      accountId: a.id,
      request: { mode: 'range', from, to },
      trigger: 'backfill',
    });
    ids.push(runs[0]!.runId);
  }
  return ids;
}

async function finishedAll(runIds: string[], timeout: number): Promise<{ id: string; status: string }[]> {
  await waitForAllRuns(env.t.db, c, timeout);
  return env.t.db.selectFrom('sync_runs').select(['id', 'status']).where('id', 'in', runIds).execute();
}

async function schedulerIds(): Promise<string[]> {
  const ids = await Promise.all(
    QUEUE_NAMES.map(async (q) => (await env.queues.queue(q).getJobSchedulers(0, -1)).map((s) => s.key)),
  );
  return ids.flat().sort();
}

/** Real ticks must not fire into the rest of the file at whatever time of day it runs. */
async function removeSchedulers(): Promise<void> {
  for (const q of QUEUE_NAMES) {
    for (const s of await env.queues.queue(q).getJobSchedulers(0, -1)) {
      await env.queues.queue(q).removeJobScheduler(s.key);
    }
  }
}

async function windowsDone(runIds: string[]): Promise<number> {
  const r = await env.t.db.selectFrom('sync_runs').select(['windows_done']).where('id', 'in', runIds).execute();
  return r.reduce((s, x) => s + x.windows_done, 0);
}

describe('infrastructure faults', () => {
  let worker: RunningWorkers;
  beforeAll(() => {
    worker = env.startWorker(env.bank({ pageDelayMs: 120 }));
  });
  afterAll(async () => {
    await worker.close();
  });

  it('Redis crashes mid-run and comes back empty: /readyz says so, and every run still finishes succeeded with exact data', async () => {
    expect((await request(app).get('/readyz')).status).toBe(200);
    // The scheduler role has reconciled the job schedulers (they live in Redis, so the crash takes them too).
    await reconcileSchedules({ db: env.t.db, queues: env.queues, logger: createLogger('scheduler') });
    const schedulers = await schedulerIds();
    expect(schedulers).toContain('daily-maintenance');
    const from = addDays(TODAY, -30);
    const to = addDays(TODAY, -16);
    const runIds = await backfill(from, to);
    await expect
      .poll(() => windowsDone(runIds), { timeout: 60_000, interval: 50 })
      .toBeGreaterThanOrEqual(2 + c.rng.int(0, 2));

    await redis.crash();
    c.count('redisRestarts');
    const down = await request(app).get('/readyz');
    expect(down.status).toBe(503);
    expect(down.body).toMatchObject({
      status: 'not_ready',
      checks: { redis: { status: 'unavailable' }, postgres: { status: 'ok' } },
    });
    // Meanwhile the runs are what they are: not finished, and not claimed done.
    const during = await env.t.db.selectFrom('sync_runs').select(['status']).where('id', 'in', runIds).execute();
    expect(during.every((r) => r.status === 'queued' || r.status === 'running')).toBe(true);
    await sleep(500 + c.rng.int(0, 1_500));

    await redis.start();
    await expect
      .poll(async () => (await request(app).get('/readyz')).status, { timeout: 20_000, interval: 200 })
      .toBe(200);
    const runs = await finishedAll(runIds, 90_000);
    expect(runs.map((r) => r.status)).toEqual(runIds.map(() => 'succeeded'));
    c.count('runsChecked', runs.length);
    // The outage is in the structured log, once per connection (not a line per reconnect attempt on stderr).
    expect(logs.filter((l) => l.includes('queue connection to Redis lost')).length).toBeGreaterThan(0);
    expect(logs.filter((l) => l.includes('queue connection to Redis restored')).length).toBeGreaterThan(0);
    // And the schedules are back, reconciled from the database.
    await expect.poll(schedulerIds, { timeout: 10_000 }).toEqual(schedulers);
    await removeSchedulers();

    const result = await compareWithTruth(env.t.db, env.sim, scopes(from, to));
    c.count('rowsCompared', result.rowsCompared);
    c.count('duplicates', result.duplicates);
    c.count('missing', result.missing);
    c.count('mismatched', result.mismatched);
    expect(result.problems).toEqual([]);
  });

  it('Postgres backends killed in the middle of their transactions: runs retry and finish succeeded with exact data', async () => {
    const from = addDays(TODAY, -15);
    const to = addDays(TODAY, -1);
    const runIds = await backfill(from, to);
    const target = 5 + c.rng.int(0, 2);
    let killed = 0;
    const deadline = Date.now() + 60_000;
    while (killed < target && Date.now() < deadline) {
      // Only backends of this test's own database, and only one caught inside a transaction: a page's
      // transaction lasts milliseconds, so look often and strike at once (one statement).
      const r = await admin.query<{ pid: number }>(
        `select pid from pg_stat_activity where datname = $1 and pid <> pg_backend_pid() and xact_start is not null
           and state in ('active', 'idle in transaction') and query not ilike '%pg_stat_activity%'`,
        [env.t.name],
      );
      if (r.rows.length === 0) {
        await sleep(5);
        continue;
      }
      const victim = r.rows[c.rng.int(0, r.rows.length - 1)]!.pid;
      const done = await admin.query<{ ok: boolean }>('select pg_terminate_backend($1) as ok', [victim]);
      killed += done.rows[0]?.ok ? 1 : 0;
      await sleep(200 + c.rng.int(0, 600));
    }
    expect(killed).toBeGreaterThanOrEqual(target);
    c.count('pgBackendsKilled', killed);

    // Readiness recovers with the pool (dead connections are replaced), and every run finishes.
    await expect.poll(async () => (await request(app).get('/readyz')).status, { timeout: 10_000 }).toBe(200);
    await waitForAllRuns(env.t.db, c, 120_000);
    const runs = await env.t.db
      .selectFrom('sync_runs')
      .select(['id', 'status', 'error_code'])
      .where('id', 'in', runIds)
      .execute();
    expect(runs.map((r) => r.status)).toEqual(runIds.map(() => 'succeeded'));
    c.count('runsChecked', runs.length);

    const result = await compareWithTruth(env.t.db, env.sim, scopes(from, to));
    c.count('rowsCompared', result.rowsCompared);
    c.count('duplicates', result.duplicates + (await duplicateKeys(env.t.db)));
    c.count('missing', result.missing);
    c.count('mismatched', result.mismatched);
    expect(result.problems).toEqual([]);
    expect(await duplicateKeys(env.t.db)).toBe(0);
  });

  it('logged no deadlock and no secret', () => {
    const scan = scanLogs(logs, { accountNumbers: env.accounts.map((a) => a.jpmAccountId) });
    c.count('deadlocks', scan.deadlocks);
    c.count('secretsLeaked', scan.leaks.length);
    expect(scan.leaks).toEqual([]);
    expect(scan.deadlocks).toBe(0);
  });
});
