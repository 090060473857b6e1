import type { JobsOptions } from 'bullmq';
import { z } from 'zod';
import { SYNC_MODES } from '../domain/types.ts';
import { ValidationError } from '../shared/errors.ts';
import { ISO_DATE_EXPECTED, isIsoDate } from '../shared/time.ts';

/**
 * THE job catalog (STYLE §3). Every job the service runs is declared here once: its queue, the zod
 * schema of its payload (checked when it is enqueued and again when a worker receives it), its
 * default options (attempts, exponential backoff with jitter, how many finished jobs Redis keeps)
 * and, where it has one, its deterministic job id. A worker refuses to start unless each job of its
 * queues has exactly one handler (`assertHandlers`).
 */

export const QUEUE_NAMES = ['sync', 'maintenance'] as const;
export type QueueName = (typeof QUEUE_NAMES)[number];

/**
 * BullMQ reserves ':' in custom job ids (it is the Redis key separator; "Custom Id cannot contain :"
 * in BullMQ 5 and 6, docs.bullmq.io/guide/jobs/job-ids). We join id parts with '.', which no part
 * (uuid, YYYY-MM-DD date, kind, mode) ever contains, so an id still reads back unambiguously.
 */
export const JOB_ID_SEPARATOR = '.';

export function jobIdOf(...parts: string[]): string {
  for (const p of parts) {
    if (p.includes(':') || p.includes(JOB_ID_SEPARATOR)) {
      throw new Error(`job id part ${JSON.stringify(p)} contains a separator`);
    }
  }
  return parts.join(JOB_ID_SEPARATOR);
}

/**
 * Name of our custom backoff strategy (scheduler/retry-policy.ts, set on the sync worker): full-jitter
 * exponential, except that a bank 429/503 with `Retry-After` waits exactly that long (plus ≤ 10 %).
 */
export const BANK_BACKOFF = 'bank';

const uuid = z.uuid();
const isoDate = z.string().refine(isIsoDate, ISO_DATE_EXPECTED);
export const SYNC_KINDS = ['transactions', 'balances'] as const;

export const syncAccountPayload = z.object({ runId: uuid, accountId: uuid });
export const syncWindowPayload = z.object({
  parentRunId: uuid,
  windowRunId: uuid,
  accountId: uuid,
  integrationId: uuid,
  mode: z.enum(SYNC_MODES),
  kinds: z.array(z.enum(SYNC_KINDS)).min(1),
  from: isoDate.optional(),
  to: isoDate.optional(),
});
export const scheduledSyncPayload = z.object({ accountId: uuid, mode: z.enum(['intraday', 'prior_day']) });
export const dailyMaintenancePayload = z.object({});
export const reconcileSchedulesPayload = z.object({ accountId: uuid.optional(), integrationId: uuid.optional() });

const DAY_S = 86_400;
/** Finished jobs kept for inspection (bull-board, `getRun`); the database is the record of truth. */
const KEEP = {
  removeOnComplete: { count: 2_000, age: 7 * DAY_S },
  removeOnFail: { count: 5_000, age: 30 * DAY_S },
} as const;

interface JobDefinition<S extends z.ZodType> {
  queue: QueueName;
  schema: S;
  options: JobsOptions;
  /** Deterministic id: re-enqueueing the same work is a no-op while the job is still in Redis. */
  jobId?: (payload: z.infer<S>) => string;
  /** Who enqueues it, for the README and bull-board. */
  summary: string;
}

function define<S extends z.ZodType>(d: JobDefinition<S>): JobDefinition<S> {
  return d;
}

export const JOBS = {
  'sync-account': define({
    queue: 'sync',
    schema: syncAccountPayload,
    summary: 'Parent of one sync run (one account, one request): runs after its windows and records the outcome',
    // Bookkeeping only (no bank call): a few quick retries.
    options: { attempts: 5, backoff: { type: 'exponential', delay: 2_000, jitter: 0.5 }, ...KEEP },
    jobId: (p) => jobIdOf('sync-account', p.runId),
  }),
  'sync-window': define({
    queue: 'sync',
    schema: syncWindowPayload,
    summary: 'One ≤ 5-day transaction window or ≤ 31-day balance window of a run (or the current / prior day)',
    // The chain must go on when a window gives up: the parent run then ends `partial`.
    options: { attempts: 8, backoff: { type: BANK_BACKOFF, delay: 10_000 }, ignoreDependencyOnFailure: true, ...KEEP },
    jobId: (p) => jobIdOf('sync-window', p.parentRunId, p.kinds.join('+'), p.from ?? p.mode, p.to ?? p.mode),
  }),
  'scheduled-sync': define({
    queue: 'sync',
    schema: scheduledSyncPayload,
    summary: "Fired by an account's job scheduler (intraday or prior-day); starts a sync run",
    // Ids come from the job scheduler (`repeat:<schedulerId>:<millis>`), one per tick.
    options: { attempts: 5, backoff: { type: 'exponential', delay: 5_000, jitter: 0.5 }, ...KEEP },
  }),
  'daily-maintenance': define({
    queue: 'maintenance',
    schema: dailyMaintenancePayload,
    summary: 'Once a day: maintenance hooks (overdue onboarding, certificate expiry) and a full schedule reconcile',
    options: {
      attempts: 3,
      backoff: { type: 'exponential', delay: 60_000, jitter: 0.5 },
      removeOnComplete: { count: 100 },
      removeOnFail: { count: 100 },
    },
  }),
  'reconcile-schedules': define({
    queue: 'maintenance',
    schema: reconcileSchedulesPayload,
    summary: 'After an account or integration changed state: upsert or remove its job schedulers',
    options: {
      attempts: 5,
      backoff: { type: 'exponential', delay: 2_000, jitter: 0.5 },
      removeOnComplete: { count: 200 },
      removeOnFail: { count: 500 },
    },
  }),
} as const;

export type JobName = keyof typeof JOBS;
export type JobPayload<N extends JobName> = z.infer<(typeof JOBS)[N]['schema']>;
export const JOB_NAMES = Object.keys(JOBS) as JobName[];

export function isJobName(name: string): name is JobName {
  return Object.hasOwn(JOBS, name);
}

export function jobsOfQueue(queue: QueueName): JobName[] {
  return JOB_NAMES.filter((n) => JOBS[n].queue === queue);
}

/** Validates a payload against the catalog; throws a ValidationError naming the job and the fields. */
export function parsePayload<N extends JobName>(name: N, data: unknown): JobPayload<N> {
  const result = JOBS[name].schema.safeParse(data);
  if (!result.success) {
    throw new ValidationError(
      `invalid payload for job ${name}`,
      result.error.issues.map((i) => ({ path: i.path.join('.') || '(root)', message: i.message })),
      'invalid_job_payload',
    );
  }
  return result.data as JobPayload<N>;
}

/** Catalog defaults plus the deterministic job id, for `queue.add` and flow nodes. */
export function jobOptions<N extends JobName>(
  name: N,
  payload: JobPayload<N>,
  overrides: JobsOptions = {},
): JobsOptions {
  const def: JobDefinition<z.ZodType> = JOBS[name];
  const jobId = def.jobId?.(payload);
  return { ...def.options, ...(jobId === undefined ? {} : { jobId }), ...overrides };
}

/**
 * Startup check: every job of `queues` has exactly one handler and no handler names an unknown job
 * or a job of another queue. Throws one error listing every problem.
 */
export function assertHandlers(queues: readonly QueueName[], handlerNames: readonly string[]): void {
  const problems: string[] = [];
  const counts = new Map<string, number>();
  for (const n of handlerNames) {
    counts.set(n, (counts.get(n) ?? 0) + 1);
  }
  for (const q of queues) {
    for (const job of jobsOfQueue(q)) {
      const c = counts.get(job) ?? 0;
      if (c !== 1) {
        problems.push(`job ${job} (queue ${q}) has ${c} handlers, needs exactly 1`);
      }
    }
  }
  for (const n of counts.keys()) {
    if (!isJobName(n)) {
      problems.push(`handler for unknown job ${n}`);
    } else if (!queues.includes(JOBS[n].queue)) {
      problems.push(`handler for job ${n} of queue ${JOBS[n].queue}, which this worker does not consume`);
    }
  }
  if (problems.length > 0) {
    throw new Error(`job handlers do not match the catalog:\n  - ${problems.join('\n  - ')}`);
  }
}
