import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pauseAccount, resumeAccount } from '../../src/accounts/index.ts';
import { triggerSync, type RunningWorkers } from '../../src/scheduler/index.ts';
import { planRun } from '../../src/scheduler/plan.ts';
import { addDays, type IsoDate } from '../../src/shared/time.ts';
import { getAccount } from '../../src/storage/accounts.repo.ts';
import { getSyncRun, listWindowRuns } from '../../src/storage/sync-runs.repo.ts';
import {
  cancelRunTree,
  completeWindow,
  failWindow,
  finalizeRun,
  openRun,
  startWindow,
  windowSkipReason,
} from '../../src/sync/sync-run.ts';
import { createAccount, createTenancy } from '../factories/tenancy.ts';
import { recordingBank, startHarness, type BankCall, type Harness } from '../helpers/orchestration.ts';

/**
 * Pausing an account (or its integration) means no syncs until it is resumed, including a run requested before the
 * pause whose windows had not started yet (queued behind another run on the account's lock, or waiting for the
 * bank's rate limit): such a window does not call the bank, and the run ends `cancelled` saying why. A window is
 * started only while its run, the window itself and the account all still allow it, checked in the transaction that
 * starts it, so a cancel, a pause or the window's own end that commits just before is never run over.
 */
const TODAY = '2025-03-12';
let h: Harness;
let worker: RunningWorkers;
let calls: BankCall[];

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
const transactionsOf = async (accountId: string) =>
  Number(
    (await sql<{ n: string }>`select count(*) as n from transactions where account_id = ${accountId}`.execute(h.t.db))
      .rows[0]!.n,
  );

/**
 * Triggers a range run while another connection holds the account's sync lock (a run of the account in progress),
 * and returns once the run's first window has been turned away by it (its job delayed), with a way to let go.
 */
async function runQueuedBehindLock(accountId: string, from: IsoDate, to: IsoDate) {
  const holder = new pg.Client({ connectionString: h.t.url });
  await holder.connect();
  await holder.query('select pg_advisory_lock(hashtextextended($1, 0))', [`account-sync:${accountId}`]);
  const { runs } = await triggerSync(h.producer(), { accountId, request: range(from, to), trigger: 'manual' });
  const runId = runs[0]!.runId;
  const deadline = Date.now() + 30_000;
  while (
    !(await h.queues.queue('sync').getDelayed()).some((j) => j.name === 'sync-window' && j.data.parentRunId === runId)
  ) {
    if (Date.now() > deadline) {
      throw new Error('the window was never turned away by the account lock');
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    runId,
    async release() {
      await holder.query('select pg_advisory_unlock(hashtextextended($1, 0))', [`account-sync:${accountId}`]);
      await holder.end();
    },
  };
}

describe('a run whose account stops syncing before its windows start', () => {
  it('an account paused while its run was queued: no bank call, nothing stored, the run cancelled as account_paused', async () => {
    const a = h.accounts[0]!;
    const queued = await runQueuedBehindLock(a.id, addDays(TODAY, -4), addDays(TODAY, -2));
    expect((await getSyncRun(h.t.db, queued.runId))!.status).toBe('queued');

    await pauseAccount({ db: h.t.db, queues: h.queues }, (await getAccount(h.t.db, a.id))!);
    try {
      const callsAtPause = calls.length;
      await queued.release();
      const run = await h.waitForRun(queued.runId, 30_000);

      expect(calls.length - callsAtPause).toBe(0);
      expect(await transactionsOf(a.id)).toBe(0);
      expect(run).toMatchObject({
        status: 'cancelled',
        error: { code: 'account_paused' },
        progress: { windowsTotal: 2, windowsDone: 2 },
      });
      expect(run.error!.message).toContain('paused by an operator');
      expect(run.windows!.map((w) => [w.status, w.attempts])).toEqual([
        ['cancelled', 0],
        ['cancelled', 0],
      ]);
    } finally {
      await resumeAccount({ db: h.t.db, queues: h.queues }, (await getAccount(h.t.db, a.id))!);
    }

    // Resumed, the account syncs again.
    const { runs } = await triggerSync(h.producer(), {
      accountId: a.id,
      request: range(addDays(TODAY, -4), addDays(TODAY, -2)),
      trigger: 'manual',
    });
    expect(runs[0]!.runId).not.toBe(queued.runId);
    expect((await h.waitForRun(runs[0]!.runId, 30_000)).status).toBe('succeeded');
    expect(await transactionsOf(a.id)).toBeGreaterThan(0);
  });

  it('an integration paused while a run was queued: the run is cancelled as integration_paused, without a bank call', async () => {
    const a = h.accounts[0]!;
    const queued = await runQueuedBehindLock(a.id, addDays(TODAY, -9), addDays(TODAY, -7));
    await h.t.db
      .updateTable('integrations')
      .set({ stage: 'paused' })
      .where('id', '=', h.tenancy.integrationId)
      .execute();
    try {
      const callsAtPause = calls.length;
      await queued.release();
      const run = await h.waitForRun(queued.runId, 30_000);

      expect(calls.length - callsAtPause).toBe(0);
      expect(run).toMatchObject({ status: 'cancelled', error: { code: 'integration_paused' } });
      expect(run.windows!.map((w) => w.status)).toEqual(['cancelled', 'cancelled']);
    } finally {
      await h.t.db
        .updateTable('integrations')
        .set({ stage: 'live' })
        .where('id', '=', h.tenancy.integrationId)
        .execute();
    }
  });
});

/** A run of two windows (transactions, balances) on an account of its own, and its first window's ids. */
async function openedRun() {
  const tenancy = await createTenancy(h.t.db);
  const a = await createAccount(h.t.db, tenancy);
  const account = { id: a.id, organization_id: tenancy.organizationId, integration_id: tenancy.integrationId };
  const { runId } = await openRun(h.t.db, {
    account,
    trigger: 'manual',
    plan: planRun(range('2025-03-03', '2025-03-05'), TODAY, 5),
  });
  const [first] = await listWindowRuns(h.t.db, runId);
  const ids = { parentRunId: runId, windowRunId: first!.id };
  // The job's check before it waited for the account's lock: the window may run.
  expect(await windowSkipReason(h.t.db, ids)).toBeUndefined();
  return { ids, account: a, tenancy };
}

describe('starting a window, in the transaction that starts it', () => {
  it('a run cancelled after the window was checked: the window does not start', async () => {
    const { ids } = await openedRun();
    await cancelRunTree(h.t.db, ids.parentRunId);

    // The cancel ended the window not started yet.
    expect(await startWindow(h.t.db, ids)).toBe('window_finished');
    expect(await getSyncRun(h.t.db, ids.windowRunId)).toMatchObject({ status: 'cancelled', attempts: 0 });
    expect(await getSyncRun(h.t.db, ids.parentRunId)).toMatchObject({ status: 'cancelled', started_at: null });
  });

  it('an account paused after the window was checked: the window does not start and the run is cancelled as account_paused', async () => {
    const { ids, account } = await openedRun();
    await pauseAccount({ db: h.t.db, queues: h.queues }, (await getAccount(h.t.db, account.id))!, 'month-end freeze');

    const started = await startWindow(h.t.db, ids);
    expect((await listWindowRuns(h.t.db, ids.parentRunId)).map((w) => [w.status, w.attempts])).toEqual([
      ['cancelled', 0],
      ['cancelled', 0],
    ]);
    expect(started).toBe('account_paused');
    const parent = await getSyncRun(h.t.db, ids.parentRunId);
    expect(parent).toMatchObject({ status: 'cancelled', error_code: 'account_paused', windows_done: 2 });
    expect(parent!.error_message).toContain('month-end freeze');
    // The parent job's bookkeeping keeps the reason.
    expect(await finalizeRun(h.t.db, ids.parentRunId)).toMatchObject({ status: 'cancelled' });
    expect(await getSyncRun(h.t.db, ids.parentRunId)).toMatchObject({
      status: 'cancelled',
      error_code: 'account_paused',
    });
  });

  it('an integration paused or cancelled after the window was checked: the window does not start', async () => {
    for (const stage of ['paused', 'cancelled'] as const) {
      const { ids, tenancy } = await openedRun();
      await h.t.db.updateTable('integrations').set({ stage }).where('id', '=', tenancy.integrationId).execute();

      const started = await startWindow(h.t.db, ids);
      expect(await getSyncRun(h.t.db, ids.windowRunId)).toMatchObject({ status: 'cancelled', attempts: 0 });
      expect(await getSyncRun(h.t.db, ids.parentRunId)).toMatchObject({
        status: 'cancelled',
        error_code: `integration_${stage}`,
      });
      expect(started).toBe(`integration_${stage}`);
    }
  });

  it('a window that ended (failed by its last attempt) is not started again, nor counted twice', async () => {
    const { ids } = await openedRun();
    expect(await startWindow(h.t.db, ids)).toBeUndefined();
    await failWindow(h.t.db, ids, { code: 'bank_unavailable', message: 'the last attempt failed' });

    const again = await startWindow(h.t.db, ids);
    expect(await getSyncRun(h.t.db, ids.windowRunId)).toMatchObject({ status: 'failed', attempts: 1 });
    expect(await completeWindow(h.t.db, ids)).toBe(false);
    expect(await getSyncRun(h.t.db, ids.parentRunId)).toMatchObject({ status: 'running', windows_done: 1 });
    expect(again).toBe('window_finished');
  });
});

/** Resolves once another session waits for a lock in the test's database. */
async function someoneWaitsForALock(): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const { rows } = await sql<{ n: string }>`
      select count(*) as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'`.execute(
      h.t.db,
    );
    if (Number(rows[0]?.n) > 0) {
      return;
    }
    if (Date.now() > deadline) {
      throw new Error('nobody ever waited for a lock');
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('a cancel that loses the race with the run end', () => {
  it("answers run_finished quoting the run's final status, not the one it read before the race", async () => {
    const { ids } = await openedRun();
    // The run's end holds its row while the cancel reads the run (still queued) and then waits to update it.
    const ending = new pg.Client({ connectionString: h.t.url });
    await ending.connect();
    try {
      await ending.query('begin');
      await ending.query('select 1 from sync_runs where id = $1 for update', [ids.parentRunId]);
      const cancel = cancelRunTree(h.t.db, ids.parentRunId).then(
        () => undefined,
        (err: unknown) => err,
      );
      await someoneWaitsForALock();
      await ending.query(`update sync_runs set status = 'succeeded', finished_at = now() where id = $1`, [
        ids.parentRunId,
      ]);
      await ending.query('commit');

      const err = await cancel;
      expect(err).toMatchObject({ code: 'run_finished', httpStatus: 409 });
      expect((err as Error).message).toBe(`run ${ids.parentRunId} already ended (succeeded)`);
    } finally {
      await ending.end();
    }
  });
});
