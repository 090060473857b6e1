import { isIP } from 'node:net';
import { AppError } from '../shared/errors.ts';
import type { Logger } from '../shared/logger.ts';
import { authFailuresTotal } from '../shared/metrics.ts';
import { ipv6Network64 } from '../shared/outbound-policy.ts';
import { keyspace, type RedisConnection } from '../shared/redis.ts';

/**
 * Throttling of failed authentications, per source address and per key prefix, shared by every API
 * replica through Redis (one fixed window per counter: INCR, and PEXPIRE on the first failure, in one
 * Lua call; keys under the queue prefix's `{hash tag}`, so both counters of an attempt sit on one
 * Redis Cluster slot).
 *
 * What it does and does not do:
 *  - Only failures count, and only when a key was presented (a request without one is just a 401).
 *  - A correct key is never slowed or refused: it is checked first and passes, whatever the counters
 *    say. So an attacker who knows a key's prefix (it is public: lists, logs, audit) cannot lock its
 *    owner out, and a client behind the same NAT as a scanner keeps working.
 *  - Over either limit, a wrong key gets `429 too_many_failed_authentications` with `Retry-After`
 *    (until the window ends) instead of 401, and the failure is counted in
 *    `jpm_auth_failures_total{outcome="throttled"}` (401s in `outcome="rejected"`).
 *  - Guessing stays pointless (238 random bits per key); the throttle makes scanning loud, bounded
 *    and visible. IPv6 sources count per /64 (one host usually holds the whole /64).
 *  - If Redis does not answer within 250 ms the attempt is answered 401 as before (fail open: auth
 *    must not depend on the limiter), and a warning is logged.
 */
export interface AuthThrottleSettings {
  perAddress: number;
  perKey: number;
  windowMs: number;
}

export interface AuthThrottle {
  /** Counts one failed attempt; says whether the source or the key prefix is now over its limit. */
  recordFailure(
    address: string,
    keyPrefix: string | undefined,
    log: Logger,
  ): Promise<{ throttled: boolean; retryAfterMs: number }>;
}

export class TooManyFailedAuthenticationsError extends AppError {
  constructor(retryAfterMs: number) {
    const seconds = Math.max(1, Math.ceil(retryAfterMs / 1000));
    super(`Too many failed authentications; retry after ${seconds} seconds.`, {
      code: 'too_many_failed_authentications',
      httpStatus: 429,
      details: { retryAfterSeconds: seconds },
    });
  }
}

const SCRIPT = `
local out = {}
for i, key in ipairs(KEYS) do
  local n = redis.call('INCR', key)
  if n == 1 then redis.call('PEXPIRE', key, ARGV[1]) end
  local ttl = redis.call('PTTL', key)
  if ttl < 0 then
    redis.call('PEXPIRE', key, ARGV[1])
    ttl = tonumber(ARGV[1])
  end
  out[#out + 1] = n
  out[#out + 1] = ttl
end
return out`;

const REDIS_DEADLINE_MS = 250;

/** The counter key of a source address: IPv6 per /64, IPv4 (and IPv4-mapped) per address. */
export function addressKey(address: string): string {
  const bare = address.replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/i, '$1');
  return isIP(bare) === 6 ? `${ipv6Network64(bare)}/64` : bare;
}

export function redisAuthThrottle(
  redis: RedisConnection,
  keyPrefix: string,
  settings: AuthThrottleSettings,
): AuthThrottle {
  const key = keyspace(keyPrefix);
  return {
    async recordFailure(address, apiKeyPrefix, log) {
      const keys = [key('auth-fail', 'addr', addressKey(address))];
      const limits = [settings.perAddress];
      if (apiKeyPrefix !== undefined) {
        keys.push(key('auth-fail', 'key', apiKeyPrefix));
        limits.push(settings.perKey);
      }
      let timer: NodeJS.Timeout | undefined;
      try {
        const counts = (await Promise.race([
          redis.eval(SCRIPT, keys.length, ...keys, String(settings.windowMs)),
          new Promise<never>((_, reject) => {
            timer = setTimeout(() => reject(new Error(`no answer within ${REDIS_DEADLINE_MS} ms`)), REDIS_DEADLINE_MS);
          }),
        ])) as number[];
        let retryAfterMs = 0;
        limits.forEach((limit, i) => {
          if ((counts[i * 2] ?? 0) > limit) {
            retryAfterMs = Math.max(retryAfterMs, counts[i * 2 + 1] ?? settings.windowMs);
          }
        });
        const throttled = retryAfterMs > 0;
        authFailuresTotal.inc({ outcome: throttled ? 'throttled' : 'rejected' });
        return { throttled, retryAfterMs };
      } catch (err) {
        log.warn({ err }, 'auth throttle unavailable: failed authentication not counted');
        authFailuresTotal.inc({ outcome: 'rejected' });
        return { throttled: false, retryAfterMs: 0 };
      } finally {
        clearTimeout(timer);
      }
    },
  };
}
