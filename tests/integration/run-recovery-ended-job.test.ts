import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getRun, triggerSync, type RunningWorkers } from '../../src/scheduler/index.ts';
import { jobIdOf } from '../../src/scheduler/jobs.ts';
import { recoverLostRuns } from '../../src/scheduler/recovery.ts';
import { createLogger } from '../../src/shared/logger.ts';
import { addDays, type IsoDate } from '../../src/shared/time.ts';
import { getSyncRun } from '../../src/storage/sync-runs.repo.ts';
import { recordingBank, startHarness, type BankCall, type Harness } from '../helpers/orchestration.ts';

/**
 * A run's parent job (`sync-account`) does its final bookkeeping after every window ended. When that job has ended in
 * Redis without the bookkeeping having committed (failed: its 5 attempts spent while the database was away; completed:
 * the commit lost in a database failover), nothing would ever finish the run: it would read `running` for good, and a
 * later range request for its dates would join it and be dropped. The recovery sweep finalizes such a run, and a
 * trigger that would join one finalizes it and opens a run of its own.
 */
const TODAY = '2025-03-12';
let h: Harness;
let worker: RunningWorkers;
let calls: BankCall[];
const logger = createLogger('scheduler');

beforeAll(async () => {
  h = await startHarness({ today: TODAY, accounts: 1, quirks: { latePostings: false } });
  const rec = recordingBank(h.bankWith());
  calls = rec.calls;
  worker = h.startWorker(rec.bank);
});

afterAll(async () => {
  await worker?.close();
  await h?.stop();
});

const range = (from: IsoDate, to: IsoDate) => ({ mode: 'range' as const, from, to });

/**
 * Runs a range sync whose windows store as usual but whose final bookkeeping fails (a trigger stands in for the
 * database being away for as long as the parent job's attempts last; the backoff between them is skipped), until the
 * parent job is `failed`. Then the database is back.
 */
async function runWhoseFinalJobFailed(from: IsoDate, to: IsoDate): Promise<string> {
  await sql`create function fail_run_finalize() returns trigger language plpgsql as $$
    begin
      if new.parent_run_id is null and new.finished_at is not null and old.finished_at is null then
        raise exception 'database unavailable';
      end if;
      return new;
    end $$`.execute(h.t.db);
  await sql`create trigger fail_run_finalize before update on sync_runs
    for each row execute function fail_run_finalize()`.execute(h.t.db);
  try {
    const { runs } = await triggerSync(h.producer(), {
      accountId: h.accounts[0]!.id,
      request: range(from, to),
      trigger: 'manual',
    });
    const runId = runs[0]!.runId;
    const deadline = Date.now() + 60_000;
    for (;;) {
      const job = await h.queues.queue('sync').getJob(jobIdOf('sync-account', runId));
      const state = job ? await job.getState() : 'missing';
      if (state === 'failed') {
        break;
      }
      if (Date.now() > deadline) {
        throw new Error(`the run's parent job is still ${state}`);
      }
      if (state === 'delayed') {
        await job!.promote();
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    return runId;
  } finally {
    await sql`drop trigger fail_run_finalize on sync_runs`.execute(h.t.db);
    await sql`drop function fail_run_finalize()`.execute(h.t.db);
  }
}

describe('a run whose parent job ended without finishing it', () => {
  it('is finished by the recovery sweep with the outcome of its windows', async () => {
    const runId = await runWhoseFinalJobFailed(addDays(TODAY, -9), addDays(TODAY, -7));
    const stuck = await getRun({ db: h.t.db }, runId, { windows: true });
    expect(stuck).toMatchObject({ status: 'running', finishedAt: null });
    expect(stuck.windows!.map((w) => w.status)).toEqual(['succeeded', 'succeeded']);

    const swept = await recoverLostRuns({ db: h.t.db, queues: h.queues, logger });

    const run = await getRun({ db: h.t.db }, runId);
    expect(run).toMatchObject({ status: 'succeeded', progress: { windowsTotal: 2, windowsDone: 2 }, error: null });
    expect(run.finishedAt).toBeInstanceOf(Date);
    expect(run.counts.inserted).toBeGreaterThan(0);
    expect(swept).toMatchObject({ requeued: [], finalized: [runId] });
    // Finished: the next sweep has nothing to do.
    expect(await recoverLostRuns({ db: h.t.db, queues: h.queues, logger })).toMatchObject({
      requeued: [],
      finalized: [],
    });
  });

  it('is not joined by a later range request for its dates: that request gets a run of its own, which runs', async () => {
    const [from, to] = [addDays(TODAY, -4), addDays(TODAY, -2)];
    const deadRunId = await runWhoseFinalJobFailed(from, to);
    const callsBefore = calls.length;

    const again = await triggerSync(h.producer(), {
      accountId: h.accounts[0]!.id,
      request: range(from, to),
      trigger: 'manual',
    });

    expect(again.runs[0]).toMatchObject({ joined: false, status: 'queued' });
    expect(again.runs[0]!.runId).not.toBe(deadRunId);
    expect(await getRun({ db: h.t.db }, deadRunId)).toMatchObject({ status: 'succeeded' });
    const run = await h.waitForRun(again.runs[0]!.runId, 30_000);
    expect(run.status).toBe('succeeded');
    expect(run.windows!.map((w) => w.status)).toEqual(['succeeded', 'succeeded']);
    expect(calls.slice(callsBefore).some((c) => c.what === 'transactions')).toBe(true);
  });

  it('is finalized when its parent job completed but the bookkeeping it committed was lost; a finished run is left alone', async () => {
    const { runs } = await triggerSync(h.producer(), {
      accountId: h.accounts[0]!.id,
      request: range(addDays(TODAY, -14), addDays(TODAY, -12)),
      trigger: 'manual',
    });
    const runId = runs[0]!.runId;
    const done = await h.waitForRun(runId, 30_000);
    expect(done.status).toBe('succeeded');
    expect(await (await h.queues.queue('sync').getJob(jobIdOf('sync-account', runId)))!.getState()).toBe('completed');
    // What a failover to a standby that had not received the final commit leaves: windows ended, the run not.
    await sql`update sync_runs set status = 'running', finished_at = null where id = ${runId}`.execute(h.t.db);

    const swept = await recoverLostRuns({ db: h.t.db, queues: h.queues, logger });

    const run = await getSyncRun(h.t.db, runId);
    expect(run).toMatchObject({ status: 'succeeded', windows_done: 2, inserted: done.counts.inserted });
    expect(run!.finished_at).toBeInstanceOf(Date);
    expect(swept).toMatchObject({ requeued: [], finalized: [runId] });
    // A second sweep sees no unfinished run, and the run is not rewritten.
    expect(await recoverLostRuns({ db: h.t.db, queues: h.queues, logger })).toMatchObject({ finalized: [] });
    expect((await getSyncRun(h.t.db, runId))!.finished_at).toEqual(run!.finished_at);
  });
});
