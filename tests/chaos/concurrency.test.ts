import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QUEUE_NAMES, enqueue, triggerSync } from '../../src/scheduler/index.ts';
import type { SyncRequest } from '../../src/domain/types.ts';
import { addDays } from '../../src/shared/time.ts';
import { chaos, sleep } from './support/chaos.ts';
import { startChaosEnv, type ChaosChild, type ChaosEnv } from './support/harness.ts';
import { captureLogs, scanLogs } from './support/logs.ts';
import { compareWithTruth, duplicateKeys, unfinishedRuns } from './support/truth.ts';
import { waitForAllRuns } from './support/runs.ts';

/**
 * Concurrency: four worker processes; at the same moment manual triggers (overlapping backfills,
 * intraday, prior-day, the same request twice), schedule ticks from real BullMQ job schedulers firing
 * every few hundred milliseconds, and extra scheduled-sync jobs, all on the same three accounts. No
 * duplicate, no deadlock, no two windows of one account at once, and no run left unfinished. The bank meanwhile
 * answers now and then as it does under load (a 429, a 503, a connection reset, a body that stops halfway), a few
 * times each: every run still ends succeeded after its retries.
 */
const TODAY = '2025-03-12';
const c = chaos('concurrency');
const logs = captureLogs('info');
let env: ChaosEnv;
const children: ChaosChild[] = [];

beforeAll(async () => {
  env = await startChaosEnv({ name: 'concurrency', today: TODAY, accounts: 3, historyDays: 32, txPerDay: 8 });
  children.push(...(await Promise.all([0, 1, 2, 3].map(() => env.spawnWorker({ pageDelayMs: 30, concurrency: 3 })))));
});

afterAll(async () => {
  for (const child of children) {
    child.proc.kill('SIGTERM');
    await child.exited;
  }
  await env.stop();
  c.flush();
});

describe('four workers, scheduled runs and manual triggers on the same accounts', () => {
  it('no duplicate, no deadlock, no overlap per account, nothing stuck', async () => {
    const requests: SyncRequest[] = [
      { mode: 'range', from: addDays(TODAY, -20), to: addDays(TODAY, -1) },
      { mode: 'range', from: addDays(TODAY, -30), to: addDays(TODAY, -11) },
      { mode: 'intraday' },
      { mode: 'prior_day' },
    ];
    // Real job schedulers, firing fast for a few seconds, as the scheduler role's would.
    const sync = env.queues.queue('sync');
    for (const a of env.accounts) {
      await sync.upsertJobScheduler(
        `chaos-tick.${a.id}.intraday`,
        { every: 400 + c.rng.int(0, 400) },
        { name: 'scheduled-sync', data: { accountId: a.id, mode: 'intraday' } },
      );
      await sync.upsertJobScheduler(
        `chaos-tick.${a.id}.prior`,
        { every: 600 + c.rng.int(0, 600) },
        { name: 'scheduled-sync', data: { accountId: a.id, mode: 'prior_day' } },
      );
    }
    // The bank's answers under load, a small budget each (every one a retry, never a failed run).
    env.sim.injectFaults({
      rules: (['rate-limit', 'unavailable', 'reset', 'stalled-body'] as const).map((kind) => ({
        kind,
        probability: 0.05,
        count: 2,
        retryAfterSeconds: 1,
      })),
      seed: `${c.seed}-faults`,
    });
    const calls: Promise<unknown>[] = [];
    for (const a of env.accounts) {
      for (const request of [...requests, ...requests.filter(() => c.rng.chance(0.5))]) {
        calls.push(
          triggerSync(env.producer(), { accountId: a.id, request, trigger: c.rng.chance(0.5) ? 'manual' : 'backfill' }),
        );
      }
      for (let i = 0; i < 3; i++) {
        calls.push(
          enqueue(
            env.queues,
            'scheduled-sync',
            { accountId: a.id, mode: c.rng.pick(['intraday', 'prior_day'] as const) },
            { jobId: `chaos-extra.${a.id}.${i}` },
          ),
        );
      }
    }
    // Fire them in a seeded order, all at once.
    for (let i = calls.length - 1; i > 0; i--) {
      const j = c.rng.int(0, i);
      [calls[i], calls[j]] = [calls[j]!, calls[i]!];
    }
    await Promise.all(calls);
    await sleep(3_000);
    for (const q of QUEUE_NAMES) {
      for (const s of await env.queues.queue(q).getJobSchedulers(0, -1)) {
        await env.queues.queue(q).removeJobScheduler(s.key);
      }
    }

    await waitForAllRuns(env.t.db, c, 120_000);
    // A scheduled tick already taken by a worker may still be creating its run: let the queue drain.
    await expect
      .poll(async () => await sync.getJobCounts('active', 'wait', 'delayed', 'waiting-children'), {
        timeout: 60_000,
        interval: 250,
      })
      .toEqual({ active: 0, wait: 0, delayed: 0, 'waiting-children': 0 });
    expect(await unfinishedRuns(env.t.db)).toEqual([]);

    const runs = await env.t.db
      .selectFrom('sync_runs')
      .select(['id', 'status', 'trigger', 'error_code'])
      .where('parent_run_id', 'is', null)
      .execute();
    c.count('runsChecked', runs.length);
    c.count('faultsInjected', env.sim.stats().faultsInjected);
    console.log(
      `[chaos] concurrency: ${runs.length} runs (${runs.filter((r) => r.trigger === 'schedule').length} scheduled), ${calls.length} triggers, ${env.sim.stats().faultsInjected} bank faults`,
    );
    expect(runs.filter((r) => r.trigger === 'schedule').length).toBeGreaterThan(0);
    expect(runs.filter((r) => r.status !== 'succeeded')).toEqual([]);

    // Single flight: windows of one account never overlap in time. A window's started_at is its first attempt's start
    // and finished_at its last attempt's end, so only a window that ran in one attempt spans one hold of the account's
    // lock (between a retried window's attempts the lock is free and another window may rightly run): no window of the
    // account starts inside such a hold.
    const windows = await env.t.db
      .selectFrom('sync_runs')
      .select(['id', 'account_id', 'started_at', 'finished_at', 'attempts'])
      .where('parent_run_id', 'is not', null)
      .where('started_at', 'is not', null)
      .execute();
    const holds = windows.filter((w) => w.attempts === 1);
    expect(holds.length).toBeGreaterThan(0);
    for (const hold of holds) {
      const inside = windows.filter(
        (w) =>
          w.id !== hold.id &&
          w.account_id === hold.account_id &&
          w.started_at!.getTime() >= hold.started_at!.getTime() &&
          w.started_at!.getTime() < hold.finished_at!.getTime(),
      );
      expect(inside, `windows started while ${hold.id} held the account`).toEqual([]);
    }

    const result = await compareWithTruth(
      env.t.db,
      env.sim,
      env.accounts.map((a) => ({
        accountId: a.id,
        jpmAccountId: a.jpmAccountId,
        decimalLocation: a.decimalLocation,
        from: addDays(TODAY, -30),
        to: addDays(TODAY, -1),
      })),
    );
    const dupKeys = await duplicateKeys(env.t.db);
    c.count('rowsCompared', result.rowsCompared);
    c.count('duplicates', result.duplicates + dupKeys);
    c.count('missing', result.missing);
    c.count('mismatched', result.mismatched);
    expect(result.problems).toEqual([]);
    expect(dupKeys).toBe(0);
    // Today's intraday items: one live row per fingerprint key (checked by duplicateKeys), all pending.
    const today = await env.t.db
      .selectFrom('transactions')
      .select(['status'])
      .where('booking_date', '=', TODAY)
      .execute();
    expect(today.length).toBeGreaterThan(0);
    expect(today.every((r) => r.status === 'pending')).toBe(true);

    // No deadlock: not in any worker's log, not in this process's, and not in Postgres' own count.
    await sleep(600); // statistics are flushed to pg_stat_database about once a second
    const pgDeadlocks = await sql<{
      n: number;
    }>`select deadlocks::int as n from pg_stat_database where datname = ${env.t.name}`.execute(env.t.db);
    const scan = scanLogs([...env.childLogs, ...logs], { accountNumbers: env.accounts.map((a) => a.jpmAccountId) });
    c.count('deadlocks', scan.deadlocks + (pgDeadlocks.rows[0]?.n ?? 0));
    c.count('secretsLeaked', scan.leaks.length);
    expect(scan.deadlocks).toBe(0);
    expect(pgDeadlocks.rows[0]?.n).toBe(0);
    expect(scan.leaks).toEqual([]);
    expect(env.childLogs.length).toBeGreaterThan(0);
  });
});
