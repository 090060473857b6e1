import { FlowProducer, Queue, type JobsOptions } from 'bullmq';
import { createLogger } from '../shared/logger.ts';
import { createRedis, keyspace, type RedisConnection } from '../shared/redis.ts';
import { JOBS, jobOptions, parsePayload, QUEUE_NAMES, type JobName, type JobPayload, type QueueName } from './jobs.ts';

const log = createLogger('redis');

export interface QueueSettings {
  redisUrl: string;
  /** Seed nodes of a Redis Cluster (`config.redis.clusterNodes`); empty or absent = a single Redis at `redisUrl`. */
  redisClusterNodes?: readonly string[] | undefined;
  /** `config.queue.prefix`; its `{hash tag}` keeps every key of a queue on one Redis Cluster slot. */
  prefix: string;
}

/** Job data as BullMQ stores it: a payload validated against the catalog. */
export type JobData = Record<string, unknown>;
export type AppQueue = Queue<JobData, unknown, string>;

/**
 * The producer side of BullMQ for one process: a queue per name, a FlowProducer for runs (a parent
 * job and its window children), and one shared producer connection (fail-fast: an API request must
 * not hang while Redis is down). The same connection serves the per-integration rate limiter and
 * circuit breaker, whose keys live under the same prefix.
 *
 * Lifecycle: created by `main/` (or a test), closed once with `close()`, which closes the queues and
 * the flow producer and then quits the connection.
 */
export interface Queues {
  readonly prefix: string;
  readonly redis: RedisConnection;
  readonly flows: FlowProducer;
  queue(name: QueueName): AppQueue;
  close(): Promise<void>;
}

export function createQueues(settings: QueueSettings): Queues {
  const redis = createRedis({ url: settings.redisUrl, clusterNodes: settings.redisClusterNodes }, 'producer');
  const byName = new Map<QueueName, AppQueue>();
  for (const name of QUEUE_NAMES) {
    byName.set(name, new Queue<JobData, unknown, string>(name, { connection: redis, prefix: settings.prefix }));
  }
  const flows = new FlowProducer({ connection: redis, prefix: settings.prefix });
  // Without an 'error' listener BullMQ writes every connection error to stderr, raw, once per queue
  // and reconnect attempt. Log an outage once instead (requests fail fast meanwhile; /readyz says 503).
  let down = false;
  const onError = (err: Error) => {
    if (!down) {
      down = true;
      log.warn({ err, prefix: settings.prefix }, 'queue connection to Redis lost');
    }
  };
  const restored = () => {
    if (down) {
      down = false;
      log.info({ prefix: settings.prefix }, 'queue connection to Redis restored');
    }
  };
  redis.on('ready', restored);
  // A Redis Cluster connection stays ready while one master is away, so 'ready' never comes after that outage and a
  // later one would go unlogged. When it reloads its slot map or regains a node, ask the prefix's slot: an answer
  // means the outage is over.
  let asking = false;
  const askSlot = () => {
    if (!down || asking) {
      return;
    }
    asking = true;
    redis
      .exists(keyspace(settings.prefix)('probe'))
      .then(restored, () => undefined)
      .finally(() => {
        asking = false;
      });
  };
  redis.on('refresh', askSlot);
  redis.on('+node', askSlot);
  for (const q of byName.values()) {
    q.on('error', onError);
  }
  flows.on('error', onError);
  return {
    prefix: settings.prefix,
    redis,
    flows,
    queue(name) {
      const q = byName.get(name);
      if (!q) {
        throw new Error(`unknown queue ${name}`);
      }
      return q;
    },
    async close() {
      const closers: Promise<void>[] = [...byName.values()].map((q) => q.close());
      closers.push(flows.close());
      await Promise.allSettled(closers);
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}

/**
 * Enqueues one job of the catalog: the payload is validated first (a bad payload never reaches
 * Redis), catalog defaults and the deterministic job id are applied. Re-adding a job whose id is
 * still in Redis returns the existing job (BullMQ ignores the duplicate).
 */
export async function enqueue<N extends JobName>(
  queues: Queues,
  name: N,
  payload: JobPayload<N>,
  overrides: JobsOptions = {},
) {
  const data = parsePayload(name, payload);
  return queues.queue(JOBS[name].queue).add(name, data, jobOptions(name, data, overrides));
}
