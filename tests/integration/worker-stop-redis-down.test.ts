import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createQueues, QUEUE_NAMES, startWorkers, triggerSync } from '../../src/scheduler/index.ts';
import { createLogger } from '../../src/shared/logger.ts';
import { addDays } from '../../src/shared/time.ts';
import { cutProxy, type CutProxy } from '../helpers/cut-proxy.ts';
import { REDIS_URL } from '../helpers/env.ts';
import { freePort } from '../helpers/free-port.ts';
import { captureLogLines } from '../helpers/log-capture.ts';
import { startHarness, type Harness } from '../helpers/orchestration.ts';
import { TEST_STALL } from '../helpers/recording-bank.ts';
import { spawnService } from '../helpers/start-service.ts';

/**
 * A worker told to stop while Redis is away (a deploy during a Redis outage): BullMQ's workers would wait for their
 * connection forever, so the stop would run out its whole timeout. Once Redis is known down, the worker gives up on
 * it, lets its jobs' database work settle, and stops promptly; the jobs it held stay active in Redis and, once Redis
 * is back, stall and run again, on another worker, exactly: nothing lost, nothing twice.
 */
const TODAY = '2025-03-12'; // a Wednesday

let h: Harness;
let redis: CutProxy;

beforeAll(async () => {
  h = await startHarness({ today: TODAY, accounts: 1, latencyMs: 1_500, quirks: { latePostings: false } });
  redis = await cutProxy(REDIS_URL);
});

afterAll(async () => {
  await redis.close();
  await h.stop();
});

describe('a worker stopping while Redis is down', () => {
  it('stops within seconds; its windows in flight run again once Redis is back, and the run ends exactly', async () => {
    const a = h.accounts[0]!;
    const from = addDays(TODAY, -20);
    const to = addDays(TODAY, -1);
    // The worker reaches Redis through the proxy; the test's own queues do not.
    const queues = createQueues({ redisUrl: redis.url, prefix: h.prefix });
    const first = startWorkers(
      { queues, sync: h.syncDeps(h.bankWith()), logger: createLogger('scheduler') },
      {
        redisUrl: redis.url,
        database: { url: h.t.url, poolMax: 4 },
        concurrency: 4,
        stall: TEST_STALL,
        busyRetryMs: 200,
      },
    );
    const { runs } = await triggerSync(h.producer(), {
      accountId: a.id,
      request: { mode: 'range', from, to },
      trigger: 'backfill',
    });
    const sync = h.queues.queue('sync');
    const inFlight = async () =>
      (await sync.getJobs(['active'])).filter((j) => j.name === 'sync-window').map((j) => j.id!);
    // A window holds a bank call (the bank answers 1.5 s after each call), after at least one stored page.
    await expect
      .poll(async () => (await h.t.db.selectFrom('transactions').select('id').execute()).length, {
        timeout: 30_000,
        interval: 50,
      })
      .toBeGreaterThan(0);
    await expect.poll(inFlight, { timeout: 30_000, interval: 50 }).not.toEqual([]);

    await redis.cut();
    const started = Date.now();
    const stopped = await Promise.race([
      first.close().then(() => 'stopped'),
      new Promise((r) => setTimeout(() => r('still stopping'), 15_000)),
    ]);
    expect(stopped).toBe('stopped');
    expect(Date.now() - started).toBeLessThan(10_000);
    await queues.close();

    await redis.restore();
    const second = h.startWorker(h.bankWith());
    try {
      const run = await h.waitForRun(runs[0]!.runId);
      const truth = h.sim.groundTruth().accounts.find((x) => x.accountId === a.jpmAccountId)!;
      const expected = truth.transactions
        .filter((x) => x.asOfDate >= from && x.asOfDate <= to)
        .map((x) => x.transactionId)
        .sort();
      const stored = (
        await h.t.db.selectFrom('transactions').select('jpm_transaction_id').where('account_id', '=', a.id).execute()
      )
        .map((s) => s.jpm_transaction_id)
        .sort();
      expect(expected.length).toBeGreaterThan(20);
      // One comparison, so that a failure shows the whole outcome.
      expect({
        status: run.status,
        error: run.error,
        windows: run.windows!.map((w) => w.status),
        progress: run.progress,
        inserted: run.counts.inserted,
        missing: expected.filter((id) => !stored.includes(id)),
        extra: stored.filter((id, i) => !expected.includes(id) || stored[i - 1] === id),
      }).toEqual({
        status: 'succeeded',
        error: null,
        windows: run.windows!.map(() => 'succeeded'),
        progress: { windowsDone: run.progress.windowsTotal, windowsTotal: run.progress.windowsTotal },
        inserted: expected.length,
        missing: [],
        extra: [],
      });
    } finally {
      await second.close();
    }
  });

  it('`npm start` (every role) told to stop with Redis down exits 0 at once, not at SHUTDOWN_TIMEOUT_MS', async () => {
    const proxy = await cutProxy(REDIS_URL);
    try {
      const svc = spawnService(h.t.url, {
        REDIS_URL: proxy.url,
        PORT: String(await freePort()),
        SHUTDOWN_TIMEOUT_MS: '12000',
      });
      await expect.poll(() => svc.output, { timeout: 30_000, interval: 50 }).toContain('jpm-sync started');
      await proxy.cut();
      await expect
        .poll(() => svc.output, { timeout: 10_000, interval: 50 })
        .toContain('queue worker lost its connection to Redis');
      const started = Date.now();
      svc.proc.kill('SIGTERM');
      const code = await svc.exited;
      // Well inside the 12 s the stop may take; without Redis BullMQ's workers would hold it until then (exit 1).
      expect({ code, quick: Date.now() - started < 5_000 }, svc.output).toEqual({ code: 0, quick: true });
      expect(svc.output).toContain('Redis is unreachable: stopping the queue workers without it');
      expect(svc.output).toContain('shutdown complete');
      expect(svc.output).not.toContain('shutdown timed out');
    } finally {
      await proxy.close();
    }
  });
});

describe('a worker while Redis restarts', () => {
  it('logs the outage once per queue as it begins and once as it ends, not each reconnect attempt', async () => {
    const lines = captureLogLines('info');
    const proxy = await cutProxy(REDIS_URL);
    const queues = createQueues({ redisUrl: proxy.url, prefix: h.prefix });
    const worker = startWorkers(
      { queues, sync: h.syncDeps(h.bankWith()), logger: createLogger('scheduler') },
      { redisUrl: proxy.url, database: { url: h.t.url, poolMax: 2 }, concurrency: 1 },
    );
    try {
      await Promise.all(worker.workers.map((w) => w.waitUntilReady()));
      await proxy.cut();
      // Several reconnect attempts of every connection (200 ms, 400 ms, … apart).
      await new Promise((r) => setTimeout(r, 4_000));
      await proxy.restore();
      const messages = () => lines.map((l) => (JSON.parse(l) as { msg: string; queue?: string }).msg);
      await expect
        .poll(() => messages().filter((m) => m === 'queue worker connection to Redis restored').length, {
          timeout: 20_000,
          interval: 100,
        })
        .toBe(QUEUE_NAMES.length);
      const of = (msg: string) =>
        lines
          .map((l) => JSON.parse(l) as { msg: string; queue?: string })
          .filter((l) => l.msg === msg)
          .map((l) => l.queue)
          .sort();
      expect(of('queue worker lost its connection to Redis')).toEqual([...QUEUE_NAMES].sort());
      expect(of('queue worker error')).toEqual([]);
    } finally {
      await worker.close();
      await queues.close();
      await proxy.close();
    }
  });
});
