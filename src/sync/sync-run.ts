import { isUnscheduledStage } from '../domain/sync-rules.ts';
import type { SyncCounts, SyncMode, SyncRunStatus } from '../domain/types.ts';
import { ConflictError, NotFoundError } from '../shared/errors.ts';
import { uuidv7 } from '../shared/ids.ts';
import type { IsoDate } from '../shared/time.ts';
import { getAccount } from '../storage/accounts.repo.ts';
import { lockAccountTriggers } from '../storage/advisory-locks.repo.ts';
import { inTransaction, type Database, type Executor } from '../storage/db.ts';
import { getIntegrationSyncState } from '../storage/integrations.repo.ts';
import {
  addRunCounts,
  cancelQueuedWindows,
  createSyncRun,
  endUnfinishedWindows,
  endWindowRun,
  failQuietStandaloneRuns,
  findActiveRun,
  findJoinedRun,
  finishRun,
  getSyncRun,
  lockRunAndParent,
  lockRunForUpdate,
  markParentCancelled,
  markParentRunning,
  markRunFailed,
  markRunStarted,
  recordRunJoin,
  setRunError,
  sumWindowRuns,
  touchRunHeartbeat,
  writeParentOutcome,
  writeRunNotes,
  type NewSyncRun,
  type RunError,
  type RunWarning,
  type WindowTotals,
} from '../storage/sync-runs.repo.ts';
import { mergeWarnings } from './business-calendar.ts';

/**
 * The one owner of a sync run (STYLE §21): only this module creates, starts, counts, ends, fails,
 * cancels and finalizes `sync_runs` rows, and it alone decides their statuses. Handlers, validation's
 * re-fetch, statement imports and the admin API call it; storage/sync-runs.repo.ts only runs its queries.
 *
 * Two shapes of run:
 * - a run tree (the scheduler's): a parent row per account and request with one child row per
 *   window. `openRun` → per window `startWindow` (which cancels the run instead when its account stopped
 *   syncing), `countOnRun`/`noteRun` per page, then `completeWindow` or `failWindow`/`noteWindowError` →
 *   `failRun` (permanent error) or `cancelRunTree` (a person) at any time → `finalizeRun` once, by the parent
 *   job after the chain (or by the recovery sweep when that job ended without it);
 * - a standalone run of one range (validation's re-fetch, a statement import): `startStandaloneRun`
 *   → `countOnRun` → `finishStandaloneRun`. No queue job stands behind it, so its owner keeps a heartbeat
 *   while it works, and `failQuietRuns` (the workers' recovery sweep) fails one whose owner stopped.
 */

const FINISHED: readonly string[] = ['succeeded', 'failed', 'cancelled'];

/** The run and window ids a window job carries. */
export interface WindowIds {
  parentRunId: string;
  windowRunId: string;
}

/** What a run tree is made of: the request's dates and one entry per window (scheduler/plan.ts). */
export interface RunTreePlan {
  mode: SyncMode;
  from: IsoDate | null;
  to: IsoDate | null;
  windows: readonly { kinds: readonly ('transactions' | 'balances')[]; shownFrom: IsoDate; shownTo: IsoDate }[];
}

export interface OpenedRun {
  runId: string;
  /**
   * True when an existing run was returned: an unfinished one for the same account and request, or the one a
   * caller-chosen id asked for before (its own or the one it joined then, which may have finished since).
   */
  joined: boolean;
  status: SyncRunStatus;
}

/**
 * Finds or creates the account's run for a request, under the account's trigger lock (one
 * transaction): a caller-chosen id seen before (a re-processed tick) returns that run; otherwise an
 * unfinished run for the same request is joined (for intraday and prior-day only while none of its windows
 * started); otherwise a parent row (queued) is created with one child row per window.
 *
 * A caller-chosen id that joins another run is recorded with it (`sync_run_joins`), so the same id asked again (a
 * tick re-processed after a crash, once the run it joined has started or finished) returns that run, not a second.
 */
export async function openRun(
  db: Executor,
  input: {
    account: { id: string; organization_id: string; integration_id: string };
    trigger: NewSyncRun['trigger'];
    plan: RunTreePlan;
    runId?: string | undefined;
  },
): Promise<OpenedRun> {
  const { account, plan } = input;
  return inTransaction(db, async (trx) => {
    await lockAccountTriggers(trx, account.id);
    // The id asked for before: its own run, or the run it joined then (started or finished since, it is still the
    // answer: a re-processed tick must not open a second run for the same request).
    const own = input.runId
      ? ((await getSyncRun(trx, input.runId)) ?? (await findJoinedRun(trx, input.runId)))
      : undefined;
    const active = own ? undefined : await findActiveRun(trx, account.id, plan.mode, plan.from, plan.to);
    // An intraday or prior-day request joins a run none of whose windows started yet: a started window took its
    // dates from the bank's answer then, and the bank may have closed another day since (a prior-day request after
    // the bank's close would get the day before's data, reported succeeded). A range names its dates: any unfinished
    // run for them does.
    const joinable = active && (plan.mode === 'range' || active.status === 'queued') ? active : undefined;
    const existing = own ?? joinable;
    if (existing) {
      if (input.runId && !own) {
        await recordRunJoin(trx, input.runId, existing.id);
      }
      return { runId: existing.id, joined: true, status: existing.status as SyncRunStatus };
    }
    const runId = input.runId ?? uuidv7();
    const base = {
      organizationId: account.organization_id,
      integrationId: account.integration_id,
      accountId: account.id,
      trigger: input.trigger,
      mode: plan.mode,
    };
    await createSyncRun(trx, {
      ...base,
      id: runId,
      windowFrom: plan.from,
      windowTo: plan.to,
      windowsTotal: plan.windows.length,
    });
    for (const w of plan.windows) {
      await createSyncRun(trx, {
        ...base,
        parentRunId: runId,
        kind: w.kinds.length === 1 ? w.kinds[0] : 'all',
        windowFrom: w.shownFrom,
        windowTo: w.shownTo,
      });
    }
    return { runId, joined: false, status: 'queued' as SyncRunStatus };
  });
}

/**
 * Why a window's job must not run now, or undefined when it may (`stopReason`). Checked before the job waits for the
 * account's lock, so a window of a run that ended or of an account that stopped syncing does not wait at all;
 * `startWindow` checks again once the lock is held.
 */
export async function windowSkipReason(db: Database, ids: WindowIds): Promise<string | undefined> {
  return db.transaction().execute((trx) => stopReason(trx, ids));
}

/**
 * A window's attempt starts, unless it must not (`stopReason`, in the same transaction as the start, so a cancel or a
 * pause that committed while the job waited for the account's lock is seen, and a window that ended is never started
 * again). The window counts the attempt, and the parent turns `running` with its first window. Returns why the window
 * must not run (its job then ends without calling the bank), or undefined when it runs.
 */
export async function startWindow(db: Database, ids: WindowIds): Promise<string | undefined> {
  return db.transaction().execute(async (trx) => {
    const stop = await stopReason(trx, ids);
    if (stop !== undefined) {
      return stop;
    }
    if (!(await markRunStarted(trx, ids.windowRunId))) {
      return 'window_finished';
    }
    await markParentRunning(trx, ids.parentRunId);
    return undefined;
  });
}

/**
 * Why a window must not run, inside the caller's transaction: its rows are missing (`run_missing`); the window already
 * ended, recorded before a crash kept BullMQ from hearing of it (`window_finished`); its run was cancelled or failed,
 * and the window is ended `cancelled` (`run_cancelled`, `run_failed`); or its account or integration stopped syncing
 * since the run was requested (paused, removed, failed): the run is cancelled with that as its error
 * (`account_paused`, `integration_paused`, …), with this window and those not started yet, as a person's cancel would.
 */
async function stopReason(trx: Executor, ids: WindowIds): Promise<string | undefined> {
  // The parent's row first, as cancelRunTree and finalizeRun lock it (then its windows): a cancel that committed
  // before this lock is seen below, and one that comes after waits until this window has started.
  const parent = await lockRunForUpdate(trx, ids.parentRunId);
  const window = await getSyncRun(trx, ids.windowRunId);
  if (!parent || !window) {
    return 'run_missing';
  }
  if (FINISHED.includes(window.status)) {
    return 'window_finished';
  }
  if (parent.status === 'cancelled' || parent.status === 'failed') {
    await endWindowRun(trx, ids.windowRunId, ids.parentRunId, 'cancelled');
    return `run_${parent.status}`;
  }
  const stopped = parent.account_id === null ? undefined : await syncStopped(trx, parent.account_id);
  if (stopped) {
    await markParentCancelled(trx, ids.parentRunId, stopped);
    await endWindowRun(trx, ids.windowRunId, ids.parentRunId, 'cancelled');
    await cancelQueuedWindows(trx, ids.parentRunId);
    return stopped.code;
  }
  return undefined;
}

/**
 * Why an account may not sync any more, by the rule a trigger applies (the account active, its integration in a stage
 * that syncs): a pause, a removal or an entitlement failure after the run was requested stops its windows not
 * started yet. A stopped `sync_status` (certificate failure) does not: a person's trigger is how its fix is tried.
 */
async function syncStopped(ex: Executor, accountId: string): Promise<RunError | undefined> {
  const account = await getAccount(ex, accountId);
  if (!account) {
    return undefined;
  }
  if (account.status !== 'active') {
    const why = account.status_reason ? ` (${account.status_reason})` : '';
    return {
      code: `account_${account.status}`,
      message: `account ${account.status}${why} after the run was requested; windows not started yet were cancelled`,
    };
  }
  const integration = await getIntegrationSyncState(ex, account.integration_id);
  if (integration && isUnscheduledStage(integration.stage)) {
    return {
      code: `integration_${integration.stage}`,
      message: `integration ${integration.stage} after the run was requested; windows not started yet were cancelled`,
    };
  }
  return undefined;
}

/**
 * Ends a window and adds it to its parent's progress in one transaction. Guarded by the window's
 * own status, so a window completed twice (a worker crashed after this commit, before BullMQ heard
 * of it, and the job ran again) is counted once; false when it had ended already.
 */
function endWindow(
  db: Database,
  ids: WindowIds,
  status: 'succeeded' | 'failed' | 'cancelled',
  error?: RunError,
): Promise<boolean> {
  return db.transaction().execute(async (trx) => {
    // The parent's row first, as startWindow, cancelRunTree and finalizeRun take their locks: a window ending while
    // its run is finalized (the window's job stalled out, its worker still running) waits, never deadlocks.
    await lockRunForUpdate(trx, ids.parentRunId);
    return endWindowRun(trx, ids.windowRunId, ids.parentRunId, status, error);
  });
}

export function completeWindow(db: Database, ids: WindowIds): Promise<boolean> {
  return endWindow(db, ids, 'succeeded');
}

/** The window gave up (a permanent error, or its last attempt failed). */
export function failWindow(db: Database, ids: WindowIds, error: RunError): Promise<boolean> {
  return endWindow(db, ids, 'failed', error);
}

/** Records a failure on a window that will be retried (its status stays `running`). */
export async function noteWindowError(db: Database, ids: WindowIds, error: RunError): Promise<void> {
  await db.transaction().execute((trx) => setRunError(trx, ids.windowRunId, error));
}

/** Adds counts to a run, inside the caller's transaction (the page write and its progress commit together). */
export async function countOnRun(ex: Executor, runId: string, counts: Partial<SyncCounts>): Promise<void> {
  await addRunCounts(ex, runId, counts);
}

/** What a window learned about the bank's business days, noted on its run (sync/bank-days.ts). */
export interface RunNotes {
  warnings: RunWarning[];
  bankBusinessDay?: IsoDate;
  window?: { from: IsoDate; to: IsoDate };
}

/** Adds a window's notes to its run and to the run's parent (warnings merged by code, dates united). */
export async function noteRun(db: Database, runId: string, notes: RunNotes): Promise<void> {
  await db.transaction().execute(async (trx) => {
    for (const row of await lockRunAndParent(trx, runId)) {
      await writeRunNotes(trx, row.id, { ...notes, warnings: mergeWarnings(row.warnings, notes.warnings) });
    }
  });
}

/**
 * A permanent error ends the whole run at once: the run is failed and its windows not started yet
 * are cancelled (their jobs find them finished and end without calling the bank). `finished_at` is
 * left to `finalizeRun`, which the parent job runs once the chain has drained. Runs inside the
 * caller's transaction (the failure's marks and outbox event commit with it).
 */
export async function failRun(ex: Executor, parentRunId: string, error: RunError): Promise<boolean> {
  const changed = await markRunFailed(ex, parentRunId, error);
  await cancelQueuedWindows(ex, parentRunId);
  return changed;
}

/**
 * Cancels an unfinished parent run and its windows not started yet (a window already running
 * finishes its current page). NotFoundError for an unknown run or a window's id, ConflictError
 * (`run_finished`) when the run had already ended.
 */
export async function cancelRunTree(db: Executor, runId: string): Promise<void> {
  const row = await getSyncRun(db, runId);
  if (!row || row.parent_run_id !== null) {
    throw new NotFoundError('sync run', runId, 'run_not_found');
  }
  const endedAs = await inTransaction(db, async (trx) => {
    if (!(await markParentCancelled(trx, runId))) {
      // The run ended after it was read above (its end won the race): quote the status it ended with, read again
      // (a new statement sees what committed since), not the one read before.
      return (await getSyncRun(trx, runId))?.status ?? row.status;
    }
    await cancelQueuedWindows(trx, runId);
    return undefined;
  });
  if (endedAs !== undefined) {
    throw new ConflictError(`run ${runId} already ended (${endedAs})`, 'run_finished');
  }
}

/**
 * A parent's final status from its windows: all windows succeeded and no record was rejected →
 * succeeded; some windows, or all but with rejected records (unusable money facts, `sync_rejects`)
 * → partial; none → failed. A run a permanent error already failed, or a person cancelled, keeps
 * that status. (A run without windows counts as all succeeded.)
 */
function parentOutcome(current: string, w: WindowTotals): SyncRunStatus {
  if (current === 'cancelled' || current === 'failed') {
    return current;
  }
  if (w.ok === w.total && w.rejected === 0) {
    return 'succeeded';
  }
  return w.ok > 0 ? 'partial' : 'failed';
}

/**
 * Final bookkeeping of a parent run, idempotent, in one transaction that first locks the parent row
 * (`for update`): windows still unfinished (their job failed outside the handler, e.g. stalled too
 * often) are closed — `cancelled` under a cancelled run, else `failed` with `window_not_finished` —,
 * counts and progress are recomputed from the windows, and the status is decided (`parentOutcome`).
 * The parent's own error wins over a failed window's, which wins over `records_rejected`. The totals
 * are read in their own statement after the lock, and that equals reading them inside the update:
 * closing the unfinished windows row-locks every live one, so a page's counts or a window's end wait
 * for this transaction, and a window's end (`endWindowRun`) cannot commit without the parent's lock;
 * writes to windows already ended were as unordered against the old single statement. `first` is true only
 * for the call that finished the run (so its outcome is counted once).
 */
export async function finalizeRun(
  db: Database,
  parentRunId: string,
): Promise<{ status: string; first: boolean; startedAt: Date | null } | undefined> {
  return db.transaction().execute(async (trx) => {
    const parent = await lockRunForUpdate(trx, parentRunId);
    if (!parent) {
      return undefined;
    }
    if (parent.status === 'cancelled') {
      await endUnfinishedWindows(trx, parentRunId, 'cancelled', null);
    } else {
      await endUnfinishedWindows(trx, parentRunId, 'failed', {
        code: 'window_not_finished',
        message: 'the window job ended without finishing its window',
      });
    }
    const w = await sumWindowRuns(trx, parentRunId);
    const status = parentOutcome(parent.status, w);
    const rejected = w.rejected > 0;
    await writeParentOutcome(trx, parentRunId, {
      status,
      windowsDone: w.done,
      counts: {
        fetched: w.fetched,
        inserted: w.inserted,
        updated: w.updated,
        unchanged: w.unchanged,
        superseded: w.superseded,
        removed: w.removed,
        rejected: w.rejected,
        balances: w.balances,
      },
      errorCode: w.error_code ?? (rejected ? 'records_rejected' : null),
      errorMessage:
        w.error_message ??
        (rejected
          ? `${w.rejected} record(s) rejected (unusable money facts); they are retried on the next sync`
          : null),
    });
    return { status, first: parent.finished_at === null, startedAt: parent.started_at };
  });
}

/** How often the owner of a standalone run says it is alive, and how long a silence means it stopped. */
export const STANDALONE_HEARTBEAT = { everyMs: 30_000, quietAfterSeconds: 300 } as const;

/** The heartbeats this process keeps, per standalone run it is working. */
const heartbeats = new Map<string, NodeJS.Timeout>();

/**
 * Creates a run of one range outside any tree (windows_total as given, 0 by default), starts it and keeps its
 * heartbeat until `finishStandaloneRun` (`heartbeatMs` only for tests). A beat that fails (the database away for a
 * moment) is skipped: the next one catches up, and only minutes of silence fail the run.
 */
export async function startStandaloneRun(
  db: Database,
  run: Omit<NewSyncRun, 'id' | 'parentRunId'>,
  heartbeatMs: number = STANDALONE_HEARTBEAT.everyMs,
): Promise<string> {
  // One transaction: a run left `queued` (a crash after its insert) would read as a run tree to the recovery sweep,
  // which would finalize it from its absent windows as `succeeded`; one left `running` without a heartbeat would
  // never be failed by it. The owner never learns the id of a run whose start did not commit.
  const runId = await db.transaction().execute(async (trx) => {
    const id = await createSyncRun(trx, run);
    await markRunStarted(trx, id);
    await touchRunHeartbeat(trx, id);
    return id;
  });
  const timer = setInterval(() => void touchRunHeartbeat(db, runId).catch(() => undefined), heartbeatMs);
  // The heartbeat alone must not keep a finished CLI alive.
  timer.unref();
  heartbeats.set(runId, timer);
  return runId;
}

/**
 * Ends a standalone run. Counts accumulate over attempts: `inserted`/`updated` are exact (a row is
 * written once), `fetched`/`unchanged` also count re-reads after a retry.
 */
export async function finishStandaloneRun(
  db: Database,
  runId: string,
  status: 'succeeded' | 'partial' | 'failed',
  error?: RunError,
): Promise<void> {
  clearInterval(heartbeats.get(runId));
  heartbeats.delete(runId);
  await finishRun(db, runId, status, error);
}

/**
 * Fails the standalone runs whose owner has been silent for `quietAfterSeconds` (its process died or hung in the
 * middle of an import or a re-fetch): without this they would read `running` for ever. What they stored stays (every
 * write is idempotent); the message tells a person to start it again. Returns the runs failed.
 */
export async function failQuietRuns(
  db: Database,
  quietAfterSeconds: number = STANDALONE_HEARTBEAT.quietAfterSeconds,
): Promise<{ id: string; account_id: string | null; heartbeat_at: Date }[]> {
  return failQuietStandaloneRuns(db, quietAfterSeconds, {
    code: 'interrupted',
    message:
      `the process working this run stopped (no sign of life for ${quietAfterSeconds} s); what it stored is kept: ` +
      'start the import or re-fetch again to complete it',
  });
}
