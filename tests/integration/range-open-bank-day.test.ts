import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWorkers, triggerSync, type RunningWorkers } from '../../src/scheduler/index.ts';
import { createLogger } from '../../src/shared/logger.ts';
import { startHarness, type Harness } from '../helpers/orchestration.ts';
import { TEST_STALL } from '../helpers/recording-bank.ts';
import { REDIS_URL } from '../helpers/env.ts';

/**
 * Just after midnight in the account's zone our clock is on Friday 2026-03-06 while J.P. Morgan is still on its
 * Thursday (its CURRENT_DAY answer names 2026-03-05). A range ending on Thursday is planned (Thursday is the clock's
 * yesterday), but the bank has not closed Thursday: the window clips it. The run must say the day was not fetched,
 * not report a bare success over dates it never read.
 */
describe('a range reaching a day the bank has not closed yet (queue worker, simulator over mTLS)', () => {
  const BANK_DAY = '2026-03-05';
  // 00:30 in New York on Friday 2026-03-06 (EST, UTC−5).
  const now = () => new Date('2026-03-06T05:30:00Z');
  let h: Harness;
  let worker: RunningWorkers;

  beforeAll(async () => {
    h = await startHarness({ today: BANK_DAY, accounts: 2, txPerDay: 6, quirks: { latePostings: false } });
    worker = startWorkers(
      {
        queues: h.queues,
        sync: { ...h.syncDeps(h.bankWith()), now },
        logger: createLogger('scheduler'),
      },
      {
        redisUrl: REDIS_URL,
        database: { url: h.t.url, poolMax: 4 },
        concurrency: 4,
        stall: TEST_STALL,
        busyRetryMs: 200,
      },
    );
  });
  afterAll(async () => {
    await worker.close();
    await h.stop();
  });

  const trigger = async (account: number, from: string, to: string) => {
    const { runs } = await triggerSync(
      { ...h.producer(), now },
      { accountId: h.accounts[account]!.id, request: { mode: 'range', from, to }, trigger: 'manual' },
    );
    return h.waitForRun(runs[0]!.runId);
  };

  it('names the open day it did not fetch when the whole range is that day', async () => {
    const run = await trigger(0, BANK_DAY, BANK_DAY);
    expect(run.window).toEqual({ from: BANK_DAY, to: BANK_DAY });
    expect(run.counts.fetched).toBe(0);
    expect(run.warnings).toEqual([expect.objectContaining({ code: 'day_not_closed', dates: [BANK_DAY] })]);
    expect(run.warnings[0]?.message).toContain(BANK_DAY);
    // The bank's answer is kept: the same request is now refused when planned, naming the bank's day.
    await expect(trigger(0, BANK_DAY, BANK_DAY)).rejects.toThrow(`today is ${BANK_DAY}`);
  });

  it('names the open day at the end of a longer range, and fetches the closed days before it', async () => {
    const run = await trigger(1, '2026-03-02', BANK_DAY);
    expect(run.status).toBe('succeeded');
    expect(run.counts.inserted).toBeGreaterThan(0);
    expect(run.warnings).toEqual([expect.objectContaining({ code: 'day_not_closed', dates: [BANK_DAY] })]);
    const days = await h.t.db
      .selectFrom('bank_day_fetches')
      .select('booking_date')
      .where('account_id', '=', h.accounts[1]!.id)
      .orderBy('booking_date')
      .execute();
    expect(days.map((d) => d.booking_date)).not.toContain(BANK_DAY);
    expect(days.map((d) => d.booking_date)).toContain('2026-03-04');
  });
});
