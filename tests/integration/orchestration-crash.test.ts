import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enqueue, triggerSync, type RunView } from '../../src/scheduler/index.ts';
import { addDays } from '../../src/shared/time.ts';
import { recordingBank, startHarness, type Harness } from '../helpers/orchestration.ts';

/**
 * Crashes and concurrency: a worker process SIGKILLed in the middle of a backfill, and several
 * workers racing triggers on one account. Real Postgres, Redis and the simulator over mTLS; the bank
 * is made slow (a delay per page) so that a window is reliably in flight when the worker dies.
 */
const TODAY = '2025-03-12';

let h: Harness;

beforeAll(async () => {
  h = await startHarness({ today: TODAY, accounts: 2, txPerDay: 12, quirks: { latePostings: false } });
});

afterAll(async () => {
  await h.stop();
});

async function transactionsOf(accountId: string) {
  return h.t.db
    .selectFrom('transactions')
    .select(['jpm_transaction_id', 'amount_minor', 'booking_date'])
    .where('account_id', '=', accountId)
    .execute();
}

describe('a worker killed in the middle of a backfill', () => {
  it('is picked up again after SIGKILL and finishes with nothing duplicated and nothing missing', async () => {
    const a = h.accounts[0]!;
    const from = addDays(TODAY, -60);
    const to = addDays(TODAY, -1);
    const first = await h.spawnWorker({ pageDelayMs: 300 });
    const { runs } = await triggerSync(h.producer(), {
      accountId: a.id,
      request: { mode: 'range', from, to },
      trigger: 'backfill',
    });
    const runId = runs[0]!.runId;

    // Wait until a few windows are done and another one is in flight, then kill the worker outright.
    await expect
      .poll(
        async () => {
          const w = await sql<{ done: number; running: number }>`
        select count(*) filter (where status = 'succeeded')::int as done, count(*) filter (where status = 'running')::int as running
        from sync_runs where parent_run_id = ${runId}`.execute(h.t.db);
          return w.rows[0]!.done >= 3 && w.rows[0]!.running === 1;
        },
        { timeout: 60_000, interval: 25 },
      )
      .toBe(true);
    const killedWindow = (
      await sql<{ id: string }>`select id from sync_runs where parent_run_id = ${runId} and status = 'running'`.execute(
        h.t.db,
      )
    ).rows[0]!.id;
    first.kill('SIGKILL');
    await new Promise((r) => first.once('exit', r));
    const before = await h.t.db
      .selectFrom('sync_runs')
      .select(['status', 'windows_done'])
      .where('id', '=', runId)
      .executeTakeFirstOrThrow();
    expect(before.status).toBe('running');
    expect(before.windows_done).toBeLessThan(14);

    // A new worker: the stalled job is moved back to wait once its lock expires, and runs again.
    const second = await h.spawnWorker();
    const run: RunView = await h.waitForRun(runId);
    second.kill('SIGTERM');
    await new Promise((r) => second.once('exit', r));
    expect(run.status).toBe('succeeded');
    expect(run.progress).toEqual({ windowsTotal: 14, windowsDone: 14 });
    expect(run.windows!.every((w) => w.status === 'succeeded')).toBe(true);
    expect(run.windows!.find((w) => w.runId === killedWindow)!.attempts).toBe(2);

    // Nothing missing, nothing twice: exactly the bank's transactions, each stored once, never rewritten.
    const truth = h.sim.groundTruth().accounts.find((x) => x.accountId === a.jpmAccountId)!;
    const expected = truth.transactions
      .filter((x) => x.asOfDate >= from && x.asOfDate <= to)
      .map((x) => x.transactionId)
      .sort();
    const stored = await transactionsOf(a.id);
    expect(stored.map((s) => s.jpm_transaction_id).sort()).toEqual(expected);
    expect(run.counts.inserted).toBe(stored.length);
    const versions = await sql<{
      n: number;
    }>`select count(*)::int as n from transaction_versions v join transactions t on t.id = v.transaction_id where t.account_id = ${a.id}`.execute(
      h.t.db,
    );
    expect(versions.rows[0]!.n).toBe(0);
    const balances = await h.t.db
      .selectFrom('balances')
      .select(['as_of_date'])
      .where('account_id', '=', a.id)
      .where('kind', '=', 'final')
      .execute();
    expect(balances.map((b) => b.as_of_date).sort()).toEqual(
      truth.balances.filter((b) => b.asOfDate >= from && b.asOfDate <= to).map((b) => b.asOfDate),
    );
  });
});

describe('single flight', () => {
  it('two workers and several triggers never run one account concurrently', async () => {
    const b = h.accounts[1]!;
    const recorded = recordingBank(h.bankWith(), { pageDelayMs: 50 });
    const w1 = h.startWorker(recorded.bank);
    const w2 = h.startWorker(recorded.bank);
    try {
      const p = h.producer();
      const results = await Promise.all([
        triggerSync(p, {
          accountId: b.id,
          request: { mode: 'range', from: addDays(TODAY, -20), to: addDays(TODAY, -1) },
          trigger: 'backfill',
        }),
        triggerSync(p, { accountId: b.id, request: { mode: 'intraday' }, trigger: 'manual' }),
        triggerSync(p, { accountId: b.id, request: { mode: 'prior_day' }, trigger: 'manual' }),
        triggerSync(p, {
          accountId: b.id,
          request: { mode: 'range', from: addDays(TODAY, -40), to: addDays(TODAY, -21) },
          trigger: 'manual',
        }),
      ]);
      // And a schedule tick at the same moment.
      await enqueue(h.queues, 'scheduled-sync', { accountId: b.id, mode: 'intraday' }, { jobId: 'tick.concurrent' });
      for (const r of results) {
        expect((await h.waitForRun(r.runs[0]!.runId)).status).toBe('succeeded');
      }
      await expect
        .poll(
          async () =>
            (
              await h.t.db
                .selectFrom('sync_runs')
                .select(['status'])
                .where('account_id', '=', b.id)
                .where('parent_run_id', 'is', null)
                .where('status', 'in', ['queued', 'running'])
                .execute()
            ).length,
          { timeout: 60_000 },
        )
        .toBe(0);

      // Windows of this account, as each held the account lock: no two overlap in time.
      const windows = await h.t.db
        .selectFrom('sync_runs')
        .select(['id', 'parent_run_id', 'started_at', 'finished_at', 'status'])
        .where('account_id', '=', b.id)
        .where('parent_run_id', 'is not', null)
        .orderBy('started_at')
        .execute();
      // 4 + 1 (range), 1 (intraday), 1 (prior day), 4 + 1 (range), and the tick's intraday unless it joined.
      expect(windows.length).toBeGreaterThanOrEqual(12);
      expect(windows.every((w) => w.status === 'succeeded')).toBe(true);
      for (let i = 1; i < windows.length; i++) {
        expect(windows[i]!.started_at!.getTime()).toBeGreaterThanOrEqual(windows[i - 1]!.finished_at!.getTime());
      }
      // And from the bank's side: never two calls for this account at once.
      expect(recorded.maxInFlight.get(b.jpmAccountId)).toBe(1);
    } finally {
      await w1.close();
      await w2.close();
    }
  });
});

describe('a worker frozen (SIGSTOP) in the middle of a window', () => {
  it('its job goes to another worker, which waits for the account; once resumed it finishes, and nothing is imported twice', async () => {
    const a = h.accounts[1]!;
    const from = addDays(TODAY, -30);
    const to = addDays(TODAY, -1);
    const frozen = await h.spawnWorker({ pageDelayMs: 300 });
    const { runs } = await triggerSync(h.producer(), {
      accountId: a.id,
      request: { mode: 'range', from, to },
      trigger: 'backfill',
    });
    const runId = runs[0]!.runId;
    const running = async () =>
      (
        await sql<{
          id: string;
        }>`select id from sync_runs where parent_run_id = ${runId} and status = 'running'`.execute(h.t.db)
      ).rows.map((r) => r.id);
    await expect.poll(async () => (await running()).length, { timeout: 60_000, interval: 25 }).toBe(1);
    const [window] = await running();
    frozen.kill('SIGSTOP');
    // Another worker: once the frozen one's job lock runs out, the stalled check hands its job over; the account's
    // lock (the frozen process's session is alive) keeps the new worker from running it: it puts the job back.
    const other = h.startWorker(h.bankWith());
    try {
      const windowJob = async () => {
        const jobs = await h.queues.queue('sync').getJobs(['delayed', 'wait', 'active']);
        const job = jobs.find(
          (j) => j.name === 'sync-window' && (j.data as { windowRunId?: string }).windowRunId === window,
        );
        return job === undefined ? undefined : { state: await job.getState(), started: job.attemptsStarted };
      };
      await expect
        .poll(
          async () => {
            const j = await windowJob();
            return j !== undefined && j.started >= 2 && j.state === 'delayed';
          },
          { timeout: 30_000, interval: 50 },
        )
        .toBe(true);
      expect((await running()).length).toBe(1);
      frozen.kill('SIGCONT');
      const run = await h.waitForRun(runId);
      expect(run.status).toBe('succeeded');
      expect(run.windows!.every((w) => w.status === 'succeeded')).toBe(true);
      const truth = h.sim.groundTruth().accounts.find((x) => x.accountId === a.jpmAccountId)!;
      const expected = truth.transactions
        .filter((x) => x.asOfDate >= from && x.asOfDate <= to)
        .map((x) => x.transactionId)
        .sort();
      // The range holds exactly the bank's transactions, each once (the single flight test synced this account too).
      const stored = (await transactionsOf(a.id)).filter(
        (s) => String(s.booking_date) >= from && String(s.booking_date) <= to,
      );
      expect(stored.map((s) => s.jpm_transaction_id).sort()).toEqual(expected);
      const twice = await sql<{ n: number }>`
        select count(*)::int as n from (
          select 1 from transactions where account_id = ${a.id}
          group by post_code, jpm_transaction_id having count(*) > 1) as d`.execute(h.t.db);
      expect(twice.rows[0]!.n).toBe(0);
    } finally {
      frozen.kill('SIGCONT');
      frozen.kill('SIGTERM');
      await new Promise((r) => (frozen.exitCode === null ? frozen.once('exit', r) : r(null)));
      await other.close();
    }
  }, 120_000);
});
