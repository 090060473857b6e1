import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createIntegrationGuard, type GuardSettings } from '../../src/scheduler/integration-guard.ts';
import { createRedis } from '../../src/shared/redis.ts';
import { testQueuePrefix } from '../helpers/db.ts';
import { REDIS_URL } from '../helpers/env.ts';

/**
 * The per-integration rate limiter, Retry-After block and circuit breaker, on real Redis (their
 * state must be shared by every worker, so it lives there and is decided by Lua on the server).
 */
const redis = createRedis(REDIS_URL, 'producer');
const prefix = testQueuePrefix();
const settings: GuardSettings = {
  capacity: 3,
  refillPerSecond: 1,
  failureThreshold: 3,
  cooldownMs: 400,
  probeLeaseMs: 60_000,
};
const guard = createIntegrationGuard(redis, prefix, settings);

beforeAll(async () => {
  await redis.ping();
});

afterAll(async () => {
  const keys = await redis.keys(`${prefix}:*`);
  if (keys.length > 0) {
    await redis.del(...keys);
  }
  await redis.quit();
});

describe('rate limiter', () => {
  it('lets a burst of `capacity` through, then says how long to wait; integrations are limited apart', async () => {
    // A bucket that refills once per 100 s, so the outcome does not depend on how fast this runs.
    const slow = createIntegrationGuard(redis, prefix, { ...settings, refillPerSecond: 0.01 });
    const a = randomUUID();
    const b = randomUUID();
    const decisions = [];
    for (let i = 0; i < 4; i++) {
      decisions.push(await slow.acquire(a));
    }
    expect(decisions.slice(0, 3)).toEqual([
      { allowed: true, probe: false },
      { allowed: true, probe: false },
      { allowed: true, probe: false },
    ]);
    expect(decisions[3]).toMatchObject({ allowed: false, reason: 'rate_limited' });
    const wait = (decisions[3] as { waitMs: number }).waitMs;
    expect(wait).toBeGreaterThan(0);
    expect(wait).toBeLessThanOrEqual(100_000);
    expect(await slow.acquire(b)).toEqual({ allowed: true, probe: false });
  });
});

describe('Retry-After', () => {
  it('blocks the whole integration until then, without counting against the circuit', async () => {
    const a = randomUUID();
    expect(await guard.recordFailure(a, { countsAsFailure: false, retryAfterMs: 5_000 })).toBe(false);
    const d = await guard.acquire(a);
    expect(d).toMatchObject({ allowed: false, reason: 'retry_after' });
    expect((d as { waitMs: number }).waitMs).toBeGreaterThan(4_000);
    expect(await redis.hget(`${prefix}:guard:circuit:${a}`, 'failures')).toBeNull();
  });
});

describe('circuit breaker', () => {
  it('opens after N consecutive failures, half-opens for one probe, closes on its success', async () => {
    const a = randomUUID();
    expect(await guard.recordFailure(a, { countsAsFailure: true })).toBe(false);
    expect(await guard.recordFailure(a, { countsAsFailure: true })).toBe(false);
    // A success in between resets the count: only consecutive failures open the circuit.
    expect(await guard.recordSuccess(a)).toBe(false);
    expect(await guard.recordFailure(a, { countsAsFailure: true })).toBe(false);
    expect(await guard.recordFailure(a, { countsAsFailure: true })).toBe(false);
    expect(await guard.recordFailure(a, { countsAsFailure: true })).toBe(true);
    expect(await guard.acquire(a)).toMatchObject({ allowed: false, reason: 'circuit_open' });

    await expect
      .poll(() => guard.acquire(a), { timeout: 5_000, interval: 100 })
      .toEqual({ allowed: true, probe: true });
    // While the probe runs, everyone else waits.
    expect(await guard.acquire(a)).toMatchObject({ allowed: false, reason: 'circuit_probing' });
    expect(await guard.recordSuccess(a)).toBe(true);
    expect(await guard.acquire(a)).toEqual({ allowed: true, probe: false });
  });

  it('a failed probe re-opens the circuit for another cool-down (and is not a new opening)', async () => {
    const a = randomUUID();
    for (let i = 0; i < 3; i++) {
      await guard.recordFailure(a, { countsAsFailure: true });
    }
    await expect
      .poll(() => guard.acquire(a), { timeout: 5_000, interval: 100 })
      .toEqual({ allowed: true, probe: true });
    expect(await guard.recordFailure(a, { countsAsFailure: true })).toBe(false);
    expect(await guard.acquire(a)).toMatchObject({ allowed: false, reason: 'circuit_open' });
  });
});
