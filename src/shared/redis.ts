import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';

/** A single Redis or a Redis Cluster: BullMQ and every Redis use of ours take either. */
export type RedisConnection = Redis | Cluster;

/** Where Redis is (`config.redis`). */
export interface RedisTarget {
  /**
   * `redis://` or `rediss://` (TLS). With `clusterNodes`, its scheme, user name and password apply to every node of the
   * cluster and its host is not used.
   */
  url: string;
  /** Seed nodes (`host:port`) of a Redis Cluster; empty or absent = a single Redis at `url`. */
  clusterNodes?: readonly string[] | undefined;
}

type Role = 'worker' | 'producer' | 'probe';

/**
 * ioredis connections as BullMQ's production guide asks: workers need `maxRetriesPerRequest: null`
 * (a blocking command must not fail after N retries) and reconnect forever with a capped backoff;
 * queues (producers) fail fast so an API request does not hang while Redis is down. With cluster nodes
 * configured the connection is an ioredis `Cluster` with the same behaviour per role: it learns the
 * slot map from any seed, follows MOVED/ASK redirections and refreshes the map on failover.
 */
export function createRedis(target: RedisTarget | string, role: Role): RedisConnection {
  const { url, clusterNodes = [] } = typeof target === 'string' ? { url: target } : target;
  const retry = role === 'probe' ? () => null : (times: number) => Math.min(times * 200, 5_000);
  const maxRetriesPerRequest = role === 'worker' ? null : role === 'producer' ? 2 : 0;
  let redis: RedisConnection;
  if (clusterNodes.length === 0) {
    const options: RedisOptions = {
      maxRetriesPerRequest,
      enableOfflineQueue: role !== 'probe',
      lazyConnect: role === 'probe',
      connectTimeout: 5_000,
      retryStrategy: retry,
    };
    redis = new Redis(url, options);
  } else {
    const u = new URL(url);
    const tls = u.protocol === 'rediss:';
    const options: ClusterOptions = {
      enableOfflineQueue: role !== 'probe',
      lazyConnect: role === 'probe',
      // The probe checks the prefix's own slot and its master's cluster_state itself (pingRedis); the ready check would
      // ask a random node, and fail whenever that one is a dead master although the prefix's master is fine.
      enableReadyCheck: role !== 'probe',
      clusterRetryStrategy: retry,
      // Keep host names as given: ioredis would otherwise connect by resolved address, which a TLS certificate
      // does not name (the usual managed-cluster setting).
      ...(tls ? { dnsLookup: (address: string, done: (e: null, a: string) => void) => done(null, address) } : {}),
      redisOptions: {
        maxRetriesPerRequest,
        connectTimeout: 5_000,
        ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
        ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
        ...(tls ? { tls: {} } : {}),
      },
    };
    const cluster = new Cluster(clusterNodes.map(parseNode), options);
    if (role === 'producer') {
      // maxRetriesPerRequest reaches only the node connections: a Cluster that lost every node queues commands in its
      // own offline queue, unbounded, until it is ready again (never, while the cluster is down), and an API request
      // would hang. So its offline queue serves only the first connect (BullMQ and the first requests wait for the
      // slot map); once ready, a command while the cluster is away fails at once (isRedisUnavailable, a 503).
      cluster.once('ready', () => {
        cluster.options.enableOfflineQueue = false;
      });
    }
    redis = cluster;
  }
  // Errors surface through commands and readiness checks; an unhandled 'error' event would crash.
  redis.on('error', () => undefined);
  return redis;
}

/**
 * An error that says Redis (or the cluster) is not reachable now, not that a command was wrong: the API answers it
 * 503 and the client comes back later. ioredis's messages: no retries left, a closed connection, a cluster without
 * its offline queue that is not ready, a cluster that cannot load its slot map; a node's CLUSTERDOWN / TRYAGAIN.
 */
export function isRedisUnavailable(err: unknown): boolean {
  if (!(err instanceof Error)) {
    return false;
  }
  return (
    err.name === 'MaxRetriesPerRequestError' ||
    err.name === 'ClusterAllFailedError' ||
    /^(Connection is closed\.|Cluster isn't ready|Stream isn't writeable|None of startup nodes is available|Failed to refresh slots cache|CLUSTERDOWN|TRYAGAIN|Too many Cluster redirections)/.test(
      err.message,
    )
  );
}

/** `host:port` or `[v6 address]:port`, as REDIS_CLUSTER_NODES lists them (validated by the config schema). */
function parseNode(node: string): { host: string; port: number } {
  const at = node.lastIndexOf(':');
  return { host: node.slice(0, at).replace(/^\[(.*)\]$/, '$1'), port: Number(node.slice(at + 1)) };
}

/**
 * One check with a deadline, for startup checks and /readyz. A single Redis: PING. A cluster: `EXISTS <prefix>:probe`,
 * which the client routes to the master of the prefix's slot (where every key of ours lives), then `CLUSTER INFO` on
 * that master, which must say `cluster_state:ok` (else it refuses our keys with CLUSTERDOWN anyway). A dead master
 * elsewhere does not fail the check until the nodes declare the cluster failed; one that holds our slot fails it at
 * once.
 */
export async function pingRedis(target: RedisTarget | string, prefix: string, timeoutMs = 3_000): Promise<void> {
  const redis = createRedis(target, 'probe');
  try {
    await Promise.race([
      redis.connect().then(async () => {
        if (!(redis instanceof Cluster)) {
          // The database REDIS_URL names, asked for again: a SELECT that Redis refused on connect (an index beyond its
          // `databases`) is only an 'error' event, and the queues would run on without it.
          await redis.select(redis.options.db ?? 0);
          await redis.ping();
          return;
        }
        const key = keyspace(prefix)('probe');
        await redis.exists(key);
        const owner = redis.slots[keySlot(key)]?.[0];
        const master = redis.nodes('master').find((n) => `${n.options.host}:${n.options.port}` === owner);
        if (!master) {
          throw new Error(`no master known for the slot of ${prefix}`);
        }
        const info = String(await master.cluster('INFO'));
        const state = /cluster_state:(\w+)/.exec(info)?.[1];
        if (state !== 'ok') {
          throw new Error(`the master of the slot of ${prefix} says cluster_state:${state ?? 'unknown'}`);
        }
      }),
      new Promise((_, reject) =>
        setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs).unref(),
      ),
    ]);
  } finally {
    redis.disconnect();
  }
}

/** The Redis Cluster slot of a key: CRC16 (XMODEM) of its hash tag (the first non-empty `{…}`) or of the whole key. */
function keySlot(key: string): number {
  const open = key.indexOf('{');
  const close = open === -1 ? -1 : key.indexOf('}', open + 1);
  const hashed = Buffer.from(close > open + 1 ? key.slice(open + 1, close) : key);
  let crc = 0;
  for (const byte of hashed) {
    crc ^= byte << 8;
    for (let i = 0; i < 8; i++) {
      crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
    }
  }
  return crc % 16_384;
}

/**
 * The naming rule of every Redis key of ours (BullMQ's own keys follow it too: `<prefix>:<queue>:…`): the deployment's
 * prefix (`QUEUE_PREFIX`), which starts with a Redis Cluster hash tag such as `{jpm-sync}`, then the parts, joined by
 * `:`. Redis hashes only the first `{…}` of a key, so every key built here sits in the prefix's one slot, whatever the
 * parts hold (an API key prefix, an address): a Lua script or MULTI over several of them never fails with CROSSSLOT,
 * and BullMQ's scripts and flows (which span queues) keep working next to them.
 */
export function keyspace(prefix: string): (...parts: string[]) => string {
  if (!/^\{[^{}]+\}/.test(prefix)) {
    throw new Error(`Redis key prefix ${JSON.stringify(prefix)} must start with a hash tag such as {jpm-sync}`);
  }
  return (...parts) => [prefix, ...parts].join(':');
}
