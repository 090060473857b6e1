import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createIntegrationGuard } from '../../src/scheduler/integration-guard.ts';
import { bankBackoff, classifyFailure } from '../../src/scheduler/retry-policy.ts';
import { createRedis } from '../../src/shared/redis.ts';
import { NO_QUIRKS } from '../../src/simulator/index.ts';
import { testQueuePrefix } from '../helpers/db.ts';
import { REDIS_URL } from '../helpers/env.ts';
import { caught, startClientSim, type ClientSim } from '../helpers/jpm-client-sim.ts';

/**
 * A bank (or a gateway before it) answering 429 with a `Retry-After` of a year: the window waits at most an hour
 * (README, Orchestration), and so does the whole integration's block in Redis, which every worker obeys. The answer
 * comes from the simulator over real mTLS through the real client; the failure goes to the real guard as the
 * sync-window handler passes it.
 */
const HOUR_MS = 3_600_000;

describe('a Retry-After far in the future', () => {
  let env: ClientSim;
  const redis = createRedis(REDIS_URL, 'producer');
  const prefix = testQueuePrefix();
  beforeAll(async () => {
    env = await startClientSim({ today: '2025-03-12', accounts: 1, historyDays: 5, quirks: NO_QUIRKS });
  });
  afterAll(async () => {
    await env.stop();
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length > 0) {
      await redis.del(...keys);
    }
    await redis.quit();
  });

  it.each([
    ['as delta-seconds', { kind: 'rate-limit', retryAfterSeconds: 31_536_000 }],
    ['as delta-seconds on a 503', { kind: 'unavailable', retryAfterSeconds: 31_536_000 }],
    ['as an HTTP date', { kind: 'rate-limit', retryAfter: new Date(Date.now() + 31_536_000_000).toUTCString() }],
  ] as const)('%s blocks the integration for at most an hour', async (_name, rule) => {
    env.sim.clearFaults();
    env.sim.injectFaults([{ count: 1, ...rule }]);
    const err = await caught(() => env.client().getBalances({ relativeDateType: 'CURRENT_DAY' }));
    // An HTTP date has whole seconds: the wait is the year, less at most a second (and the time the call took).
    expect(err).toMatchObject({ retryable: true });
    expect(err.retryAfterMs).toBeGreaterThan(31_536_000_000 - 60_000);
    expect(err.retryAfterMs).toBeLessThanOrEqual(31_536_000_000);

    const failure = classifyFailure(err);
    expect(failure).toMatchObject({ kind: 'retryable' });
    // What the sync-window handler hands the guard (src/scheduler/handlers.ts, windowFailed).
    const guard = createIntegrationGuard(redis, prefix);
    const integrationId = randomUUID();
    const retryAfterMs = failure.kind === 'retryable' ? failure.retryAfterMs : undefined;
    await guard.recordFailure(integrationId, {
      countsAsFailure: failure.kind === 'retryable' && failure.bank,
      ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
    });
    const decision = await guard.acquire(integrationId);
    expect(decision).toMatchObject({ allowed: false, reason: 'retry_after' });
    expect((decision as { waitMs: number }).waitMs).toBeLessThanOrEqual(HOUR_MS);
    expect((decision as { waitMs: number }).waitMs).toBeGreaterThan(HOUR_MS - 60_000);
    // The job's own backoff agrees (+ at most 10 % jitter).
    expect(bankBackoff(1, 'bank', err as Error)).toBeLessThanOrEqual(HOUR_MS * 1.1);
  });

  it.each([
    ['30.0', 30_000],
    ['120.5', 120_500],
    ['7', 7_000],
  ])(
    'Retry-After %j (seconds with a fraction, as a gateway holding doubles writes them) is that many seconds',
    async (header, ms) => {
      env.sim.clearFaults();
      env.sim.injectFaults([{ count: 1, kind: 'rate-limit', retryAfter: header }]);
      const err = await caught(() => env.client().getBalances({ relativeDateType: 'CURRENT_DAY' }));
      expect(err).toMatchObject({ code: 'jpm_rate_limited', retryable: true, retryAfterMs: ms });
    },
  );
});
