import { hostname } from 'node:os';
import { UnrecoverableError, Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { isAppError, NETWORK_ERROR_CODES } from '../shared/errors.ts';
import { scrubSecrets, type Logger } from '../shared/logger.ts';
import { createRedis, isRedisUnavailable, type RedisConnection } from '../shared/redis.ts';
import type { DbOptions } from '../storage/db.ts';
import type { SyncDeps } from '../sync/sync-account.ts';
import {
  HANDLERS,
  type Handler,
  type HandlerDeps,
  type HandlerTable,
  type JobContext,
  type MaintenanceHook,
} from './handlers.ts';
import { createIntegrationGuard, DEFAULT_GUARD_SETTINGS, type GuardSettings } from './integration-guard.ts';
import {
  assertHandlers,
  isJobName,
  jobsOfQueue,
  parsePayload,
  QUEUE_NAMES,
  type JobName,
  type QueueName,
} from './jobs.ts';
import type { JobData, Queues } from './queues.ts';
import { watchForLostJobs } from './recovery.ts';
import { bankBackoff } from './retry-policy.ts';
import { createSingleFlight } from './single-flight.ts';

/**
 * Stalled-job settings. A worker renews its job lock every `lockDuration / 2`; when a worker dies
 * (SIGKILL, lost machine) its lock expires and the next stalled check (every `stalledInterval`, run by
 * any live worker) moves the job back to `wait`, where another worker runs it again from the start;
 * the database writes are idempotent (one page = one transaction, upserts by natural keys), so the
 * re-run neither duplicates nor misses anything. `maxStalledCount: 2` allows two such recoveries
 * before BullMQ gives up on the job (a job that kills its worker each time must not loop forever).
 */
export interface StallSettings {
  lockDuration: number;
  stalledInterval: number;
  maxStalledCount: number;
}

export const STALL_SETTINGS: Readonly<StallSettings> = {
  lockDuration: 60_000,
  stalledInterval: 30_000,
  maxStalledCount: 2,
};

export interface WorkerOptions {
  redisUrl: string;
  /** Seed nodes of a Redis Cluster; empty or absent = a single Redis at `redisUrl`. */
  redisClusterNodes?: readonly string[] | undefined;
  /** Postgres settings for the single-flight lock pool (its own small pool). */
  database: DbOptions;
  /** Jobs this process runs at once per queue (`config.queue.concurrency`). */
  concurrency: number;
  queues?: readonly QueueName[];
  stall?: Partial<StallSettings>;
  guard?: Partial<GuardSettings>;
  busyRetryMs?: number;
  maintenanceHooks?: readonly MaintenanceHook[];
  /** Handler table; defaults to HANDLERS. Checked against the catalog at start. */
  handlers?: Partial<HandlerTable>;
  /** How often to look for unfinished runs whose jobs Redis lost (also done at every (re)connect; default 5 min). */
  recoveryIntervalMs?: number;
}

export interface RunningWorkers {
  workers: readonly Worker[];
  /**
   * Graceful stop: each Worker stops taking jobs; a sync window in flight has its bank call aborted and goes back to
   * the queue without spending an attempt; the other active jobs (short) finish. Nothing stalls. Then the lock pool
   * and worker connections are closed. With Redis away it stops without it once the handlers in flight have settled:
   * their jobs stay active in Redis and stall, to run again, once it is back.
   * The producer `queues` passed in stay open: their owner closes them.
   */
  close(): Promise<void>;
}

/** This process's name on the jobs it takes: `host:pid`. */
const WORKER_NAME = `${hostname()}:${process.pid}`;

/**
 * Starts BullMQ workers for `queues` (default: all) against the shared catalog. Fails before
 * consuming anything when a job lacks exactly one handler. Each job gets a child logger bound to
 * its id, name and attempt, and its payload is validated again on receipt (a bad one fails the job
 * without retries).
 */
export function startWorkers(
  deps: { queues: Queues; sync: SyncDeps; logger: Logger },
  options: WorkerOptions,
): RunningWorkers {
  const queueNames = options.queues ?? QUEUE_NAMES;
  const table: Partial<HandlerTable> = options.handlers ?? HANDLERS;
  assertHandlers(queueNames, Object.keys(table));
  const locks = createSingleFlight(options.database, Math.max(1, options.concurrency), deps.logger);
  const stopping = new AbortController();
  const handlerDeps: HandlerDeps = {
    db: deps.sync.db,
    queues: deps.queues,
    sync: deps.sync,
    guard: createIntegrationGuard(deps.queues.redis, deps.queues.prefix, {
      ...DEFAULT_GUARD_SETTINGS,
      ...options.guard,
    }),
    locks,
    logger: deps.logger,
    maintenanceHooks: options.maintenanceHooks ?? [],
    busyRetryMs: options.busyRetryMs ?? 2_000,
    stopping: stopping.signal,
  };
  const connections: RedisConnection[] = [];
  /** The handlers running now: what a stop without Redis waits for (their database work) before it lets go. */
  const handling = new Set<Promise<unknown>>();
  const workers = queueNames.map((queueName) => {
    const connection = createRedis({ url: options.redisUrl, clusterNodes: options.redisClusterNodes }, 'worker');
    connections.push(connection);
    const worker = new Worker<JobData, unknown, string>(
      queueName,
      (job, token) => {
        const handled = dispatch(handlerDeps, table, queueName, job, token);
        handling.add(handled);
        void handled.then(
          () => handling.delete(handled),
          () => handling.delete(handled),
        );
        return handled.catch((err: unknown) => {
          throw storableFailure(err);
        });
      },
      {
        connection,
        prefix: deps.queues.prefix,
        concurrency: options.concurrency,
        // Stored on every job this worker takes (`processedBy`): which host and process holds or held a job.
        name: WORKER_NAME,
        ...STALL_SETTINGS,
        ...options.stall,
        settings: { backoffStrategy: bankBackoff },
      },
    );
    // Errors of the worker itself (Redis hiccups); job failures are logged by the handlers. BullMQ reports each failed
    // reconnect of each of its connections: an outage is logged once per queue when it begins and once when it ends.
    let away = false;
    worker.on('error', (err) => {
      if (connection.status !== 'ready' || isRedisUnavailable(err) || NETWORK_ERROR_CODES.has(errorCode(err))) {
        if (!away) {
          away = true;
          deps.logger.warn({ err, queue: queueName }, 'queue worker lost its connection to Redis');
        }
        return;
      }
      deps.logger.warn({ err, queue: queueName }, 'queue worker error');
    });
    connection.on('ready', () => {
      if (away) {
        away = false;
        deps.logger.info({ queue: queueName }, 'queue worker connection to Redis restored');
      }
    });
    worker.on('stalled', (jobId) => deps.logger.warn({ jobId, queue: queueName }, 'stalled job moved back to wait'));
    return worker;
  });
  deps.logger.info(
    { queues: queueNames, concurrency: options.concurrency, jobs: queueNames.flatMap(jobsOfQueue) },
    'queue workers started',
  );
  // A Redis that comes back without its data must not leave runs unfinished forever (recovery.ts).
  const recovery = connections[0]
    ? watchForLostJobs(
        { db: deps.sync.db, queues: deps.queues, logger: deps.logger },
        connections[0],
        options.recoveryIntervalMs ?? 300_000,
      )
    : undefined;
  return {
    workers,
    async close() {
      await recovery?.stop();
      // Stop taking jobs first, then release the windows in flight (their bank calls aborted), then wait for them.
      const closed = Promise.allSettled(workers.map((w) => w.close()));
      // No reason of our own: undici then fails the call with an AbortError, which the client reads as `jpm_aborted`.
      stopping.abort();
      const closedOrDown = new AbortController();
      const outcome = await Promise.race([
        closed.then(() => 'closed' as const),
        redisDown(connections, closedOrDown.signal),
      ]);
      closedOrDown.abort();
      if (outcome === 'redis down') {
        // BullMQ's workers wait for Redis to close (taskforcesh/bullmq#4656): with Redis away the stop would last until
        // the shutdown timeout. So let go of Redis: dropping the connections fails the handlers' pending Redis calls
        // (giving a window back, recording progress), and once their database work has settled (each transaction
        // committed or rolled back) the workers close without Redis. The jobs they held stay active in Redis and, once
        // it is back, stall and run again elsewhere; every write is idempotent and fenced, so nothing is written twice.
        deps.logger.warn(
          { jobsInFlight: handling.size },
          'Redis is unreachable: stopping the queue workers without it; their jobs in flight run again once it is back',
        );
        for (const c of connections) {
          dropConnection(c);
        }
        await Promise.allSettled([...handling]);
        // Each worker's blocking connection (its own, a copy of ours) stops reconnecting. Its close never ends while it
        // waits to reconnect (no 'end' comes), so the workers' close is not awaited: it would hold the stop until the
        // shutdown timeout. No job can be taken any more: every command they send goes through the dropped connections.
        await Promise.allSettled(workers.map(async (w) => (await w.backend.blockingClient)?.disconnect()));
        void closed;
      } else {
        await closed;
      }
      await locks.close().catch((err: unknown) => deps.logger.warn({ err }, 'lock pool close failed'));
      for (const c of connections) {
        // A connection waiting to reconnect would hold QUIT in its offline queue until Redis is back.
        await (c.status === 'ready' ? c.quit().catch(() => c.disconnect()) : c.disconnect());
      }
    },
  };
}

/**
 * Ends a connection for good and fails the commands it holds. ioredis ends a connection waiting to reconnect without
 * ending it (no 'end', its offline queue kept: the commands in it, and any sent after, would wait forever), so such a
 * connection makes one more attempt, which as a manual close ends it either way: refused, it ends and fails its
 * commands; connected (Redis is back), they go through.
 */
function dropConnection(c: RedisConnection): void {
  const waiting = c.status === 'reconnecting';
  c.disconnect();
  if (waiting && c instanceof Redis) {
    c.connect().catch(() => undefined);
  }
}

function errorCode(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : '';
}

/**
 * Resolves once Redis is known to be away: a worker connection that is not ready (connecting, reconnecting, closed),
 * checked now and every 100 ms until `until` aborts (then it resolves 'gave up').
 */
async function redisDown(
  connections: readonly RedisConnection[],
  until: AbortSignal,
): Promise<'redis down' | 'gave up'> {
  while (!until.aborted) {
    if (connections.some((c) => c.status !== 'ready')) {
      return 'redis down';
    }
    await new Promise((r) => setTimeout(r, 100).unref());
  }
  return 'gave up';
}

/**
 * What BullMQ keeps of a failed attempt is the error's message (`failedReason`) and its stack (`stacktrace`), both
 * shown by the queue board. A stack names source paths and lines, so it is cut to `name: message`, and the message
 * is scrubbed as a log line is. The same error is thrown on: BullMQ still tells an UnrecoverableError or a
 * DelayedError by its class and name, and the backoff strategy still reads its fields (retryAfterMs).
 */
function storableFailure(err: unknown): Error {
  const e = err instanceof Error ? err : new Error(String(err));
  const message = scrubSecrets(e.message);
  try {
    e.message = message;
    e.stack = `${e.name}: ${message}`;
    return e;
  } catch {
    // An error whose message or stack cannot be set (a DOMException: undici's AbortError, TimeoutError) is thrown on
    // as a plain Error of the same name and code.
    const plain = new Error(message);
    plain.name = e.name;
    Object.assign(plain, { code: (e as { code?: unknown }).code });
    plain.stack = `${plain.name}: ${message}`;
    return plain;
  }
}

async function dispatch(
  deps: HandlerDeps,
  table: Partial<HandlerTable>,
  queue: QueueName,
  job: Job,
  token: string | undefined,
): Promise<unknown> {
  const log = deps.logger.child({ jobId: job.id, job: job.name, attempt: job.attemptsMade + 1, queue });
  if (!isJobName(job.name)) {
    throw new UnrecoverableError(`unknown job ${job.name}`);
  }
  const name: JobName = job.name;
  const handler: Handler<JobName> | undefined = table[name];
  if (!handler) {
    throw new UnrecoverableError(`no handler for job ${name} on this worker`);
  }
  let payload;
  try {
    payload = parsePayload(name, job.data);
  } catch (err) {
    log.error({ err }, 'job payload rejected');
    throw new UnrecoverableError(isAppError(err) ? err.message : 'invalid job payload');
  }
  const ctx: JobContext<JobName> = { job, token, payload, log };
  return handler(deps, ctx);
}
