import { diffDays, type IsoDate } from '../shared/time.ts';
import type { SimAccount } from './accounts.ts';
import type { DayItem } from './day.ts';
import type { BalanceAmounts, Ledger } from './ledger.ts';
import { Prng } from './prng.ts';

/**
 * What the bank reports, given its clock. The same ledger day looks different over time:
 *  - on the day itself (CURRENT_DAY): a full snapshot of the intraday items received so far, postCode
 *    `I`, ids `TXN-C-<batch>-<seq>` (stable while the snapshot grows);
 *  - from the next business day on: the posted items, postCode `P`, under new `TXN-P-…` ids, with final
 *    amounts, without the intraday items that never posted, and without late postings until their
 *    reveal date. After a reveal, J.P. Morgan re-issues every prior-day id of that day.
 */
export interface Clock {
  /** The bank's calendar date (a business day, or a weekend / holiday on which the bank is closed). */
  today: IsoDate;
  /** Share of the current business day elapsed, 0..1. */
  progress: number;
  /**
   * The progress at which withdrawals and returns are decided (quirk `withdrawals`), default
   * `progress`. A page shift mid-walk (quirk `shiftingPages`) moves `progress` only, so it only ever
   * appends items to the snapshot: a withdrawal is something that happens between two walks.
   */
  withdrawalsAt?: number;
}

export interface Reported {
  account: SimAccount;
  date: IsoDate;
  item: DayItem;
  postCode: 'I' | 'P';
  transactionId: string;
  amount: bigint;
  /** The day the record was written: the business day itself (I), the next business day or the reveal date (P). */
  recordDate: IsoDate;
  /** Seed of the record's odd optional fields (quirk `oddFields`), or null when the quirk is off. */
  oddSeed: string | null;
}

function batchNumber(seed: string, accountId: string, date: IsoDate, label: string): string {
  return new Prng(seed, 'batch', label, accountId, date).digits(9);
}

/** How many intraday items the snapshot holds at `progress` (all of them once the day is complete). */
export function visibleCount(total: number, progress: number): number {
  return Math.min(total, Math.ceil(Math.max(0, Math.min(1, progress)) * total));
}

export function intradayReported(ledger: Ledger, account: SimAccount, clock: Clock): Reported[] {
  const day = ledger.day(account, clock.today);
  if (!day) {
    return [];
  }
  const intraday = day.items.filter((i) => i.intradayMinor !== null);
  const growing = ledger.quirks.growingSnapshot;
  const shown = growing ? visibleCount(intraday.length, clock.progress) : intraday.length;
  const batch = batchNumber(ledger.seed, account.accountId, day.date, 'C');
  const decidedAt = clock.withdrawalsAt ?? clock.progress;
  const carried = ledger.quirks.carriedOver ? carriedOverReported(ledger, account, day.date) : [];
  const visible = intraday
    .slice(0, shown)
    .map((item, k) => ({ item, appearedAt: growing ? k / intraday.length : 0 }))
    .filter(({ item, appearedAt }) => !(ledger.quirks.withdrawals && isWithdrawn(item, appearedAt, decidedAt)));
  const dip = ledger.quirks.dippingSnapshot ? snapshotDip(ledger.seed, account.accountId, day.date) : null;
  const inDip = dip !== null && decidedAt >= dip.from && decidedAt < dip.until;
  const own: Reported[] = (inDip ? visible.slice(0, Math.floor(visible.length / 2)) : visible).map(
    ({ item, appearedAt }) => ({
      account,
      date: day.date,
      item,
      postCode: 'I',
      transactionId: `TXN-C-${batch}-${item.seq}`,
      amount: intradayAmount(ledger, account, day.date, item, appearedAt, decidedAt),
      recordDate: day.date,
      oddSeed: ledger.quirks.oddFields ? ledger.seed : null,
    }),
  );
  return [...carried, ...own];
}

/**
 * Quirk `revisedIntraday`: about one intraday item in six is shown first with another amount (a whole number of units
 * more), and from a point of the part of the day after it appeared on with the amount it keeps. Decided at the
 * clock's `withdrawalsAt` progress, so a page shift mid-walk never changes it: it changes between two snapshots.
 */
function intradayAmount(
  ledger: Ledger,
  account: SimAccount,
  date: IsoDate,
  item: DayItem,
  appearedAt: number,
  decidedAt: number,
): bigint {
  const amount = item.intradayMinor ?? 0n;
  if (!ledger.quirks.revisedIntraday) {
    return amount;
  }
  const rng = new Prng(ledger.seed, 'intraday-revision', account.accountId, date, item.seq);
  const revised = rng.chance(1 / 6);
  const at = appearedAt + (0.2 + 0.6 * rng.unit()) * (1 - appearedAt);
  const more = BigInt(rng.int(1, 90)) * 10n ** BigInt(account.currency.decimalLocation);
  return revised && decidedAt < at ? amount + more : amount;
}

/** Quirk `dippingSnapshot`: on about half of the days, the part of the day during which the snapshot shows half. */
function snapshotDip(seed: string, accountId: string, date: IsoDate): { from: number; until: number } | null {
  const rng = new Prng(seed, 'snapshot-dip', accountId, date);
  const dips = rng.chance(0.5);
  const from = 0.2 + 0.5 * rng.unit();
  return dips ? { from, until: from + 0.15 } : null;
}

/**
 * Quirk `carriedOver`: the previous business day's intraday items that never posted (not withdrawn ones), shown from
 * the start of `today` under their ids, dated `today`.
 */
function carriedOverReported(ledger: Ledger, account: SimAccount, today: IsoDate): Reported[] {
  const previous = ledger.calendar.previousBusinessDay(today);
  const day = ledger.day(account, previous);
  if (!day) {
    return [];
  }
  const batch = batchNumber(ledger.seed, account.accountId, previous, 'C');
  return day.items
    .filter(
      (item) =>
        item.intradayMinor !== null && item.postedMinor === null && item.withdrawal === null && item.moved === null,
    )
    .map((item) => ({
      account,
      date: today,
      item,
      postCode: 'I',
      transactionId: `TXN-C-${batch}-${item.seq}`,
      amount: item.intradayMinor ?? 0n,
      recordDate: today,
      oddSeed: ledger.quirks.oddFields ? ledger.seed : null,
    }));
}

/**
 * Whether an intraday item is out of the snapshot at `progress`: withdrawn at a point of the part of the
 * day after it appeared (`appearedAt`), and not (yet) back.
 */
export function isWithdrawn(item: DayItem, appearedAt: number, progress: number): boolean {
  const w = item.withdrawal;
  if (!w) {
    return false;
  }
  const rest = 1 - appearedAt;
  const from = appearedAt + w.at * rest;
  const until = w.returnAt === null ? Number.POSITIVE_INFINITY : appearedAt + w.returnAt * rest;
  return progress >= from && progress < until;
}

/** Whether a late posting is visible to history queries on `today`. */
export function isRevealed(item: DayItem, today: IsoDate): boolean {
  return item.revealDate === null || diffDays(item.revealDate, today) >= 0;
}

export function postedReported(ledger: Ledger, account: SimAccount, date: IsoDate, today: IsoDate): Reported[] {
  const day = ledger.day(account, date);
  if (!day || diffDays(date, today) <= 0) {
    return [];
  }
  const reissued = ledger.quirks.reissuedIds && day.lateRevealDate !== null && diffDays(day.lateRevealDate, today) >= 0;
  const cBatch = batchNumber(ledger.seed, account.accountId, date, 'C');
  const pBatch = batchNumber(ledger.seed, account.accountId, date, reissued ? 'P-reissued' : 'P');
  const out: Reported[] = [];
  for (const item of day.items) {
    if (item.postedMinor === null || !isRevealed(item, today)) {
      continue;
    }
    const transactionId =
      ledger.quirks.newIdsOnPosting || reissued ? `TXN-P-${pBatch}-${item.seq}` : `TXN-C-${cBatch}-${item.seq}`;
    // Written by the overnight posting run of the next business day, a late one on its reveal date.
    const recordDate = item.revealDate ?? ledger.calendar.nextBusinessDay(date);
    out.push({
      account,
      date,
      item,
      postCode: 'P',
      transactionId,
      amount: item.postedMinor,
      recordDate,
      oddSeed: ledger.quirks.oddFields ? ledger.seed : null,
    });
  }
  return out;
}

/** The records a transaction query returns for one account and date on `clock`. */
export function reportedFor(ledger: Ledger, account: SimAccount, date: IsoDate, clock: Clock): Reported[] {
  const age = diffDays(date, clock.today);
  if (age === 0) {
    return intradayReported(ledger, account, clock);
  }
  return age > 0 ? postedReported(ledger, account, date, clock.today) : [];
}

export interface BalanceView {
  date: IsoDate;
  currentDay: boolean;
  amounts: BalanceAmounts;
}

/**
 * Balances of one account-day as the bank reports them on `clock`: the current day from the visible
 * intraday snapshot, a closed day from every posted item, late ones included even before they are
 * revealed to transaction queries (so a balance proof for that day fails until then, as at J.P. Morgan).
 */
export function balanceFor(ledger: Ledger, account: SimAccount, date: IsoDate, clock: Clock): BalanceView | undefined {
  const age = diffDays(date, clock.today);
  if (age < 0 || !ledger.hasData(date)) {
    return undefined;
  }
  if (age === 0) {
    const postings = intradayReported(ledger, account, clock).map((r) => ({ item: r.item, amount: r.amount }));
    return { date, currentDay: true, amounts: ledger.balances(account, date, postings) };
  }
  const amounts = ledger.finalBalances(account, date);
  return amounts ? { date, currentDay: false, amounts } : undefined;
}
