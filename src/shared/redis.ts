import { Redis, type RedisOptions } from 'ioredis';

/**
 * ioredis connections as BullMQ's production guide asks: workers need `maxRetriesPerRequest: null`
 * (a blocking command must not fail after N retries) and reconnect forever with a capped backoff;
 * queues (producers) fail fast so an API request does not hang while Redis is down.
 */
export function createRedis(url: string, role: 'worker' | 'producer' | 'probe'): Redis {
  const options: RedisOptions = {
    maxRetriesPerRequest: role === 'worker' ? null : role === 'producer' ? 2 : 0,
    enableOfflineQueue: role !== 'probe',
    lazyConnect: role === 'probe',
    connectTimeout: 5_000,
    retryStrategy: role === 'probe' ? () => null : (times) => Math.min(times * 200, 5_000),
  };
  const redis = new Redis(url, options);
  // Errors surface through commands and readiness checks; an unhandled 'error' event would crash.
  redis.on('error', () => undefined);
  return redis;
}

/** One PING with a deadline, for startup checks and /readyz. */
export async function pingRedis(url: string, timeoutMs = 3_000): Promise<void> {
  const redis = createRedis(url, 'probe');
  try {
    await Promise.race([
      redis.connect().then(() => redis.ping()),
      new Promise((_, reject) =>
        setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs).unref(),
      ),
    ]);
  } finally {
    redis.disconnect();
  }
}
