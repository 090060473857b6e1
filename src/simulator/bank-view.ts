import { diffDays, type IsoDate } from '../shared/time.ts';
import type { Ledger } from './ledger.ts';
import { renderTransactionWithOddities } from './render.ts';
import { isRevealed, reportedFor, type Clock } from './views.ts';
import { signed } from './ledger.ts';

/**
 * The bank's own view of one account-day at the simulator's clock, for a model-based test to hold a
 * client's stored data against, record by record:
 *  - `current`: the bank's current business day; `records` is the CURRENT_DAY snapshot (postCode I)
 *    exactly as a complete walk returns it now (withdrawn items absent, returned ones back);
 *  - `closed`: a past business day; `records` are the posted records (postCode P) a history query
 *    returns now (late postings from their reveal date, under re-issued ids after one), and `final`
 *    the prior-day balance, which includes late postings not yet revealed (`unrevealedNetMinor`);
 *  - `closed-bank`: not a business day (weekend or holiday): no records, no balances;
 *  - `future` / `before-history`: nothing yet / nothing ever.
 * `wire` is each record's JSON text as the bank sends it (odd fields, hostile text and all), so a
 * test can compare what was stored with the bytes the bank sent.
 */
export type DayState = 'current' | 'closed' | 'closed-bank' | 'future' | 'before-history';

export interface ViewRecord {
  transactionId: string;
  postCode: 'I' | 'P';
  /** Amount in minor units, as a decimal integer string. */
  amountMinor: string;
  direction: 'CREDIT' | 'DEBIT';
  /** The record as the bank sends it: JSON text, amounts as exact decimal numbers. */
  wire: string;
  /** 1-based position of the item in the bank's day (stable across the day's records and clocks). */
  seq: number;
  /**
   * The item's marks (`late`, `withdrawn-returned`, `hostile-narrative`, …) and this record's odd fields
   * (`odd:customerRef=null`).
   */
  marks: string[];
}

export interface FinalBalanceView {
  openingLedgerMinor: string;
  endingLedgerMinor: string;
  openingAvailableMinor: string;
  endingAvailableMinor: string;
}

export interface AccountDayView {
  accountId: string;
  date: IsoDate;
  state: DayState;
  currency: string;
  decimalLocation: number;
  records: ViewRecord[];
  /** Prior-day (final) balance of a closed business day. */
  final: FinalBalanceView | null;
  /** Signed sum (credits − debits, minor units) of late postings in `final` but not yet in `records`. */
  unrevealedNetMinor: string;
}

export function accountDayView(ledger: Ledger, clock: Clock, accountId: string, date: IsoDate): AccountDayView {
  const account = ledger.account(accountId);
  if (!account) {
    throw new Error(`no simulated account ${accountId}`);
  }
  const age = diffDays(date, clock.today);
  const base = {
    accountId,
    date,
    currency: account.currency.code,
    decimalLocation: account.currency.decimalLocation,
    final: null,
    unrevealedNetMinor: '0',
  };
  if (!ledger.calendar.isBusinessDay(date)) {
    return { ...base, state: 'closed-bank', records: [] };
  }
  if (diffDays(ledger.firstDate, date) < 0) {
    return { ...base, state: 'before-history', records: [] };
  }
  if (age < 0) {
    return { ...base, state: 'future', records: [] };
  }
  const records = reportedFor(ledger, account, date, clock).map((r) => {
    const { record, oddities } = renderTransactionWithOddities(r);
    return {
      transactionId: r.transactionId,
      postCode: r.postCode,
      amountMinor: r.amount.toString(),
      direction: r.item.direction,
      wire: JSON.stringify(record),
      seq: r.item.seq,
      marks: [...r.item.marks, ...oddities.map((o) => `odd:${o}`)],
    };
  });
  if (age === 0) {
    return { ...base, state: 'current', records };
  }
  const amounts = ledger.finalBalances(account, date);
  let unrevealed = 0n;
  for (const item of ledger.day(account, date)?.items ?? []) {
    if (item.postedMinor !== null && !isRevealed(item, clock.today)) {
      unrevealed += signed(item.direction, item.postedMinor);
    }
  }
  const final = amounts
    ? {
        openingLedgerMinor: amounts.openingLedger.toString(),
        endingLedgerMinor: amounts.endingLedger.toString(),
        openingAvailableMinor: amounts.openingAvailable.toString(),
        endingAvailableMinor: amounts.endingAvailable.toString(),
      }
    : null;
  return { ...base, state: 'closed', records, final, unrevealedNetMinor: unrevealed.toString() };
}
