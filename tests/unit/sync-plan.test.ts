import { describe, expect, it } from 'vitest';
import { planWindow } from '../../src/sync/sync-account.ts';

const job = { runId: null, accountId: 'a', kinds: ['transactions', 'balances'] as const };

describe('planWindow', () => {
  it('asks for exactly the window of a range, never beyond it', () => {
    const p = planWindow({ ...job, mode: 'range', from: '2026-08-26', to: '2026-08-30' }, '2026-11-25', 5);
    expect(p.transactions).toEqual({ startDate: '2026-08-26', endDate: '2026-08-30' });
    expect(p.postedDates).toEqual(['2026-08-26', '2026-08-27', '2026-08-28', '2026-08-29', '2026-08-30']);
  });

  it('clips a range at yesterday: today is only ever a snapshot', () => {
    const p = planWindow({ ...job, mode: 'range', from: '2026-11-22', to: '2026-11-28' }, '2026-11-25', 5);
    expect(p.transactions).toEqual({ startDate: '2026-11-22', endDate: '2026-11-24' });
    expect(planWindow({ ...job, mode: 'range', from: '2026-11-25', to: '2026-11-28' }, '2026-11-25', 5).transactions).toEqual({ empty: true });
  });

  it('prior day reads yesterday plus the look-back; intraday reads the current day', () => {
    expect(planWindow({ ...job, mode: 'prior_day' }, '2026-11-25', 5).transactions).toEqual({ startDate: '2026-11-19', endDate: '2026-11-24' });
    expect(planWindow({ ...job, mode: 'intraday' }, '2026-11-25', 5)).toMatchObject({ transactions: { relativeDateType: 'CURRENT_DAY' }, postedDates: [] });
  });
});
