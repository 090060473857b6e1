import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { triggerSync, type RunningWorkers } from '../../src/scheduler/index.ts';
import type { BankClient } from '../../src/sync/bank-client.ts';
import { startHarness, type Harness } from '../helpers/orchestration.ts';

/**
 * A prior-day run whose PRIOR_DAY balance answer names no day for the account, on an account whose last PRIOR_DAY
 * answer was weeks ago. The run says it used our estimate of the bank's calendar (the day before the estimated
 * current business day, moved on from the bank's last CURRENT_DAY answer), so it must read the days before today,
 * not the stale prior day kept from that old answer.
 */
describe('a prior-day run the bank names no prior day for (queue worker, simulator over mTLS)', () => {
  // Thursday 2026-03-05 at the bank and on our clock.
  const TODAY = '2026-03-05';
  let h: Harness;
  let worker: RunningWorkers;

  beforeAll(async () => {
    h = await startHarness({ today: TODAY, accounts: 1, txPerDay: 6, quirks: { latePostings: false } });
    const real = h.bankWith();
    // The bank's PRIOR_DAY answer holds no entry for the account; everything else is the simulator's over mTLS.
    const bank: BankClient = {
      transactionPages: (q) => real.transactionPages(q),
      getBalances: async (q) =>
        'relativeDateType' in q && q.relativeDateType === 'PRIOR_DAY' ? { accounts: [] } : real.getBalances(q),
    };
    worker = h.startWorker(bank);
    // What the bank said when it was last heard: its business day Monday 2026-02-23, its prior day Friday the 20th.
    await h.t.db
      .updateTable('bank_accounts')
      .set({
        bank_business_day: '2026-02-23',
        bank_prior_business_day: '2026-02-20',
        bank_calendar_at: new Date('2026-02-23T17:00:00Z'),
      })
      .where('id', '=', h.accounts[0]!.id)
      .execute();
  });
  afterAll(async () => {
    await worker.close();
    await h.stop();
  });

  it('reads the days up to the estimated prior business day, not the prior day heard weeks ago', async () => {
    const account = h.accounts[0]!;
    const { runs } = await triggerSync(h.producer(), {
      accountId: account.id,
      request: { mode: 'prior_day' },
      trigger: 'manual',
    });
    const run = await h.waitForRun(runs[0]!.runId);
    expect(run.warnings).toEqual([expect.objectContaining({ code: 'bank_business_day_unknown' })]);
    expect(run.window).toEqual({ from: '2026-02-27', to: '2026-03-04' });
    const days = await h.t.db
      .selectFrom('bank_day_fetches')
      .select('booking_date')
      .where('account_id', '=', account.id)
      .orderBy('booking_date')
      .execute();
    expect(days.map((d) => d.booking_date)).toContain('2026-03-04');
    expect(days.map((d) => d.booking_date)).not.toContain('2026-02-20');
  });
});
