import { keyspace, type RedisConnection } from '../shared/redis.ts';

/**
 * Per-integration protection of the bank, shared by every worker through Redis (one integration =
 * one customer certificate = one set of J.P. Morgan limits):
 *
 * - **Rate limiter**: a token bucket per integration (`capacity` burst, `refillPerSecond` steady),
 *   one token per window job. We chose a Redis token bucket over BullMQ's queue limiter (global to
 *   a queue, and group keys are BullMQ Pro) and over a queue per integration (thousands of queues,
 *   workers to match): one queue, any number of integrations, each limited on its own.
 * - **Retry-After**: a 429/503 with `Retry-After` blocks the whole integration until then, not just
 *   the job that got it, so its siblings do not walk into the same wall; a 429 without one blocks it
 *   for the job's first backoff (`integrationBlockMs`, retry-policy.ts).
 * - **Circuit breaker**: after `failureThreshold` consecutive retryable bank failures (timeouts, 5xx,
 *   resets; not 429, which the block above handles) the circuit opens for `cooldownMs`: jobs of that
 *   integration are delayed, not run. Then it half-opens: ONE probe job runs (a lease); its success
 *   closes the circuit, its failure re-opens it for another cool-down.
 *
 * Everything happens in Lua scripts on the server clock (`TIME`), so workers on different machines
 * agree. Keys live under the queue prefix (same Cluster hash tag) and expire when idle for a day.
 * A job the guard turns away is delayed by the caller without spending an attempt.
 */
export interface GuardSettings {
  capacity: number;
  refillPerSecond: number;
  failureThreshold: number;
  cooldownMs: number;
  /** How long a half-open probe may run before another job may probe instead. */
  probeLeaseMs: number;
}

export const DEFAULT_GUARD_SETTINGS: GuardSettings = {
  capacity: 10,
  refillPerSecond: 5,
  failureThreshold: 5,
  cooldownMs: 60_000,
  probeLeaseMs: 120_000,
};

export type GuardDecision =
  | { allowed: true; probe: boolean }
  | { allowed: false; waitMs: number; reason: 'circuit_open' | 'circuit_probing' | 'retry_after' | 'rate_limited' };

const IDLE_TTL_MS = 86_400_000;

const NOW = `local t = redis.call('TIME'); local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;

/** KEYS: circuit, bucket. ARGV: capacity, refillPerSecond, probeLeaseMs, idleTtlMs. */
const ACQUIRE = `${NOW}
local c = KEYS[1]
local openUntil = tonumber(redis.call('HGET', c, 'openUntil') or '0')
if openUntil > now then return {0, openUntil - now, 'circuit_open'} end
local blocked = tonumber(redis.call('HGET', c, 'blockedUntil') or '0')
if blocked > now then return {0, blocked - now, 'retry_after'} end
local probe = 0
if openUntil > 0 then
  local lease = tonumber(redis.call('HGET', c, 'probeUntil') or '0')
  if lease > now then return {0, lease - now, 'circuit_probing'} end
  probe = 1
end
local cap = tonumber(ARGV[1]); local rate = tonumber(ARGV[2]) / 1000
local b = redis.call('HMGET', KEYS[2], 'tokens', 'ts')
local tokens = tonumber(b[1]) or cap
local ts = tonumber(b[2]) or now
tokens = math.min(cap, tokens + math.max(0, now - ts) * rate)
if tokens < 1 then
  redis.call('HSET', KEYS[2], 'tokens', tostring(tokens), 'ts', now)
  redis.call('PEXPIRE', KEYS[2], ARGV[4])
  return {0, math.ceil((1 - tokens) / rate), 'rate_limited'}
end
redis.call('HSET', KEYS[2], 'tokens', tostring(tokens - 1), 'ts', now)
redis.call('PEXPIRE', KEYS[2], ARGV[4])
if probe == 1 then
  redis.call('HSET', c, 'probeUntil', now + tonumber(ARGV[3]))
  redis.call('PEXPIRE', c, ARGV[4])
end
return {1, 0, probe == 1 and 'probe' or 'ok'}`;

/**
 * KEYS: circuit. ARGV: countsAsFailure (0|1), retryAfterMs, threshold, cooldownMs, idleTtlMs. Returns 1 when this call
 * opened a closed circuit.
 */
const FAILURE = `${NOW}
local c = KEYS[1]
local ra = tonumber(ARGV[2])
if ra > 0 then
  local blocked = tonumber(redis.call('HGET', c, 'blockedUntil') or '0')
  if now + ra > blocked then redis.call('HSET', c, 'blockedUntil', now + ra) end
end
local opened = 0
if ARGV[1] == '1' then
  local failures = redis.call('HINCRBY', c, 'failures', 1)
  local openUntil = tonumber(redis.call('HGET', c, 'openUntil') or '0')
  if openUntil > 0 or failures >= tonumber(ARGV[3]) then
    if openUntil == 0 then opened = 1 end
    redis.call('HSET', c, 'openUntil', now + tonumber(ARGV[4]), 'failures', 0)
    redis.call('HDEL', c, 'probeUntil')
  end
end
redis.call('PEXPIRE', c, ARGV[5])
return opened`;

/** KEYS: circuit. Returns 1 when this call closed an open (or half-open) circuit. */
const SUCCESS = `
local c = KEYS[1]
local openUntil = tonumber(redis.call('HGET', c, 'openUntil') or '0')
redis.call('HDEL', c, 'openUntil', 'failures', 'probeUntil')
if openUntil > 0 then return 1 end
return 0`;

export interface IntegrationGuard {
  /** Takes a token for one window job of `integrationId`, or says how long to wait and why. */
  acquire(integrationId: string): Promise<GuardDecision>;
  /**
   * A bank call failed retryably; `countsAsFailure` is false for 429 (it only blocks until Retry-After). Resolves true
   * when the circuit just opened.
   */
  recordFailure(integrationId: string, opts: { countsAsFailure: boolean; retryAfterMs?: number }): Promise<boolean>;
  /** A window succeeded; resolves true when this closed an open circuit. */
  recordSuccess(integrationId: string): Promise<boolean>;
}

export function createIntegrationGuard(
  redis: RedisConnection,
  prefix: string,
  settings: GuardSettings = DEFAULT_GUARD_SETTINGS,
): IntegrationGuard {
  const key = keyspace(prefix);
  const circuitKey = (id: string) => key('guard', 'circuit', id);
  const bucketKey = (id: string) => key('guard', 'bucket', id);
  return {
    async acquire(integrationId) {
      const r = (await redis.eval(
        ACQUIRE,
        2,
        circuitKey(integrationId),
        bucketKey(integrationId),
        settings.capacity,
        settings.refillPerSecond,
        settings.probeLeaseMs,
        IDLE_TTL_MS,
      )) as [number, number, string];
      if (r[0] === 1) {
        return { allowed: true, probe: r[2] === 'probe' };
      }
      return {
        allowed: false,
        waitMs: Math.max(1, Number(r[1])),
        reason: r[2] as 'circuit_open' | 'circuit_probing' | 'retry_after' | 'rate_limited',
      };
    },
    async recordFailure(integrationId, opts) {
      const r = await redis.eval(
        FAILURE,
        1,
        circuitKey(integrationId),
        opts.countsAsFailure ? '1' : '0',
        Math.ceil(opts.retryAfterMs ?? 0),
        settings.failureThreshold,
        settings.cooldownMs,
        IDLE_TTL_MS,
      );
      return Number(r) === 1;
    },
    async recordSuccess(integrationId) {
      return Number(await redis.eval(SUCCESS, 1, circuitKey(integrationId))) === 1;
    },
  };
}
