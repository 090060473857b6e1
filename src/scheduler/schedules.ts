import { createHash } from 'node:crypto';
import type { Logger } from '../shared/logger.ts';
import {
  getAccount,
  listAccountScheduleStates,
  listIntegrationsWithScheduleDrift,
  markSchedulesApplied,
  type AccountScheduleState,
  type SchedulableAccount,
} from '../storage/accounts.repo.ts';
import { lockFullScheduleReconcile, lockScopedScheduleReconcile } from '../storage/advisory-locks.repo.ts';
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
}

/**
 * Makes Redis hold exactly the schedulers the database asks for. Without a scope (scheduler-role
 * startup, daily maintenance) every scheduler on our queues is checked: missing or changed ones are
 * upserted, unknown or stale ids removed. With a scope (an account or integration changed state:
 * created, paused, resumed, removed, failed) only that scope's account schedulers are touched.
 *
 * Reconciles run in several worker slots and processes at once, and a pause's reconcile may still be
 * between its read and its Redis changes when the resume's runs. So each one holds a Postgres advisory
 * lock from before it reads the database until its Redis changes are done: scoped reconciles of one
 * integration (an account's included) take turns, a full one runs alone, and the last to run applies
 * the state as it is then, never one a later change replaced. The lock is transaction-level: it ends
 * with the transaction (only advisory locks and reads, no rows are locked), whatever happens.
 */
export async function reconcileSchedules(
  deps: { db: Database; queues: Queues; logger: Logger },
  scope: ReconcileScope = {},
): Promise<ReconcileResult> {
  const result = await deps.db.transaction().execute(async (trx) => {
    const scoped = scope.accountId !== undefined || scope.integrationId !== undefined;
    if (scoped) {
      const integrationId =
        scope.integrationId ??
        (scope.accountId === undefined ? undefined : (await getAccount(trx, scope.accountId))?.integration_id);
      await lockScopedScheduleReconcile(trx, integrationId);
    } else {
      await lockFullScheduleReconcile(trx);
    }
    const desired = await desiredSchedules(trx, scope);
    const applied = await applyToRedis(deps.queues, desired);
    // What Redis now holds for each account of the scope, recorded under the same lock: the recovery sweep compares
    // it with the accounts' state to find a change whose reconcile request was lost (`reconcileDriftedSchedules`).
    await markSchedulesApplied(trx, desired.accounts);
    return applied;
  });
  deps.logger.info({ ...scope, ...result }, 'job schedulers reconciled');
  return result;
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

/** Integrations reconciled per recovery sweep at most (the rest at the next one). */
const DRIFT_BATCH = 100;

/**
 * Reconciles the integrations with an account whose state is not what its last reconcile applied: a pause, resume,
 * schedule change or stop whose reconcile request was lost (the process died after the change committed, before the
 * request reached Redis), or an account never reconciled. Run by the workers' recovery sweep; returns the
 * integrations reconciled.
 */
export async function reconcileDriftedSchedules(deps: {
  db: Database;
  queues: Queues;
  logger: Logger;
}): Promise<string[]> {
  const drifted = await listIntegrationsWithScheduleDrift(deps.db, DRIFT_BATCH);
  const reconciled: string[] = [];
  for (const integrationId of drifted) {
    try {
      await reconcileSchedules(deps, { integrationId });
      reconciled.push(integrationId);
    } catch (err) {
      // One integration whose reconcile fails must not keep the others from theirs; the next sweep tries it again.
      deps.logger.warn({ err, integrationId }, 'schedule reconcile of a drifted integration failed');
    }
  }
  return reconciled;
}

async function applyToRedis(queues: Queues, { desired, inScope }: DesiredSchedules): Promise<ReconcileResult> {
  const result: ReconcileResult = { upserted: 0, removed: 0, unchanged: 0 };
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
