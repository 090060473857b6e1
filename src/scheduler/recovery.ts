import type { Logger } from '../shared/logger.ts';
import type { RedisConnection } from '../shared/redis.ts';
import type { Database } from '../storage/db.ts';
import { getSyncRun, listUnfinishedParentRunIds, type UnfinishedRunsCursor } from '../storage/sync-runs.repo.ts';
import { failQuietRuns } from '../sync/sync-run.ts';
import { MAINTENANCE_SCHEDULE, reconcileDeferred, reconcileSchedules } from './schedules.ts';
import type { Queues } from './queues.ts';
import { ensureEnqueued } from './runs.ts';

/**
 * Recovery from a Redis that lost its data (a crash without persistence, a failover to a replica
 * that missed the last writes, a flush). The database is the record of truth: a run that is still
 * `queued` or `running` there must have its flow in Redis, or nothing will ever finish it. So each
 * unfinished run whose parent job is missing gets its flow added again (`ensureEnqueued`, idempotent
 * by deterministic job ids); windows already finished skip themselves, the one a worker was in the
 * middle of runs again from the start (idempotent writes), the rest run as usual. A run whose parent job is in Redis
 * but ended without finishing it (failed: its attempts at the final bookkeeping spent while the database was away;
 * completed: that bookkeeping's commit lost) is finalized by the sweep instead (`ensureEnqueued`). Job schedulers
 * live in Redis too: when the daily maintenance scheduler is gone after a reconnect, every
 * scheduler is reconciled from the database. The same sweep fails standalone runs whose process stopped.
 *
 * Workers run it when their Redis connection becomes ready (at start and after every reconnect), when a
 * Redis Cluster connection gains a node connection (a master back after a restart), and every `intervalMs`,
 * one sweep at a time. Every sweep after the first connect also checks that the schedulers are there.
 */
export interface RecoveryDeps {
  db: Database;
  queues: Queues;
  logger: Logger;
}

/** Unfinished runs read (and repaired) per page; a sweep reads page after page until it has seen them all. */
const BATCH = 1_000;

/**
 * Checks every unfinished run tree, a page of BATCH at a time (keyset, so memory stays bounded whatever the
 * backlog), and repairs the ones whose flow is lost or ended. The ids it reports are those repaired, not all checked.
 * `stopped` is asked before each run: once it says so (the worker shutting down) the sweep ends there, and the runs
 * it did not reach are the next sweep's (any worker's), so a shutdown never waits for a backlog to be re-enqueued.
 */
export async function recoverLostRuns(
  deps: RecoveryDeps,
  opts: { stopped?: () => boolean } = {},
): Promise<{ checked: number; requeued: string[]; finalized: string[] }> {
  const stopped = opts.stopped ?? (() => false);
  let checked = 0;
  const requeued: string[] = [];
  const finalized: string[] = [];
  const failed: { runId: string; err: unknown }[] = [];
  let cursor: UnfinishedRunsCursor | undefined;
  do {
    const page = await listUnfinishedParentRunIds(deps.db, BATCH, cursor);
    cursor = page.next;
    checked += await recoverPage(deps, page.ids, { requeued, finalized, failed }, stopped);
  } while (cursor && !stopped());
  report(deps.logger, checked, { requeued, finalized, failed });
  return { checked, requeued, finalized };
}

interface SweepOutcome {
  requeued: string[];
  finalized: string[];
  failed: { runId: string; err: unknown }[];
}

/** Repairs the runs of one page, in order, until `stopped`; returns how many it checked. */
async function recoverPage(
  deps: RecoveryDeps,
  ids: string[],
  out: SweepOutcome,
  stopped: () => boolean,
): Promise<number> {
  const { requeued, finalized, failed } = out;
  let checked = 0;
  for (const runId of ids) {
    if (stopped()) {
      break;
    }
    checked++;
    const run = await getSyncRun(deps.db, runId);
    if (!run || (run.status !== 'queued' && run.status !== 'running')) {
      continue;
    }
    try {
      const outcome = await ensureEnqueued(deps, runId);
      if (outcome === 'enqueued') {
        requeued.push(runId);
      } else if (outcome === 'finalized') {
        finalized.push(runId);
      }
    } catch (err) {
      // One run whose repair fails (its bookkeeping keeps failing) must not keep the sweep from the runs after it.
      failed.push({ runId, err });
    }
  }
  return checked;
}

function report(logger: Logger, checked: number, { requeued, finalized, failed }: SweepOutcome): void {
  if (failed.length > 0) {
    logger.warn(
      { failed: failed.length, runIds: failed.slice(0, 20).map((f) => f.runId), err: failed[0]?.err },
      'unfinished runs could not be recovered; the next sweep tries again',
    );
  }
  if (requeued.length > 0) {
    logger.warn({ requeued: requeued.length, checked }, 'unfinished runs had lost their jobs; enqueued again');
  }
  if (finalized.length > 0) {
    logger.warn(
      { runIds: finalized.slice(0, 100), finalized: finalized.length, checked },
      'unfinished runs whose final job had ended without finishing them; finalized',
    );
  }
}

/** Fails the standalone runs (statement imports, re-fetches) whose process stopped in the middle (sync-run.ts). */
export async function failAbandonedRuns(deps: RecoveryDeps): Promise<number> {
  const failed = await failQuietRuns(deps.db);
  if (failed.length > 0) {
    deps.logger.warn(
      { runs: failed.map((r) => ({ runId: r.id, accountId: r.account_id, lastHeartbeat: r.heartbeat_at })) },
      'standalone runs whose process stopped marked failed (interrupted)',
    );
  }
  return failed.length;
}

/**
 * Reconciles every job scheduler when the maintenance scheduler (always present once reconciled) is gone; otherwise
 * the integrations whose accounts changed state without their reconcile reaching Redis (a request lost in a crash
 * after the change committed, or turned away by the lock of another reconcile). True when every scheduler was
 * reconciled here.
 */
export async function restoreLostSchedules(deps: RecoveryDeps): Promise<boolean> {
  if (await deps.queues.queue('maintenance').getJobScheduler(MAINTENANCE_SCHEDULE.id)) {
    const drifted = await reconcileDeferred(deps);
    if (drifted.length > 0) {
      deps.logger.warn(
        { integrationIds: drifted },
        'accounts whose state changed without their schedules being reconciled; reconciled',
      );
    }
    return false;
  }
  const result = await reconcileSchedules(deps);
  deps.logger.warn(
    { ...result },
    result.deferred
      ? 'job schedulers were missing from Redis; their reconcile is left to the one holding the lock'
      : 'job schedulers were missing from Redis; reconciled',
  );
  return !result.deferred;
}

export interface RecoveryWatch {
  /** Runs a sweep now (or after the one in progress); resolves when it is done. */
  sweep(opts?: { schedules?: boolean }): Promise<void>;
  /** No more sweeps; resolves once the one in progress (if any) has ended. */
  stop(): Promise<void>;
}

export function watchForLostJobs(deps: RecoveryDeps, redis: RedisConnection, intervalMs: number): RecoveryWatch {
  let running: Promise<void> | undefined;
  let again: { schedules: boolean } | undefined;
  let stopped = false;
  let connectedBefore = false;
  const run = async (opts: { schedules: boolean }): Promise<void> => {
    try {
      await recoverLostRuns(deps, { stopped: () => stopped });
      if (stopped) {
        return;
      }
      await failAbandonedRuns(deps);
      if (opts.schedules) {
        await restoreLostSchedules(deps);
      }
    } catch (err) {
      // Redis or Postgres still away: the next ready event or interval tries again.
      deps.logger.warn({ err }, 'lost-job recovery failed');
    }
  };
  const sweep = (opts: { schedules?: boolean } = {}): Promise<void> => {
    const wanted = { schedules: opts.schedules ?? false };
    if (stopped) {
      return Promise.resolve();
    }
    if (running) {
      again = { schedules: (again?.schedules ?? false) || wanted.schedules };
      return running;
    }
    running = (async () => {
      let next: { schedules: boolean } | undefined = wanted;
      while (next && !stopped) {
        again = undefined;
        await run(next);
        next = again;
      }
      running = undefined;
    })();
    return running;
  };
  const onReady = () => {
    // Schedulers are only restored after a reconnect: at first start the scheduler role owns them.
    void sweep({ schedules: connectedBefore });
    connectedBefore = true;
  };
  // A Cluster stays ready while one master restarts (empty): its connection to that node comes back ('+node'), and
  // the runs and schedulers it held are looked for then rather than at the next interval.
  const onNode = () => {
    if (connectedBefore) {
      void sweep({ schedules: true });
    }
  };
  redis.on('ready', onReady);
  redis.on('+node', onNode);
  if (redis.status === 'ready') {
    onReady();
  }
  // Every interval checks the schedulers too (one getJobScheduler call): a Redis Cluster master that restarts without
  // its data loses them while the Cluster connection stays ready. At first start the scheduler role owns them.
  const timer = setInterval(() => void sweep({ schedules: connectedBefore }), intervalMs);
  timer.unref();
  return {
    sweep,
    async stop() {
      stopped = true;
      clearInterval(timer);
      redis.off('ready', onReady);
      redis.off('+node', onNode);
      await running;
    },
  };
}
