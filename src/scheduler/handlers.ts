import { DelayedError, UnrecoverableError, type Job } from 'bullmq';
import { isSyncStopped, isUnscheduledStage, STOPPED_SYNC_STATUSES } from '../domain/sync-rules.ts';
import type { SyncCounts } from '../domain/types.ts';
import type { Logger } from '../shared/logger.ts';
import { getAccount } from '../storage/accounts.repo.ts';
import { analyzeChangedTables, BULK_WRITTEN_TABLES } from '../storage/analyze.repo.ts';
import type { Database } from '../storage/db.ts';
import { getIntegrationSyncState, setIntegrationSyncStatus } from '../storage/integrations.repo.ts';
import { syncAccountWindow, type SyncDeps } from '../sync/sync-account.ts';
import {
  completeWindow,
  failWindow,
  noteWindowError,
  startWindow,
  windowSkipReason,
  type WindowIds,
} from '../sync/sync-run.ts';
import { recordPermanentFailure } from './failures.ts';
import type { IntegrationGuard } from './integration-guard.ts';
import type { JobName, JobPayload } from './jobs.ts';
import { enqueue, type Queues } from './queues.ts';
import { classifyFailure, integrationBlockMs } from './retry-policy.ts';
import { deterministicUuid, endRun, triggerSync } from './runs.ts';
import { reconcileSchedules } from './schedules.ts';
import type { AccountLock, SingleFlight } from './single-flight.ts';
import { AccountLockLost } from '../sync/write-fence.ts';

/**
 * A job of another subsystem run once a day (overdue onboarding, certificate expiry): idempotent, throws on failure.
 */
export interface MaintenanceHook {
  name: string;
  run(): Promise<void>;
}

/** Everything the handlers need; built by `startWorkers` (scheduler/worker.ts). */
export interface HandlerDeps {
  db: Database;
  queues: Queues;
  sync: SyncDeps;
  guard: IntegrationGuard;
  locks: SingleFlight;
  logger: Logger;
  maintenanceHooks: readonly MaintenanceHook[];
  /** How long a window waits before trying again when its account is busy (plus jitter). */
  busyRetryMs: number;
  /**
   * Fires when the worker starts to stop: a window's bank call in flight is aborted and the window goes back to the
   * queue (no attempt spent, no failure counted), so a stop takes one page's write, not a window's bank calls.
   */
  stopping: AbortSignal;
}

export interface JobContext<N extends JobName> {
  job: Job;
  token: string | undefined;
  payload: JobPayload<N>;
  log: Logger;
}

export type Handler<N extends JobName> = (deps: HandlerDeps, ctx: JobContext<N>) => Promise<unknown>;
export type HandlerTable = { [N in JobName]: Handler<N> };

/** Puts the job back as delayed without spending an attempt (busy account, rate limit, open circuit). */
async function delayJob(ctx: JobContext<JobName>, waitMs: number, reason: string): Promise<never> {
  const until = Date.now() + waitMs;
  ctx.log.debug({ reason, waitMs }, 'job delayed');
  await ctx.job.moveToDelayed(until, ctx.token);
  throw new DelayedError(reason);
}

const windowIds = (p: JobPayload<'sync-window'>): WindowIds => ({
  parentRunId: p.parentRunId,
  windowRunId: p.windowRunId,
});

/** One window of a run: single flight per account, guarded by the integration's limiter and circuit. */
async function syncWindow(deps: HandlerDeps, ctx: JobContext<'sync-window'>): Promise<unknown> {
  const p = ctx.payload;
  // A window already ended (before a crash kept BullMQ from hearing of it), of a run that ended, or of an account
  // that stopped syncing, skips; startWindow asks again once the account's lock is held.
  const skipped = await windowSkipReason(deps.db, windowIds(p));
  if (skipped !== undefined) {
    return windowSkipped(ctx, skipped);
  }
  const lock = await deps.locks.tryAcquire(p.accountId);
  if (!lock) {
    return delayJob(ctx, Math.round(deps.busyRetryMs * (1 + Math.random())), 'account_busy');
  }
  try {
    const decision = await deps.guard.acquire(p.integrationId);
    if (!decision.allowed) {
      return await delayJob(ctx, decision.waitMs + Math.round(Math.random() * 250), decision.reason);
    }
    return await runWindow(deps, ctx, decision.probe, lock);
  } finally {
    await lock.release();
  }
}

function windowSkipped(ctx: JobContext<'sync-window'>, skipped: string): { skipped: string } {
  if (skipped === 'run_missing') {
    ctx.log.warn('sync window has no run rows; nothing to do');
  } else if (skipped.startsWith('account_') || skipped.startsWith('integration_')) {
    ctx.log.info({ reason: skipped }, 'sync run cancelled: the account stopped syncing');
  }
  return { skipped };
}

async function runWindow(
  deps: HandlerDeps,
  ctx: JobContext<'sync-window'>,
  probe: boolean,
  lock: AccountLock,
): Promise<SyncCounts | { skipped: string }> {
  const p = ctx.payload;
  const skipped = await startWindow(deps.db, windowIds(p));
  if (skipped !== undefined) {
    return windowSkipped(ctx, skipped);
  }
  let counts: SyncCounts;
  try {
    counts = await syncAccountWindow(deps.sync, {
      runId: p.windowRunId,
      accountId: p.accountId,
      mode: p.mode,
      kinds: p.kinds,
      ...(p.from === undefined ? {} : { from: p.from }),
      ...(p.to === undefined ? {} : { to: p.to }),
      signal: deps.stopping,
      lock,
    });
  } catch (err) {
    if (deps.stopping.aborted) {
      // What it stored stays (each page committed with its counts); the next worker runs the window from its start
      // and finds those pages unchanged.
      return delayJob(ctx, 0, 'worker_stopping');
    }
    if (err instanceof AccountLockLost) {
      // Not the window's failure: the server ended this lock's session (the process was frozen past its keepalives,
      // or Postgres restarted), and another worker may hold the lock and run this very window now. Nothing is
      // recorded on it; the job goes back at once, no attempt spent (if the job itself went to another worker
      // meanwhile, BullMQ refuses this move and the other copy goes on).
      ctx.log.warn({ accountId: p.accountId }, 'account lock lost while the window ran; window given back');
      return delayJob(ctx, 0, 'account_lock_lost');
    }
    return windowFailed(deps, ctx, err);
  }
  // Not fenced by the account's lock: every write of the window committed while the lock was held (each checked it),
  // so the window did its work, whoever holds the lock now. A worker that took the lock over and runs this window again
  // finds it finished (`startWindow`), or, already started, writes the same days anew and its end is counted once.
  await completeWindow(deps.db, windowIds(p));
  // Bulk work leaves statistics behind (autovacuum is off or outrun): analyze what changed, cheaply.
  // Never fails the window: its data is committed.
  await analyzeChangedTables(deps.db, BULK_WRITTEN_TABLES).then(
    (analyzed) => analyzed.length > 0 && ctx.log.info({ tables: analyzed }, 'tables analyzed after bulk writes'),
    (err: unknown) => ctx.log.warn({ err }, 'analyze after bulk writes failed'),
  );
  if (await deps.guard.recordSuccess(p.integrationId)) {
    await setIntegrationSyncStatus(deps.db, p.integrationId, 'ok', null, ['degraded']);
    ctx.log.info({ integrationId: p.integrationId, probe }, 'bank circuit closed');
  }
  // A stopped integration (a refused certificate, an expired one) whose window the bank answered has been fixed: the
  // person's trigger was the try the stop waits for. It syncs on schedule again, its schedulers restored; without this
  // nothing ever cleared the stop, and the integration stayed off its schedules for good.
  if (await setIntegrationSyncStatus(deps.db, p.integrationId, 'ok', null, [...STOPPED_SYNC_STATUSES])) {
    ctx.log.info({ integrationId: p.integrationId }, 'stopped integration answered by the bank; syncs resumed');
    await enqueue(deps.queues, 'reconcile-schedules', { integrationId: p.integrationId });
  }
  ctx.log.debug({ counts }, 'sync window done');
  return counts;
}

async function windowFailed(deps: HandlerDeps, ctx: JobContext<'sync-window'>, err: unknown): Promise<never> {
  const p = ctx.payload;
  const failure = classifyFailure(err);
  const error = { code: failure.code, message: failure.message };
  if (failure.kind === 'permanent') {
    await failWindow(deps.db, windowIds(p), error);
    const account = await getAccount(deps.db, p.accountId);
    await recordPermanentFailure(
      deps.db,
      ctx.log,
      {
        organizationId: account?.organization_id ?? '',
        integrationId: p.integrationId,
        accountId: p.accountId,
        parentRunId: p.parentRunId,
      },
      failure,
    );
    // Never a retry loop: BullMQ fails the job now, whatever attempts are left.
    throw new UnrecoverableError(`${failure.code}: ${failure.message}`);
  }
  const blockMs = integrationBlockMs(failure, ctx.job);
  if (failure.bank || blockMs !== undefined) {
    const opened = await deps.guard.recordFailure(p.integrationId, {
      countsAsFailure: failure.bank,
      ...(blockMs === undefined ? {} : { retryAfterMs: blockMs }),
    });
    if (opened) {
      await setIntegrationSyncStatus(
        deps.db,
        p.integrationId,
        'degraded',
        `bank calls keep failing (last: ${failure.code}); circuit open`,
        ['ok'],
      );
      ctx.log.warn({ integrationId: p.integrationId, code: failure.code }, 'bank circuit opened');
    }
  }
  const final = ctx.job.attemptsMade + 1 >= (ctx.job.opts.attempts ?? 1);
  if (final) {
    await failWindow(deps.db, windowIds(p), error);
  } else {
    await noteWindowError(deps.db, windowIds(p), error);
  }
  ctx.log.warn({ err, final, retryAfterMs: failure.retryAfterMs, blockMs }, 'sync window failed');
  throw err;
}

/** The parent of a run: runs after every window ended (succeeded or gave up) and records the outcome. */
async function syncAccount(deps: HandlerDeps, ctx: JobContext<'sync-account'>): Promise<unknown> {
  const r = await endRun(deps.db, ctx.log, ctx.payload.runId);
  if (!r) {
    return { skipped: 'run_missing' };
  }
  return { status: r.status };
}

/** A schedule tick: starts the account's run, or joins one still queued for the same mode, unless the account or integration stopped syncing. */
async function scheduledSync(deps: HandlerDeps, ctx: JobContext<'scheduled-sync'>): Promise<unknown> {
  const { accountId, mode } = ctx.payload;
  const account = await getAccount(deps.db, accountId);
  const integration = account ? await getIntegrationSyncState(deps.db, account.integration_id) : undefined;
  const stopped =
    !account ||
    account.status !== 'active' ||
    !integration ||
    isUnscheduledStage(integration.stage) ||
    isSyncStopped(integration.sync_status);
  if (stopped) {
    // The schedule outlived the state that justified it; reconcile removes it.
    ctx.log.info({ accountId, mode }, 'scheduled sync skipped: account not syncing');
    return { skipped: 'not_syncing' };
  }
  const { runs } = await triggerSync(
    {
      db: deps.db,
      queues: deps.queues,
      now: () => deps.sync.now(),
      logger: deps.logger,
      lookbackDays: deps.sync.lookbackDays,
    },
    {
      accountId,
      request: { mode },
      trigger: 'schedule',
      runId: deterministicUuid(`scheduled-sync:${ctx.job.id ?? ''}`),
    },
  );
  return { runs };
}

async function dailyMaintenance(deps: HandlerDeps, ctx: JobContext<'daily-maintenance'>): Promise<unknown> {
  const failed: string[] = [];
  for (const hook of deps.maintenanceHooks) {
    try {
      await hook.run();
    } catch (err) {
      failed.push(hook.name);
      ctx.log.error({ err, hook: hook.name }, 'maintenance hook failed');
    }
  }
  // Safety net under the event-driven reconciles: schedules converge at least once a day.
  await reconcileSchedules(deps);
  if (failed.length > 0) {
    throw new Error(`maintenance hooks failed: ${failed.join(', ')}`);
  }
  return { hooks: deps.maintenanceHooks.length };
}

async function reconcile(deps: HandlerDeps, ctx: JobContext<'reconcile-schedules'>): Promise<unknown> {
  return reconcileSchedules(deps, ctx.payload);
}

/** Exactly one handler per job of the catalog (the type says so; `assertHandlers` checks it at startup). */
export const HANDLERS: HandlerTable = {
  'sync-account': syncAccount,
  'sync-window': syncWindow,
  'scheduled-sync': scheduledSync,
  'daily-maintenance': dailyMaintenance,
  'reconcile-schedules': reconcile,
};
