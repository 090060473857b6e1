import { describe, expect, it } from 'vitest';
import { answeredDay, estimateBusinessDay, mergeWarnings, warningOf } from '../../src/sync/business-calendar.ts';
import { planWindow } from '../../src/sync/sync-account.ts';
import { lastClosedDay } from '../../src/validation/days.ts';

const job = { runId: null, accountId: 'a', kinds: ['transactions', 'balances'] as const };
const bank = { currentDay: '2026-11-25' };

describe('planWindow', () => {
  it('asks for exactly the window of a range, never beyond it', () => {
    const p = planWindow({ ...job, mode: 'range', from: '2026-08-26', to: '2026-08-30' }, bank, 5);
    expect(p.transactions).toEqual({ startDate: '2026-08-26', endDate: '2026-08-30' });
    expect(p.postedDates).toEqual(['2026-08-26', '2026-08-27', '2026-08-28', '2026-08-29', '2026-08-30']);
  });

  it("clips a range before the bank's current business day: that day is only ever a snapshot", () => {
    const p = planWindow({ ...job, mode: 'range', from: '2026-11-22', to: '2026-11-28' }, bank, 5);
    expect(p.transactions).toEqual({ startDate: '2026-11-22', endDate: '2026-11-24' });
    expect(planWindow({ ...job, mode: 'range', from: '2026-11-25', to: '2026-11-28' }, bank, 5).transactions).toEqual({
      empty: true,
    });
  });

  it('a range cut at the day before a lagging estimate reaches the days the bank has closed since, never its current day', () => {
    // Our estimate was the 24th (the plan cut the range at the 23rd); the bank answered the 25th.
    const lagging = { currentDay: '2026-11-25', aheadOfEstimate: 1 };
    expect(
      planWindow({ ...job, mode: 'range', from: '2026-11-20', to: '2026-11-23' }, lagging, 5).transactions,
    ).toEqual({
      startDate: '2026-11-20',
      endDate: '2026-11-24',
    });
    expect(
      planWindow({ ...job, mode: 'range', from: '2026-11-20', to: '2026-11-23' }, { ...lagging, aheadOfEstimate: 5 }, 5)
        .transactions,
    ).toEqual({ startDate: '2026-11-20', endDate: '2026-11-24' });
  });

  it("prior day reads the bank's prior business day plus the look-back; intraday reads the current day", () => {
    // The bank named Friday 2026-11-20 as the prior business day of Monday the 23rd.
    expect(
      planWindow({ ...job, mode: 'prior_day' }, { currentDay: '2026-11-23', priorDay: '2026-11-20' }, 5).transactions,
    ).toEqual({ startDate: '2026-11-15', endDate: '2026-11-20' });
    // Without the bank's answer: the day before the current business day.
    expect(planWindow({ ...job, mode: 'prior_day' }, bank, 5).transactions).toEqual({
      startDate: '2026-11-19',
      endDate: '2026-11-24',
    });
    expect(planWindow({ ...job, mode: 'intraday' }, bank, 5)).toMatchObject({
      transactions: { relativeDateType: 'CURRENT_DAY' },
      postedDates: [],
    });
  });
});

describe('business calendar', () => {
  it("takes the bank's asOfDate for the account; an error entry or no entry means no business day", () => {
    const currency = { code: 'USD', decimalLocation: 2 };
    expect(
      answeredDay([{ accountId: '1', currency, balanceList: [{ asOfDate: '2026-11-20', currentDay: false }] }], '1'),
    ).toEqual({ day: '2026-11-20', noBusinessDay: false });
    expect(answeredDay([{ accountId: '1', currency, errorCode: 'GCA-024', errorMsg: 'no data' }], '1')).toEqual({
      noBusinessDay: true,
    });
    expect(
      answeredDay([{ accountId: '2', currency, balanceList: [{ asOfDate: '2026-11-20', currentDay: false }] }], '1'),
    ).toEqual({ noBusinessDay: true });
  });

  it("estimates the current business day from the bank's last answer, moved on by the clock; the clock alone only without one", () => {
    const now = new Date('2026-11-25T17:00:00Z');
    expect(
      estimateBusinessDay({ time_zone: 'America/New_York', bank_business_day: null, bank_calendar_at: null }, now),
    ).toBe('2026-11-25');
    // The bank was a day behind our clock when it last answered, two clock days ago: it still is.
    expect(
      estimateBusinessDay(
        { time_zone: 'America/New_York', bank_business_day: '2026-11-22', bank_calendar_at: '2026-11-23T17:00:00Z' },
        now,
      ),
    ).toBe('2026-11-24');
    expect(
      estimateBusinessDay(
        { time_zone: 'America/New_York', bank_business_day: '2026-11-25', bank_calendar_at: '2026-11-25T16:00:00Z' },
        now,
      ),
    ).toBe('2026-11-25');
  });

  it("validation's last closed day is the day before the bank's (estimated) current day, not the clock's yesterday", () => {
    const now = new Date('2026-11-25T17:00:00Z');
    expect(lastClosedDay(now, 'America/New_York')).toBe('2026-11-24');
    expect(
      lastClosedDay(now, 'America/New_York', {
        bank_business_day: '2026-11-24',
        bank_calendar_at: '2026-11-25T15:00:00Z',
      }),
    ).toBe('2026-11-23');
  });
});

describe('run warnings', () => {
  it('merge one per code with their dates united, so a retried window adds nothing', () => {
    const first = [warningOf('no_business_day', ['2026-03-03'])];
    const merged = mergeWarnings(first, [
      warningOf('no_business_day', ['2026-04-03', '2026-03-03']),
      warningOf('fetched_nothing', ['2026-03-09']),
    ]);
    expect(merged.map((w) => [w.code, w.dates])).toEqual([
      ['no_business_day', ['2026-03-03', '2026-04-03']],
      ['fetched_nothing', ['2026-03-09']],
    ]);
    expect(merged[0]?.message).toContain('2026-03-03, 2026-04-03');
    expect(mergeWarnings(merged, merged)).toEqual(merged);
  });
});
