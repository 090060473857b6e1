import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import type { Express } from 'express';
import { Cluster } from 'ioredis';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey } from '../../src/admin-api/api-keys.service.ts';
import { ConfigError, loadConfig, type Config } from '../../src/config/index.ts';
import { JpmClient } from '../../src/jpm/client.ts';
import { buildApiApp } from '../../src/main/api.ts';
import { createContext, type AppContext } from '../../src/main/context.ts';
import {
  createQueues,
  enqueue,
  getRun,
  reconcileSchedules,
  scheduleId,
  startWorkers,
  triggerSync,
  type RunningWorkers,
  type RunView,
} from '../../src/scheduler/index.ts';
import { createIntegrationGuard } from '../../src/scheduler/integration-guard.ts';
import { deterministicUuid } from '../../src/scheduler/runs.ts';
import { createLogger } from '../../src/shared/logger.ts';
import { toMinorUnits } from '../../src/shared/money.ts';
import { keyspace } from '../../src/shared/redis.ts';
import { addDays } from '../../src/shared/time.ts';
import { createClientCredential, startSimulator, type RunningSimulator } from '../../src/simulator/index.ts';
import { bankClientOf } from '../../src/sync/jpm-bank.ts';
import { createAccount, createTenancy, type Tenancy } from '../factories/tenancy.ts';
import { createTestDb, testQueuePrefix, type TestDb } from '../helpers/db.ts';
import { waitForRunIn } from '../helpers/orchestration.ts';
import { recordingBank, TEST_STALL, type BankCall } from '../helpers/recording-bank.ts';
import { startRedisCluster, type PrivateRedisCluster } from './support/redis-cluster.ts';

/**
 * The service on a real 3-master Redis Cluster (started here on loopback ports, no replicas): the API (auth throttle,
 * console sessions) and the producer and workers (queues, flows, job schedulers, the integration guard's rate limit)
 * all connect through REDIS_CLUSTER_NODES, while REDIS_URL names a port nobody listens on, so nothing can fall back to
 * a single Redis. Real syncs run over mTLS against the simulator into a test database, and what lands there must be
 * exactly the bank's data. Then the keyspace is inspected node by node: every key of ours sits in the prefix's one
 * slot on one master (by design: BullMQ's scripts and flows span queues), plain keys spread over all three masters,
 * and the same multi-key commands without the hash tag are refused with CROSSSLOT.
 */
const TODAY = '2025-03-12'; // a Wednesday
// Every node requires it; REDIS_URL carries it URL-escaped (its characters would otherwise end the user info).
const PASSWORD = 'cl/ust:er p@ss%w#rd?';
const GUARD = { capacity: 2, refillPerSecond: 3 };
const log = createLogger('scheduler');

let redisCluster: PrivateRedisCluster;
let t: TestDb;
let pkiDir: string;
let sim: RunningSimulator;
let tenancy: Tenancy;
let accounts: { id: string; jpmAccountId: string; decimalLocation: number }[];
let prefix: string;
let config: Config;
let ctx: AppContext;
let app: Express;
let client: JpmClient;
let calls: BankCall[];
let workers: RunningWorkers;

beforeAll(async () => {
  redisCluster = await startRedisCluster(3, PASSWORD);
  t = await createTestDb();
  pkiDir = await mkdtemp(join(tmpdir(), 'redis-cluster-pki-'));
  sim = await startSimulator({
    pkiDir,
    seed: 'redis-cluster',
    today: TODAY,
    historyDays: 30,
    txPerDay: 6,
    accounts: 3,
    quirks: { latePostings: false },
  });
  const issued = await createClientCredential(sim.pki, { commonName: 'redis-cluster-test' });
  tenancy = await createTenancy(t.db, { baseUrl: sim.url });
  await t.db.updateTable('integrations').set({ stage: 'live' }).where('id', '=', tenancy.integrationId).execute();
  accounts = [];
  for (const a of sim.accounts) {
    const row = await createAccount(t.db, tenancy, {
      jpmAccountId: a.accountId,
      currency: a.currency.code,
      decimalLocation: a.currency.decimalLocation,
    });
    accounts.push({ id: row.id, jpmAccountId: a.accountId, decimalLocation: a.currency.decimalLocation });
  }
  prefix = testQueuePrefix();
  const loaded = loadConfig({
    NODE_ENV: 'test',
    DATABASE_URL: t.url,
    REDIS_URL: `redis://:${encodeURIComponent(PASSWORD)}@127.0.0.1:1`,
    REDIS_CLUSTER_NODES: redisCluster.nodes.join(','),
    QUEUE_PREFIX: prefix,
    AUTH_FAILURES_PER_KEY: '3',
    AUTH_FAILURES_PER_ADDRESS: '1000',
  });
  config = loaded.config;
  ctx = createContext(config, loaded.secrets);
  app = buildApiApp(ctx);
  client = new JpmClient({
    baseUrl: sim.url,
    credentials: () =>
      Promise.resolve({ id: 'cluster-cert', certPem: issued.certPem, keyPem: issued.keyPem, caPem: sim.caCertPem }),
    refusalProbeMs: 500,
  });
  const recorder = recordingBank(bankClientOf(client));
  calls = recorder.calls;
  workers = startWorkers(
    {
      queues: ctx.queues,
      sync: {
        db: t.db,
        clientFor: () => Promise.resolve(recorder.bank),
        now: () => new Date(`${TODAY}T17:00:00Z`),
        logger: createLogger('sync'),
        lookbackDays: 5,
      },
      logger: log,
    },
    {
      redisUrl: config.redis.url,
      redisClusterNodes: config.redis.clusterNodes,
      database: { url: t.url, poolMax: 4 },
      concurrency: 4,
      stall: TEST_STALL,
      busyRetryMs: 200,
      guard: GUARD,
      recoveryIntervalMs: 2_000,
    },
  );
  await within(20_000, 'queue workers ready', Promise.all(workers.workers.map((w) => w.waitUntilReady())));
});

afterAll(async () => {
  // Bounded: a connection that never got through (a broken setup) must not keep the servers running.
  const quietly = (what: string, close: (() => Promise<unknown>) | undefined) =>
    close ? within(15_000, what, close()).catch((err: unknown) => log.warn({ err }, `${what} failed`)) : undefined;
  await quietly('workers', workers && (() => workers.close()));
  await quietly('bank client', client && (() => client.close()));
  await quietly('context', ctx && (() => ctx.close()));
  await quietly('simulator', sim && (() => sim.stop()));
  await quietly('database', t && (() => t.drop()));
  await redisCluster?.stop();
  if (pkiDir) {
    await rm(pkiDir, { recursive: true, force: true });
  }
});

function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: nothing within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

const producer = () => ({
  db: t.db,
  queues: ctx.queues,
  now: () => new Date(`${TODAY}T17:00:00Z`),
  logger: log,
  lookbackDays: 5,
});

function waitForRun(runId: string, timeoutMs = 40_000): Promise<RunView> {
  return waitForRunIn(t.db, runId, timeoutMs);
}

/** Every key under `pattern` on each master, by a direct (non-cluster) connection to it. */
async function keysPerNode(pattern: string): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  for (const [i, node] of redisCluster.direct().entries()) {
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      keys.push(...batch);
    } while (cursor !== '0');
    out.set(redisCluster.nodes[i]!, keys);
  }
  return out;
}

const cluster = () => ctx.queues.redis as Cluster;

let adminToken: string | undefined;
async function adminPost(path: string, body: object) {
  adminToken ??= (
    await createApiKey(ctx.db, { name: 'admin-post', role: 'admin', organizationId: null, createdByKeyId: null })
  ).token;
  return request(app).post(path).set('Authorization', `Bearer ${adminToken}`).send(body);
}

/** Signs in to the console with a new operator key; the session cookie. */
async function signIn(): Promise<string> {
  const key = (await createApiKey(ctx.db, { name: 'op', role: 'operator', organizationId: null, createdByKeyId: null }))
    .token;
  const form = await request(app).get('/console/sign-in');
  const pre = /jpms_console_signin=([^;]+)/.exec(String(form.headers['set-cookie']))![1]!;
  const token = /name="_csrf" value="([^"]+)"/.exec(form.text)![1]!;
  const signedIn = await request(app)
    .post('/console/sign-in')
    .set('Cookie', `jpms_console_signin=${pre}`)
    .type('form')
    .send({ _csrf: token, apiKey: key });
  expect(signedIn.status).toBe(303);
  return `jpms_console=${/jpms_console=([^;]+)/.exec(String(signedIn.headers['set-cookie']))![1]!}`;
}

describe('REDIS_CLUSTER_NODES', () => {
  const problems = (env: Record<string, string>) => {
    try {
      loadConfig({ NODE_ENV: 'test', ...env });
    } catch (err) {
      return err instanceof ConfigError ? err.problems : [String(err)];
    }
    return [];
  };

  it('takes host:port seeds (names, IPv4, [IPv6]) and says what is wrong otherwise', () => {
    expect(problems({ REDIS_CLUSTER_NODES: 'redis-a.internal:6379, 10.0.0.2:7000,[::1]:7001' })).toEqual([]);
    expect(loadConfig({ NODE_ENV: 'test', REDIS_CLUSTER_NODES: 'a:1,b:2' }).config.redis.clusterNodes).toEqual([
      'a:1',
      'b:2',
    ]);
    expect(loadConfig({ NODE_ENV: 'test' }).config.redis.clusterNodes).toEqual([]);
    for (const bad of ['10.0.0.1', 'redis://10.0.0.1:7000', '10.0.0.1:0', '10.0.0.1:70000', '::1:7000']) {
      expect(problems({ REDIS_CLUSTER_NODES: bad }).join('\n'), bad).toMatch(
        /^REDIS_CLUSTER_NODES: (must list seed nodes as host:port, comma-separated|port must be at most 65535)/,
      );
    }
    expect(problems({ REDIS_CLUSTER_NODES: 'a:1', REDIS_URL: 'redis://a:1/2' })).toEqual([
      'REDIS_URL: a Redis Cluster has only database 0; drop the database number from the URL',
    ]);
  });
});

describe('the service on a 3-master Redis Cluster', () => {
  it('connects through the cluster (REDIS_URL names a dead port): producer, API and every worker', async () => {
    expect(ctx.queues.redis).toBeInstanceOf(Cluster);
    expect(
      cluster()
        .nodes('master')
        .map((n) => `${n.options.host}:${n.options.port}`)
        .sort(),
    ).toEqual([...redisCluster.nodes].sort());
    // Every master serves a third of the slots.
    const slots = await cluster().cluster('SLOTS');
    const owners = new Set(slots.map((s) => `${s[2]?.[0]}:${s[2]?.[1]}`));
    expect(owners.size).toBe(3);
    const ready = await request(app).get('/readyz');
    expect(ready.status).toBe(200);
    expect(ready.body).toMatchObject({ checks: { redis: { status: 'ok' } } });
  });

  it("runs backfills through queues, flows and workers; stores exactly the bank's data once; the bank rate limit held", async () => {
    const from = addDays(TODAY, -20);
    const to = addDays(TODAY, -1);
    const started = Date.now();
    const request0 = { mode: 'range' as const, from, to };
    const [first, ...rest] = await Promise.all([
      // The same request twice at once for the first account: the second joins the first run.
      triggerSync(producer(), { accountId: accounts[0]!.id, request: request0, trigger: 'backfill' }),
      triggerSync(producer(), { accountId: accounts[0]!.id, request: request0, trigger: 'backfill' }),
      ...accounts
        .slice(1)
        .map((a) => triggerSync(producer(), { accountId: a.id, request: request0, trigger: 'backfill' })),
    ]);
    const runIds = [first, ...rest].map((r) => r.runs[0]!.runId);
    expect(runIds[1]).toBe(runIds[0]);
    const runs = await Promise.all([...new Set(runIds)].map((id) => waitForRun(id)));
    expect(runs).toHaveLength(3);
    for (const run of runs) {
      expect(run.status).toBe('succeeded');
      // 4 five-day transaction windows and 1 balance window, each run once.
      expect(run.progress).toEqual({ windowsTotal: 5, windowsDone: 5 });
      expect(run.windows!.map((w) => [w.status, w.attempts])).toEqual(Array(5).fill(['succeeded', 1]));
    }
    for (const [i, a] of accounts.entries()) {
      const run = runs.find((r) => r.accountId === a.id)!;
      const truth = sim.groundTruth().accounts.find((x) => x.accountId === a.jpmAccountId)!;
      const expected = truth.transactions.filter((x) => x.asOfDate >= from && x.asOfDate <= to);
      const stored = await t.db
        .selectFrom('transactions')
        .select(['jpm_transaction_id', 'amount_minor', 'direction', 'booking_date'])
        .where('account_id', '=', a.id)
        .execute();
      expect(expected.length, `account ${i}`).toBeGreaterThan(50);
      expect(stored.map((s) => s.jpm_transaction_id).sort()).toEqual(expected.map((x) => x.transactionId).sort());
      const byId = new Map(stored.map((s) => [s.jpm_transaction_id, s]));
      for (const x of expected) {
        const s = byId.get(x.transactionId)!;
        expect([s.booking_date, BigInt(s.amount_minor), s.direction]).toEqual([
          x.asOfDate,
          toMinorUnits(x.amount, a.decimalLocation),
          x.debitCreditCode === 'CREDIT' ? 'credit' : 'debit',
        ]);
      }
      expect(run.counts.inserted).toBe(stored.length);
      const balances = await t.db
        .selectFrom('balances')
        .select(['as_of_date', 'ending_ledger_minor'])
        .where('account_id', '=', a.id)
        .where('kind', '=', 'final')
        .orderBy('as_of_date')
        .execute();
      expect(balances.map((b) => [b.as_of_date, b.ending_ledger_minor])).toEqual(
        truth.balances
          .filter((b) => b.asOfDate >= from && b.asOfDate <= to)
          .map((b) => [b.asOfDate, toMinorUnits(b.endingLedger, a.decimalLocation).toString()]),
      );
    }
    // The bank saw one dated request per window (15), and never more than the token bucket allows in any stretch:
    // `capacity` at once plus `refillPerSecond` per second (two tokens of slack, 0.67 s, for a busy machine's delay
    // between taking a token and sending the request; without the limiter the excess is about 9).
    const dated = calls
      .filter((c) => c.start >= started && c.range !== 'relative')
      .map((c) => c.start)
      .sort((x, y) => x - y);
    expect(dated).toHaveLength(15);
    let worst = 0;
    for (let i = 0; i < dated.length; i++) {
      for (let j = i; j < dated.length; j++) {
        const allowed = GUARD.capacity + (GUARD.refillPerSecond * (dated[j]! - dated[i]!)) / 1000 + 2;
        worst = Math.max(worst, j - i + 1 - allowed);
      }
    }
    expect(worst).toBeLessThanOrEqual(0);
  });

  it('the integration guard limits on the cluster, shared by two connections', async () => {
    const other = createQueues({ redisUrl: config.redis.url, redisClusterNodes: config.redis.clusterNodes, prefix });
    try {
      const settings = {
        capacity: 3,
        refillPerSecond: 0.001,
        failureThreshold: 5,
        cooldownMs: 60_000,
        probeLeaseMs: 1,
      };
      const one = createIntegrationGuard(ctx.queues.redis, prefix, settings);
      const two = createIntegrationGuard(other.redis, prefix, settings);
      const id = 'guard-on-cluster';
      const decisions = [await one.acquire(id), await two.acquire(id), await one.acquire(id), await two.acquire(id)];
      expect(decisions.map((d) => d.allowed)).toEqual([true, true, true, false]);
      expect(decisions[3]).toMatchObject({ reason: 'rate_limited' });
    } finally {
      await other.close();
    }
  });

  it('schedules: reconciled into the cluster, and a tick fired by two schedulers at once starts one run', async () => {
    const second = createQueues({ redisUrl: config.redis.url, redisClusterNodes: config.redis.clusterNodes, prefix });
    try {
      await reconcileSchedules({ db: t.db, queues: ctx.queues, logger: log });
      const ids = async () => (await ctx.queues.queue('sync').getJobSchedulers(0, -1)).map((s) => s.key).sort();
      expect(await ids()).toEqual(
        accounts.flatMap((a) => [scheduleId(a.id, 'intraday'), scheduleId(a.id, 'prior_day')]).sort(),
      );
      expect(await reconcileSchedules({ db: t.db, queues: second, logger: log })).toMatchObject({
        upserted: 0,
        removed: 0,
      });
      // Real ticks must not fire into the rest of the file at whatever time of day it runs.
      for (const id of await ids()) {
        await ctx.queues.queue('sync').removeJobScheduler(id);
      }
      expect(await ids()).toEqual([]);

      const a = accounts[1]!;
      await Promise.all(
        [ctx.queues, second].map((q) =>
          enqueue(q, 'scheduled-sync', { accountId: a.id, mode: 'intraday' }, { jobId: 'tick.cluster' }),
        ),
      );
      const runId = deterministicUuid('scheduled-sync:tick.cluster');
      await expect
        .poll(async () => (await getRun({ db: t.db }, runId).catch(() => undefined))?.status, { timeout: 30_000 })
        .toBe('succeeded');
      const scheduled = await t.db
        .selectFrom('sync_runs')
        .select('id')
        .where('account_id', '=', a.id)
        .where('trigger', '=', 'schedule')
        .where('parent_run_id', 'is', null)
        .execute();
      expect(scheduled.map((r) => r.id)).toEqual([runId]);
    } finally {
      await second.close();
    }
  });

  it("the queue board (bull-board) reads the cluster: both queues, the backfills' finished jobs", async () => {
    const admin = (
      await createApiKey(ctx.db, { name: 'admin', role: 'admin', organizationId: null, createdByKeyId: null })
    ).token;
    const res = await request(app).get('/admin/queues/api/queues').set('Authorization', `Bearer ${admin}`);
    expect(res.status).toBe(200);
    const body = res.body as { queues: { name: string; counts: Record<string, number> }[] };
    expect(body.queues.map((q) => q.name).sort()).toEqual(['maintenance', 'sync']);
    // 3 runs' parents and 15 windows of the backfills, the scheduled tick's run (a parent and its window).
    expect(body.queues.find((q) => q.name === 'sync')?.counts.completed).toBeGreaterThanOrEqual(18);
  });

  it('auth throttle: 429 after 3 failures for a key prefix, counted across two API replicas; the real key passes', async () => {
    const key = (
      await createApiKey(ctx.db, { name: 'viewer', role: 'viewer', organizationId: null, createdByKeyId: null })
    ).token;
    const keyPrefix = key.split('_')[1]!;
    const replica = createContext(ctx.config, ctx.secrets);
    try {
      const apps = [app, buildApiApp(replica)];
      const statuses: number[] = [];
      for (let i = 0; i < 5; i++) {
        const res = await request(apps[i % 2]!)
          .get('/v1/organizations')
          .set('Authorization', `Bearer jpms_${keyPrefix}_${'x'.repeat(39)}${i}`);
        statuses.push(res.status);
      }
      expect(statuses).toEqual([401, 401, 401, 429, 429]);
      expect((await request(apps[1]!).get('/v1/organizations').set('Authorization', `Bearer ${key}`)).status).toBe(200);
    } finally {
      await replica.close();
    }
  });

  it('console session: signing in stores the session in the cluster; the cookie opens the console, signing out ends it', async () => {
    const key = (
      await createApiKey(ctx.db, { name: 'op', role: 'operator', organizationId: null, createdByKeyId: null })
    ).token;
    const form = await request(app).get('/console/sign-in');
    const pre = /jpms_console_signin=([^;]+)/.exec(String(form.headers['set-cookie']))![1]!;
    const token = /name="_csrf" value="([^"]+)"/.exec(form.text)![1]!;
    const signIn = await request(app)
      .post('/console/sign-in')
      .set('Cookie', `jpms_console_signin=${pre}`)
      .type('form')
      .send({ _csrf: token, apiKey: key });
    expect(signIn.status).toBe(303);
    const cookie = `jpms_console=${/jpms_console=([^;]+)/.exec(String(signIn.headers['set-cookie']))![1]!}`;
    const sessions = [...(await keysPerNode(`${prefix}:console:session:*`)).values()].flat();
    expect(sessions).toHaveLength(1);
    const board = await request(app).get('/console/').set('Cookie', cookie);
    expect(board.status).toBe(200);
    const csrf = /name="_csrf" value="([^"]+)"/.exec(board.text)![1]!;
    const out = await request(app).post('/console/sign-out').set('Cookie', cookie).type('form').send({ _csrf: csrf });
    expect(out.status).toBe(303);
    expect([...(await keysPerNode(`${prefix}:console:session:*`)).values()].flat()).toEqual([]);
    expect((await request(app).get('/console/').set('Cookie', cookie)).status).toBe(303);
  });

  it('keys: ours all in the hash tag slot on one master; plain keys spread over all three; untagged multi-key commands fail', async () => {
    const direct = redisCluster.direct();
    const slot = Number(await direct[0]!.cluster('KEYSLOT', prefix));
    const ours = await keysPerNode(`${prefix}*`);
    const holders = [...ours.entries()].filter(([, keys]) => keys.length > 0);
    expect(holders).toHaveLength(1);
    const [holder, keys] = holders[0]!;
    // What the slice above left: BullMQ queues and flows, the guard's bucket, the auth throttle's counters.
    for (const part of [':sync:', ':guard:bucket:', ':auth-fail:key:', ':auth-fail:addr:']) {
      expect(
        keys.some((k) => k.includes(part)),
        part,
      ).toBe(true);
    }
    const slotsOfKeys = new Set(
      await Promise.all(keys.map(async (k) => Number(await direct[0]!.cluster('KEYSLOT', k)))),
    );
    expect([...slotsOfKeys]).toEqual([slot]);
    // A direct connection to another master is redirected: the data really lives on `holder` only.
    const elsewhere = direct[redisCluster.nodes.findIndex((n) => n !== holder)]!;
    await expect(elsewhere.get(keyspace(prefix)('probe'))).rejects.toThrow(/MOVED/);

    // Plain keys through the same connection land on all three masters: the cluster really shards.
    const plain = Array.from({ length: 30 }, (_, i) => `redis-cluster-test:${i}`);
    await Promise.all(plain.map((k) => ctx.queues.redis.set(k, '1')));
    const spread = await keysPerNode('redis-cluster-test:*');
    expect([...spread.values()].map((k) => k.length > 0)).toEqual([true, true, true]);
    await Promise.all(plain.map((k) => ctx.queues.redis.del(k)));

    // The auth throttle's two counters in one script: fine under the tag, refused without it.
    const script = `for i, k in ipairs(KEYS) do redis.call('INCR', k) end return #KEYS`;
    const untagged = ['jpm-sync:auth-fail:addr:192.0.2.1', 'jpm-sync:auth-fail:key:abcdefgh'];
    const [s1, s2] = await Promise.all(untagged.map(async (k) => Number(await direct[0]!.cluster('KEYSLOT', k))));
    expect(s1).not.toBe(s2);
    await expect(ctx.queues.redis.eval(script, 2, ...untagged)).rejects.toThrow(/CROSSSLOT/);
    const key = keyspace(prefix);
    const tagged = [key('auth-fail', 'addr', '192.0.2.1'), key('auth-fail', 'key', 'abcdefgh')];
    expect(await ctx.queues.redis.eval(script, 2, ...tagged)).toBe(2);
    // BullMQ on a prefix without a hash tag cannot even add a job.
    const bare = new Queue('sync', { connection: ctx.queues.redis, prefix: 'jpm-sync-untagged' });
    try {
      await expect(bare.add('x', {})).rejects.toThrow(/CROSSSLOT/);
    } finally {
      await bare.close();
    }
    expect(() => keyspace('jpm-sync')).toThrow(/hash tag/);
  });

  it("the prefix's master restarts empty: the job schedulers come back and a run asked for meanwhile finishes", async () => {
    const maintenance = () => ctx.queues.queue('maintenance').getJobScheduler('daily-maintenance');
    expect(await maintenance()).toBeTruthy();
    const owner = await redisCluster.ownerOf(prefix);
    await redisCluster.kill(owner);
    // Asked for while the master is down: a clean 503; the run is recorded (queued) but its jobs never reached Redis.
    const started = new Date();
    const res = await adminPost(`/v1/accounts/${accounts[2]!.id}/sync-runs`, { mode: 'intraday' });
    expect([res.status, (res.body as { code?: string }).code]).toEqual([503, 'redis_unavailable']);
    await redisCluster.restart(owner);
    // Every BullMQ key went with the master; the Cluster connection never stopped being ready, so only the workers'
    // sweeps (a node back, every 2 s here) notice and put the schedulers and the run's jobs back.
    await expect.poll(maintenance, { timeout: 20_000, interval: 250 }).toBeTruthy();
    const run = await t.db
      .selectFrom('sync_runs')
      .select('id')
      .where('account_id', '=', accounts[2]!.id)
      .where('parent_run_id', 'is', null)
      .where('trigger', '=', 'manual')
      .where('created_at', '>=', started)
      .executeTakeFirstOrThrow();
    expect((await waitForRun(run.id, 30_000)).status).toBe('succeeded');
    // Restored from the database: the accounts' schedules too. Real ticks must not fire into the rest of the file.
    const sync = ctx.queues.queue('sync');
    for (const s of await sync.getJobSchedulers(0, -1)) {
      await sync.removeJobScheduler(s.key);
    }
  });

  it("/readyz asks the prefix's own master: 200 while another master is down but the cluster still ok, 503 once the nodes report the failure", async () => {
    expect((await request(app).get('/readyz')).status).toBe(200);
    const owner = await redisCluster.ownerOf(prefix);
    const other = [0, 1, 2].find((i) => i !== owner)!;
    const third = [0, 1, 2].find((i) => i !== owner && i !== other)!;
    await redisCluster.kill(other);
    // Until the nodes notice (the node timeout, 3 s), the prefix's slot is served: ready, every time (a probe that
    // asked a random node failed whenever it picked the dead one).
    const whileOk: number[] = [];
    while ((await redisCluster.state(owner)) === 'ok') {
      const status = (await request(app).get('/readyz')).status;
      if ((await redisCluster.state(owner)) === 'ok') {
        whileOk.push(status);
      }
    }
    expect(
      whileOk.every((s) => s === 200),
      JSON.stringify(whileOk),
    ).toBe(true);
    // Every node left says the cluster failed: every probe answers 503, not just the unlucky ones.
    await expect
      .poll(() => Promise.all([owner, third].map((i) => redisCluster.state(i))), { timeout: 20_000 })
      .toEqual(['fail', 'fail']);
    expect(await redisCluster.direct()[owner]!.ping()).toBe('PONG');
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) {
      const res = await request(app).get('/readyz');
      statuses.push(res.status);
      expect(res.body).toMatchObject({ status: 'not_ready', checks: { redis: { status: 'unavailable' } } });
    }
    expect(statuses).toEqual([503, 503, 503, 503, 503]);
    // The node back (empty, its slots again): ready again.
    await redisCluster.restart(other);
    await expect
      .poll(async () => (await request(app).get('/readyz')).status, { timeout: 20_000, interval: 250 })
      .toBe(200);
  });

  // Last: it stops the whole cluster.
  it('every node down: an enqueue and a console page fail at once with a clean 503; the run asked for is enqueued again once the cluster is back', async () => {
    const cookie = await signIn();
    expect((await request(app).get('/console/').set('Cookie', cookie)).status).toBe(200);
    for (const i of [0, 1, 2]) {
      await redisCluster.kill(i);
    }
    const started = new Date();
    const timed = async <T>(what: Promise<T>) => {
      const t0 = performance.now();
      const out = await within(10_000, 'a request while Redis is down', what);
      return { out, ms: performance.now() - t0 };
    };
    const enqueueRes = await timed(adminPost(`/v1/accounts/${accounts[1]!.id}/sync-runs`, { mode: 'intraday' }));
    const consoleRes = await timed(Promise.resolve(request(app).get('/console/').set('Cookie', cookie)));
    const queued = await timed(
      enqueue(ctx.queues, 'scheduled-sync', { accountId: accounts[1]!.id, mode: 'intraday' }).then(
        () => 'added',
        (err: unknown) => String(err),
      ),
    );
    // The API answers its JSON problem; the console a page of its own with the same status and words.
    expect((enqueueRes.out.body as { code?: string }).code).toBe('redis_unavailable');
    expect(consoleRes.out.headers['content-type']).toMatch(/^text\/html/);
    expect(consoleRes.out.text).toMatch(/unavailable/i);
    for (const [res, ms] of [
      [enqueueRes.out, enqueueRes.ms],
      [consoleRes.out, consoleRes.ms],
    ] as const) {
      expect([res.status, res.headers['retry-after']]).toEqual([503, '2']);
      expect(res.text).not.toMatch(/\bat .*\.ts:\d+/);
      // Not waiting for Redis (a hang would last until \`within\`'s 10 s): far under it even on a loaded machine.
      expect(ms).toBeLessThan(5_000);
    }
    expect(queued.out).toMatch(/Cluster isn't ready/);
    expect(queued.ms).toBeLessThan(5_000);
    // Back (every node empty): the run the API recorded is enqueued again. Its job may already have run when we look
    // (the workers here took jobs again after this spell in most runs, not in every one: README, "Known limitation"),
    // so it is looked for in every state; before the sweep it is in none (the enqueue above failed).
    await redisCluster.restart(0, 1, 2);
    const run = await t.db
      .selectFrom('sync_runs')
      .select('id')
      .where('account_id', '=', accounts[1]!.id)
      .where('parent_run_id', 'is', null)
      .where('trigger', '=', 'manual')
      .where('created_at', '>=', started)
      .executeTakeFirstOrThrow();
    const sync = ctx.queues.queue('sync');
    await expect
      .poll(
        async () =>
          (
            await sync.getJobs([
              'waiting',
              'waiting-children',
              'prioritized',
              'delayed',
              'active',
              'completed',
              'failed',
            ])
          ).some((j) => j.name === 'sync-account' && (j.data as { runId?: string }).runId === run.id),
        // The workers' sweep runs every 2 s here, but the nodes must first agree the cluster is whole again (node
        // timeout 3 s, more on a loaded machine): a minute, not seconds.
        { timeout: 60_000, interval: 250 },
      )
      .toBe(true);
  });
});
