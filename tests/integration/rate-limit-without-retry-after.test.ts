import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { triggerSync, type RunningWorkers } from '../../src/scheduler/index.ts';
import { createIntegrationGuard } from '../../src/scheduler/integration-guard.ts';
import { NO_QUIRKS } from '../../src/simulator/index.ts';
import { recordingBank, startHarness, type BankCall, type Harness } from '../helpers/orchestration.ts';

/** The `sync-window` job's backoff base step (scheduler/jobs.ts): its first backoff is at most this. */
const FIRST_BACKOFF_MS = 10_000;

/**
 * A 429 without `Retry-After` (the bank said "too many" but not for how long) blocks the whole integration for the
 * window's first backoff, as a 429 with `Retry-After` blocks it until then: its other windows do not walk into the
 * same limit meanwhile. Simulator over real mTLS, the real client and worker, real Postgres and Redis.
 */
const TODAY = '2025-03-12';

describe('a 429 without Retry-After', () => {
  let h: Harness;
  let worker: RunningWorkers;
  let calls: BankCall[];
  beforeAll(async () => {
    h = await startHarness({ today: TODAY, accounts: 2, quirks: NO_QUIRKS });
    const bank = recordingBank(h.bankWith());
    calls = bank.calls;
    worker = h.startWorker(bank.bank);
  });
  afterAll(async () => {
    await worker.close();
    await h.stop();
  });

  it('blocks the integration for the first backoff, not only the job that got it', async () => {
    const [a, b] = [h.accounts[0]!, h.accounts[1]!];
    h.sim.injectFaults([
      {
        kind: 'rate-limit',
        path: '/tsapi/v3/transactions',
        accountId: a.jpmAccountId,
        count: 1,
        retryAfterSeconds: null,
      },
    ]);
    const { runs } = await triggerSync(h.producer(), {
      accountId: a.id,
      request: { mode: 'intraday' },
      trigger: 'manual',
    });
    await expect
      .poll(() => calls.some((c) => c.jpmAccountId === a.jpmAccountId && c.error === 'jpm_rate_limited'), {
        timeout: 20_000,
      })
      .toBe(true);
    const limited = calls.find((c) => c.error === 'jpm_rate_limited')!;
    expect(limited.end).toBeGreaterThan(0);

    // What every worker asks before a window of this integration calls the bank.
    const guard = createIntegrationGuard(h.queues.redis, h.prefix);
    await expect
      .poll(() => guard.acquire(h.tenancy.integrationId), { timeout: 5_000 })
      .toMatchObject({
        allowed: false,
        reason: 'retry_after',
      });
    const decision = (await guard.acquire(h.tenancy.integrationId)) as { waitMs: number };
    expect(decision.waitMs).toBeLessThanOrEqual(FIRST_BACKOFF_MS);

    // Another account of the same integration waits for the block: its first bank call comes after it.
    const other = await triggerSync(h.producer(), {
      accountId: b.id,
      request: { mode: 'intraday' },
      trigger: 'manual',
    });
    const [runA, runB] = await Promise.all([h.waitForRun(runs[0]!.runId), h.waitForRun(other.runs[0]!.runId)]);
    expect([runA.status, runB.status]).toEqual(['succeeded', 'succeeded']);
    expect(runA.windows!.map((w) => w.attempts)).toEqual([2]);
    expect(runB.windows!.map((w) => w.attempts)).toEqual([1]);
    const firstOfB = Math.min(...calls.filter((c) => c.jpmAccountId === b.jpmAccountId).map((c) => c.start));
    expect(firstOfB - limited.end).toBeGreaterThanOrEqual(decision.waitMs - 1_000);
    const integration = await h.t.db
      .selectFrom('integrations')
      .select(['sync_status'])
      .where('id', '=', h.tenancy.integrationId)
      .executeTakeFirstOrThrow();
    expect(integration.sync_status).toBe('ok');
  });
});
