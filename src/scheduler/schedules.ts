import { createHash, randomUUID } from 'node:crypto';
import type { Logger } from '../shared/logger.ts';
import { keyspace } from '../shared/redis.ts';
import {
  getAccount,
  listAccountScheduleStates,
  listIntegrationsWithScheduleDrift,
  markSchedulesApplied,
  type AccountScheduleState,
  type SchedulableAccount,
} from '../storage/accounts.repo.ts';
import {
  lockFullScheduleReconcile,
  lockScopedScheduleReconcile,
  ScheduleReconcileBusy,
} from '../storage/advisory-locks.repo.ts';
import type { Database, Executor } from '../storage/db.ts';
import { JOBS, jobIdOf, parsePayload, type JobName, type QueueName } from './jobs.ts';
import type { Queues } from './queues.ts';

/**
 * Recurring work as BullMQ job schedulers (STYLE §5): they live in Redis, so any number of scheduler
 * and worker processes fire each tick once; nothing runs in-process cron. Per account, in the
 * account's own time zone (cron `tz`), Monday to Friday:
 *
 * - intraday: `intraday_runs_per_day` runs (default 4, at most 10) spread over the business day
 *   08:00–18:00, e.g. 4 runs → 09, 11, 14 and 16 o'clock;
 * - prior-day: 06:00 the next morning (Tuesday to Saturday), after J.P. Morgan closes the day.
 *
 * Each account fires at its own offset, 0–59 min 59 s past the hour, from a hash of its id, so
 * thousands of accounts spread over the hour instead of hitting the bank in the same second; the
 * offset is stable, so reconciling never moves a schedule.
 */
export const BUSINESS_DAY = { openHour: 8, closeHour: 18, priorDayHour: 6 } as const;
export const MAX_INTRADAY_RUNS = BUSINESS_DAY.closeHour - BUSINESS_DAY.openHour;
/** The daily maintenance tick: 03:15 UTC, a quiet hour for the bank and for us. */
export const MAINTENANCE_SCHEDULE = { id: 'daily-maintenance', pattern: '0 15 3 * * *', tz: 'UTC' } as const;

export interface ScheduleSpec {
  id: string;
  queue: QueueName;
  job: JobName;
  pattern: string;
  tz: string;
  data: Record<string, unknown>;
}

/** Seconds past the hour (0..3599) at which an account's schedules fire. */
export function accountOffsetSeconds(accountId: string): number {
  return createHash('sha256').update(accountId).digest().readUInt32BE(0) % 3600;
}

/** The local hours of `runs` intraday syncs, one in the middle of each equal slice of the business day. */
export function intradayHours(runs: number): number[] {
  const n = Math.max(0, Math.min(MAX_INTRADAY_RUNS, Math.floor(runs)));
  const span = BUSINESS_DAY.closeHour - BUSINESS_DAY.openHour;
  return Array.from({ length: n }, (_, i) => BUSINESS_DAY.openHour + Math.floor(((i + 0.5) * span) / n));
}

export function scheduleId(accountId: string, mode: 'intraday' | 'prior_day'): string {
  return jobIdOf('account', accountId, mode);
}

export function accountSchedules(a: SchedulableAccount): ScheduleSpec[] {
  const offset = accountOffsetSeconds(a.id);
  const at = `${offset % 60} ${Math.floor(offset / 60)}`;
  const specs: ScheduleSpec[] = [];
  const hours = intradayHours(a.intraday_runs_per_day);
  if (hours.length > 0) {
    specs.push({
      id: scheduleId(a.id, 'intraday'),
      queue: 'sync',
      job: 'scheduled-sync',
      pattern: `${at} ${hours.join(',')} * * 1-5`,
      tz: a.time_zone,
      data: parsePayload('scheduled-sync', { accountId: a.id, mode: 'intraday' }),
    });
  }
  specs.push({
    id: scheduleId(a.id, 'prior_day'),
    queue: 'sync',
    job: 'scheduled-sync',
    pattern: `${at} ${BUSINESS_DAY.priorDayHour} * * 2-6`,
    tz: a.time_zone,
    data: parsePayload('scheduled-sync', { accountId: a.id, mode: 'prior_day' }),
  });
  return specs;
}

/** Scheduler upserts sent to Redis together by one reconcile. */
const UPSERT_BATCH = 100;

export interface ReconcileScope {
  integrationId?: string;
  accountId?: string;
}

export interface ReconcileResult {
  upserted: number;
  removed: number;
  unchanged: number;
  /**
   * Another reconcile held the lock: nothing was done here, and the holder (or, should it die, the recovery sweep)
   * applies what this one was asked to.
   */
  deferred: boolean;
}

/** What one reconcile changed in Redis. */
type Applied = Omit<ReconcileResult, 'deferred'>;

/**
 * Makes Redis hold exactly the schedulers the database asks for. Without a scope (scheduler-role
 * startup, daily maintenance) every scheduler on our queues is checked: missing or changed ones are
 * upserted, unknown or stale ids removed. With a scope (an account or integration changed state:
 * created, paused, resumed, removed, failed) only that scope's account schedulers are touched.
 *
 * Reconciles run in several worker slots and processes at once, and a pause's reconcile may still be between its
 * read and its Redis changes when the resume's runs. So a reconcile holds a Postgres advisory lock (transaction-level:
 * it ends with the transaction whatever happens; only advisory locks and reads, no rows are locked) from before it
 * reads the database until its Redis changes are done: scoped reconciles of one integration (an account's included)
 * exclude each other, a full one excludes all. Only the holder writes to Redis, and it writes the state it read after
 * taking the lock, so no reconcile ever writes older state after another wrote newer.
 *
 * The lock is waited for briefly only (2 s): a holder may freeze in the middle (Redis slow, the process paused) and
 * the others must not pile up behind it, each holding a pool connection, to fail. One that does not get the lock in
 * time hands its work to the holder and returns `deferred`. A scoped request needs no record: its change committed
 * before it, so the accounts' state now differs from what `schedules_applied` says was applied (that is how the
 * recovery sweep finds drift); a full request sets a flag in Redis, which only a full reconcile that committed clears
 * (and only the requests its read served). A holder, once its transaction committed, drains
 * both (`reconcileDeferred`); it looks after releasing the lock, so a request turned away just before the release is
 * still seen. A holder that dies leaves them to the workers' recovery sweep (every 5 minutes), which drains the same
 * way. The price: while a holder stays frozen, what was left to it waits (late, never lost nor out of order).
 *
 * The lock lasts as long as the holder's database session: a session the server or network ends while its process
 * still writes to Redis is the one way an older write can land after a newer one (the daily full reconcile repairs it).
 *
 * Why not fence instead (let others go on, and refuse a frozen holder's writes by a generation checked in Redis):
 * the schedulers are written by BullMQ's own scripts (`upsertJobScheduler`, `removeJobScheduler`), which cannot be
 * made conditional on a key of ours in the same atomic step; a check before them leaves the gap a freeze falls into.
 */
export async function reconcileSchedules(
  deps: { db: Database; queues: Queues; logger: Logger },
  scope: ReconcileScope = {},
): Promise<ReconcileResult> {
  const result = await reconcileOnce(deps, scope);
  if (!result.deferred) {
    await reconcileDeferred(deps);
  }
  return result;
}

/**
 * The flag a full reconcile sets before it tries the lock; the holder of the lock (or the recovery sweep) runs one
 * for it when it was turned away. Its value is a fresh token per request: a full reconcile reads it once it holds the
 * lock (its read of the database then serves every request up to that token) and removes it only after it committed,
 * and only if no newer request replaced it meanwhile (`CLEAR_IF_SERVED`). A reconcile that fails or dies before then
 * leaves the flag set, so what was left to it is never lost.
 */
const fullWantedKey = (queues: Queues) => keyspace(queues.prefix)('schedules', 'full-reconcile-wanted');
const CLEAR_IF_SERVED = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0`;

/** One reconcile under the lock, if it comes within its short wait (`deferred` otherwise); see `reconcileSchedules`. */
async function reconcileOnce(
  deps: { db: Database; queues: Queues; logger: Logger },
  scope: ReconcileScope,
): Promise<ReconcileResult> {
  const scoped = scope.accountId !== undefined || scope.integrationId !== undefined;
  const redis = deps.queues.redis;
  if (!scoped) {
    // Before trying the lock: a holder that turns this one away finds the flag once it has committed.
    await redis.set(fullWantedKey(deps.queues), randomUUID());
  }
  // The full requests this reconcile's read serves (the flag's token once it holds the lock).
  let served: string | null = null;
  let result: Applied;
  try {
    result = await deps.db.transaction().execute(async (trx) => {
      if (scoped) {
        const integrationId =
          scope.integrationId ??
          (scope.accountId === undefined ? undefined : (await getAccount(trx, scope.accountId))?.integration_id);
        await lockScopedScheduleReconcile(trx, integrationId);
      } else {
        await lockFullScheduleReconcile(trx);
        // Read before the database: every full request made up to here is served by this reconcile's read. The flag
        // stays until this reconcile has committed (a holder that dies meanwhile leaves it to the next).
        served = await redis.get(fullWantedKey(deps.queues));
      }
      const desired = await desiredSchedules(trx, scope);
      const applied = await applyToRedis(deps.queues, desired);
      // What Redis now holds for each account of the scope, recorded under the same lock: the recovery sweep
      // compares it with the accounts' state to find a change whose reconcile request was lost or deferred.
      await markSchedulesApplied(trx, desired.accounts);
      return applied;
    });
  } catch (err) {
    if (!(err instanceof ScheduleReconcileBusy)) {
      throw err;
    }
    deps.logger.info({ ...scope }, 'job scheduler reconcile deferred to the reconcile holding the lock');
    return { upserted: 0, removed: 0, unchanged: 0, deferred: true };
  }
  if (served !== null) {
    // Best effort: a flag left set costs one more full reconcile, never a lost one.
    await redis
      .eval(CLEAR_IF_SERVED, 1, fullWantedKey(deps.queues), served)
      .catch((err: unknown) => deps.logger.warn({ err }, 'full schedule reconcile request left set'));
  }
  deps.logger.info({ ...scope, ...result }, 'job schedulers reconciled');
  return { ...result, deferred: false };
}

interface DesiredSchedules {
  desired: ScheduleSpec[];
  /** Which existing ids are ours to judge: every scheduler (undefined: full run) or those of the scope's accounts. */
  inScope: Set<string> | undefined;
  /** Every account of the scope with the state its schedulers follow. */
  accounts: AccountScheduleState[];
}

async function desiredSchedules(ex: Executor, scope: ReconcileScope): Promise<DesiredSchedules> {
  const scoped = scope.accountId !== undefined || scope.integrationId !== undefined;
  const accounts = await listAccountScheduleStates(ex, scope);
  const desired = accounts.filter((a) => a.schedulable).flatMap(accountSchedules);
  if (!scoped) {
    desired.push({
      id: MAINTENANCE_SCHEDULE.id,
      queue: 'maintenance',
      job: 'daily-maintenance',
      pattern: MAINTENANCE_SCHEDULE.pattern,
      tz: MAINTENANCE_SCHEDULE.tz,
      data: parsePayload('daily-maintenance', {}),
    });
  }
  const inScope = scoped
    ? new Set(accounts.flatMap((a) => [scheduleId(a.id, 'intraday'), scheduleId(a.id, 'prior_day')]))
    : undefined;
  return { desired, inScope, accounts };
}

/** Integrations reconciled per drain pass at most (the rest at the next pass or sweep). */
const DRIFT_BATCH = 100;
/** Passes of a drain: each takes what was deferred (or lost) while the one before ran. */
const DRAIN_PASSES = 3;

/**
 * Runs the reconciles that were deferred to the lock's holder or lost: a full one when its flag is set, then one per
 * integration with an account whose state is not what its last reconcile applied (a pause, resume, schedule change or
 * stop whose request was turned away by the lock, or lost because the process died after the change committed, before
 * the request reached Redis; or an account never reconciled). Run by each reconcile after it committed and by the
 * workers' recovery sweep. Stops at the first reconcile the lock turns away: its holder drains all of it once it has
 * committed (a frozen holder thus costs one wait, not one per integration). Returns the integrations reconciled.
 */
export async function reconcileDeferred(deps: { db: Database; queues: Queues; logger: Logger }): Promise<string[]> {
  const reconciled: string[] = [];
  for (let pass = 0; pass < DRAIN_PASSES; pass++) {
    let progressed = false;
    try {
      if ((await deps.queues.redis.exists(fullWantedKey(deps.queues))) > 0) {
        if ((await reconcileOnce(deps, {})).deferred) {
          // Another holds the lock: it drains everything once it has committed (see reconcileSchedules).
          return reconciled;
        }
        progressed = true;
      }
    } catch (err) {
      // Its flag is set again: the next drain or sweep tries it again.
      deps.logger.warn({ err }, 'deferred full schedule reconcile failed');
    }
    for (const integrationId of await listIntegrationsWithScheduleDrift(deps.db, DRIFT_BATCH)) {
      try {
        if ((await reconcileOnce(deps, { integrationId })).deferred) {
          return reconciled;
        }
        reconciled.push(integrationId);
        progressed = true;
      } catch (err) {
        // One integration whose reconcile fails must not keep the others from theirs; the next sweep tries it again.
        deps.logger.warn({ err, integrationId }, 'schedule reconcile of a drifted integration failed');
      }
    }
    if (!progressed) {
      break;
    }
  }
  return reconciled;
}

async function applyToRedis(queues: Queues, { desired, inScope }: DesiredSchedules): Promise<Applied> {
  const result: Applied = { upserted: 0, removed: 0, unchanged: 0 };
  for (const queueName of ['sync', 'maintenance'] as const) {
    const queue = queues.queue(queueName);
    const want = new Map(desired.filter((d) => d.queue === queueName).map((d) => [d.id, d]));
    const existing = await queue.getJobSchedulers(0, -1);
    const have = new Map(existing.map((s) => [s.key, s]));
    for (const s of existing) {
      if (!want.has(s.key) && (inScope === undefined || inScope.has(s.key))) {
        await queue.removeJobScheduler(s.key);
        result.removed++;
      }
    }
    const changed = [...want.values()].filter((spec) => {
      const cur = have.get(spec.id);
      return !(cur && cur.pattern === spec.pattern && cur.tz === spec.tz && cur.name === spec.job);
    });
    result.unchanged += want.size - changed.length;
    // Many upserts in flight at once: ioredis pipelines them on the one connection, so 10,000
    // accounts cost a few hundred round trips instead of 20,000 (see bench/scheduler.ts).
    for (let i = 0; i < changed.length; i += UPSERT_BATCH) {
      await Promise.all(
        changed
          .slice(i, i + UPSERT_BATCH)
          .map((spec) =>
            queue.upsertJobScheduler(
              spec.id,
              { pattern: spec.pattern, tz: spec.tz },
              { name: spec.job, data: spec.data, opts: templateOptions(spec.job) },
            ),
          ),
      );
      result.upserted += Math.min(UPSERT_BATCH, changed.length - i);
    }
  }
  return result;
}

function templateOptions(job: JobName) {
  const { attempts, backoff, removeOnComplete, removeOnFail } = JOBS[job].options;
  return { attempts, backoff, removeOnComplete, removeOnFail };
}
