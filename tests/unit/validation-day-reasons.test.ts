import { describe, expect, it } from 'vitest';
import { explainDay, type DayFacts } from '../../src/validation/day-reasons.ts';

/** Each cause a report names for a day that is not proved, from the day's evidence. */
const base: DayFacts = {
  state: 'broken',
  reason: null,
  differenceMinor: '-83025682',
  healAttempts: 0,
  openSuspicions: 0,
  decimalLocation: 2,
  currency: 'USD',
  evidence: {
    stored: { creditsMinor: '1000', debitsMinor: '500' },
    bankFetch: { recordCount: 3, creditsMinor: '1000', debitsMinor: '500' },
  },
};

describe('explainDay', () => {
  it('names nothing for a proved day', () => {
    expect(explainDay({ ...base, state: 'proved', differenceMinor: null })).toEqual({
      reason: null,
      explanation: null,
    });
  });

  it('a broken day whose rows are exactly what the bank reported: a late posting not reported yet', () => {
    expect(explainDay({ ...base, healAttempts: 2 })).toEqual({
      reason: 'unreported_posting',
      explanation:
        "Late posting not reported yet: the bank's balance moved by -830256.82 USD more than the transactions it reported for the day (we hold exactly those). The day heals when the bank reports it. Re-fetched 2 times so far.",
    });
  });

  it("a broken day whose rows differ from the bank's tallies, with the figures", () => {
    const r = explainDay({
      ...base,
      evidence: { ...base.evidence, stored: { creditsMinor: '1000', debitsMinor: '750' } },
    });
    expect(r.reason).toBe('differs_from_bank');
    expect(r.explanation).toBe(
      'Our posted transactions differ from what the bank reported for the day: credits 10.00 USD vs 10.00 USD, debits 7.50 USD vs 5.00 USD.',
    );
  });

  it('an open duplicate suspicion on the day wins: it explains a difference whatever the tallies say', () => {
    expect(explainDay({ ...base, openSuspicions: 1 }).reason).toBe('duplicate_suspected');
  });

  it("without the bank's tallies the cause is not claimed", () => {
    const r = explainDay({ ...base, evidence: { stored: { creditsMinor: '1000', debitsMinor: '500' } } });
    expect(r.reason).toBeNull();
    expect(r.explanation).toBe(
      "Off by -830256.82 USD; the bank's tallies of the day were not recorded, so the cause is not known yet.",
    );
  });

  it("unproved days keep the proof's code, in words", () => {
    const unproved = (reason: string, evidence: DayFacts['evidence'] = null) =>
      explainDay({ ...base, state: 'unproved', differenceMinor: null, reason, evidence });
    expect(unproved('rejected_record', { rejectedRecords: ['a', 'b'] }).explanation).toMatch(
      /^Rejected record: the bank sent 2 records of this day/,
    );
    expect(unproved('transactions_not_fetched').explanation).toMatch(/^Missing fetch:/);
    expect(unproved('no_final_balance').explanation).toMatch(/^No final \(prior-day\) balance/);
    expect(unproved('incomplete_final_balance').explanation).toMatch(/lacks its opening or closing ledger amount/);
    expect(unproved('some_new_code')).toEqual({ reason: 'some_new_code', explanation: 'some new code' });
  });
});
