import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { triggerSync, type RunningWorkers } from '../../src/scheduler/index.ts';
import { startHarness, type Harness } from '../helpers/orchestration.ts';

/**
 * The bank's business calendar through the real orchestration (BullMQ worker, run rows, RunView):
 * a prior-day run across a bank holiday succeeds with the holiday named in its warnings and its dates
 * set by the bank's PRIOR_DAY, not by our clock.
 */
describe('prior-day runs follow the bank calendar (queue worker, simulator over mTLS)', () => {
  // Thursday 2026-03-05 at the bank; Tuesday the 3rd was a bank holiday.
  const TODAY = '2026-03-05';
  let h: Harness;
  let worker: RunningWorkers;

  beforeAll(async () => {
    h = await startHarness({
      today: TODAY,
      accounts: 1,
      txPerDay: 6,
      holidays: ['2026-03-03'],
      quirks: { latePostings: false },
    });
    worker = h.startWorker(h.bankWith());
  });
  afterAll(async () => {
    await worker.close();
    await h.stop();
  });

  it('succeeds, names the holiday, and takes its dates from the bank', async () => {
    const account = h.accounts[0]!;
    const { runs } = await triggerSync(h.producer(), {
      accountId: account.id,
      request: { mode: 'prior_day' },
      trigger: 'manual',
    });
    const run = await h.waitForRun(runs[0]!.runId);
    expect(run.status).toBe('succeeded');
    expect(run.counts.inserted).toBeGreaterThan(0);
    expect(run.bankBusinessDay).toBe('2026-03-04');
    expect(run.window).toEqual({ from: '2026-02-27', to: '2026-03-04' });
    expect(run.warnings).toEqual([expect.objectContaining({ code: 'no_business_day', dates: ['2026-03-03'] })]);
    const days = await h.t.db
      .selectFrom('bank_day_fetches')
      .select(['booking_date', 'state'])
      .where('account_id', '=', account.id)
      .orderBy('booking_date')
      .execute();
    expect(days.find((d) => d.booking_date === '2026-03-03')?.state).toBe('no_business_day');
  });
});
