import type { SyncMode } from '../domain/types.ts';
import { addDays, diffDays, isWeekend, localDate, type IsoDate } from '../shared/time.ts';
import { recordBankCalendar, type AccountRow } from '../storage/accounts.repo.ts';
import { emptyFetchedDays, recentActivity, setEmptyDayState } from '../storage/bank-day-fetches.repo.ts';
import type { Database } from '../storage/db.ts';
import type { RunWarning } from '../storage/sync-runs.repo.ts';
import type { BankClient } from './bank-client.ts';
import { askBankDay, estimateBusinessDay, warningOf } from './business-calendar.ts';
import type { AccountRef } from './ingest.ts';
import type { RunNotes } from './sync-run.ts';

// What one sync window learns about the bank's business days (see business-calendar.ts), records on
// the account and in `bank_day_fetches`, and notes on its run.

/**
 * The account's business days as the bank reported them for this window (see business-calendar.ts):
 * `currentDay` is its CURRENT_DAY (or our estimate where the window did not need to ask), `priorDay`
 * the `asOfDate` of its PRIOR_DAY answer (prior-day windows only).
 */
export interface BankDays {
  currentDay: IsoDate;
  priorDay?: IsoDate;
  /**
   * Days the bank has closed beyond the plan's cut (our clock behind the bank, which was never heard
   * from or not lately): its CURRENT_DAY, or on a bank weekend or holiday the day after its PRIOR_DAY,
   * is that much later than the estimate the plan cut the range at. Set only for a range window ending
   * at the cut (the day before the estimate), at most RANGE_CHECK_DAYS.
   */
  aheadOfEstimate?: number;
}

/** A range window this close to our estimate of the current business day asks the bank where its day is. */
const RANGE_CHECK_DAYS = 3;

/**
 * Learns the business days this window's dates depend on. Prior-day windows ask the bank for its
 * PRIOR_DAY; range windows ending near the current business day ask for its CURRENT_DAY; older range
 * windows and intraday windows need no extra call (intraday learns its day from its own answers).
 */
export async function bankDaysFor(
  ctx: { db: Database; now: Date; client: BankClient; row: AccountRow; mode: SyncMode; to?: IsoDate | undefined },
  notes: RunNotes,
): Promise<BankDays> {
  const { db, now, client, row } = ctx;
  const estimate = estimateBusinessDay(row, now);
  if (ctx.mode === 'prior_day') {
    const answer = await askBankDay(client, row, 'PRIOR_DAY');
    if (answer.day) {
      await recordBankCalendar(db, row.id, { priorBusinessDay: answer.day }, now);
      notes.bankBusinessDay = answer.day;
      return { currentDay: estimate, priorDay: answer.day };
    }
    notes.warnings.push(warningOf('bank_business_day_unknown', []));
    // The prior day kept from an earlier answer is only as good as its age: one before our estimate's prior day
    // (heard days or weeks ago) would read old days again and never the ones just closed. Kept only when later (the
    // bank ahead of our estimate); otherwise the window reads up to the estimate's prior day (planWindow).
    const stored = row.bank_prior_business_day;
    const useStored = stored !== null && diffDays(addDays(estimate, -1), stored) > 0;
    return { currentDay: estimate, ...(useStored ? { priorDay: stored } : {}) };
  }
  const clockDay = localDate(now, row.time_zone);
  const earliest = diffDays(estimate, clockDay) < 0 ? clockDay : estimate;
  if (ctx.mode === 'range' && ctx.to && diffDays(addDays(earliest, -RANGE_CHECK_DAYS), ctx.to) >= 0) {
    const to = ctx.to;
    // A window ending where the plan cut the range (the day before our estimate, or before our clock's
    // date: an attempt before this one may have recorded the bank's day, moving the estimate on)
    // reaches the days the bank has closed beyond it (at most RANGE_CHECK_DAYS: an answer far ahead is
    // not trusted to widen a range).
    const cut = [estimate, clockDay].find((day) => to === addDays(day, -1));
    const aheadOf = (closedUpTo: IsoDate) => {
      const ahead = cut === undefined ? 0 : Math.min(diffDays(cut, addDays(closedUpTo, 1)), RANGE_CHECK_DAYS);
      return ahead > 0 ? { aheadOfEstimate: ahead } : {};
    };
    const answer = await askBankDay(client, row, 'CURRENT_DAY');
    if (answer.day) {
      await recordBankCalendar(db, row.id, { businessDay: answer.day }, now);
      return { currentDay: answer.day, ...aheadOf(addDays(answer.day, -1)) };
    }
    // The bank is closed today (a weekend, a holiday): its PRIOR_DAY is then final, and every day
    // up to it may be fetched. Our estimate may lag (it moves on from the last business day heard).
    const prior = await askBankDay(client, row, 'PRIOR_DAY');
    if (prior.day) {
      await recordBankCalendar(db, row.id, { priorBusinessDay: prior.day }, now);
      const afterPrior = addDays(prior.day, 1);
      return { currentDay: diffDays(estimate, afterPrior) > 0 ? afterPrior : estimate, ...aheadOf(prior.day) };
    }
  }
  return { currentDay: estimate };
}

/**
 * After a posted (prior-day or range) window with balances: a date the bank gave neither a balance
 * nor a transaction for is `no_business_day` (weekend, bank holiday: nothing was owed, and the run
 * says so); a business day with a balance but no transaction on an account that normally has
 * activity is `unexpectedly_empty` (a warning on the run and in coverage). `balances.readAt` is the database clock
 * before the balance request: a day walked anew after it keeps what its newer window says (`setEmptyDayState`).
 */
export async function classifyPostedDays(
  db: Database,
  account: AccountRef,
  dates: readonly IsoDate[],
  balances: { days: ReadonlySet<IsoDate>; readAt: string },
): Promise<RunWarning[]> {
  const balanceDays = balances.days;
  const warnings: RunWarning[] = [];
  const noBusiness = dates.filter((d) => !balanceDays.has(d));
  await setEmptyDayState(db, account.id, noBusiness, 'no_business_day', balances.readAt);
  // Weekends are recorded but expected; a weekday without a business day (a bank holiday) is worth saying.
  const holidays = noBusiness.filter((d) => !isWeekend(d));
  if (holidays.length > 0) {
    warnings.push(warningOf('no_business_day', holidays));
  }
  const open = dates.filter((d) => balanceDays.has(d));
  await setEmptyDayState(db, account.id, open, 'fetched', balances.readAt);
  const empty = await emptyFetchedDays(db, account.id, open);
  if (empty.length > 0) {
    const activity = await recentActivity(db, account.id, empty);
    if (activity.days >= 3 && activity.active * 2 > activity.days) {
      await setEmptyDayState(db, account.id, empty, 'unexpectedly_empty', balances.readAt);
      warnings.push(warningOf('fetched_nothing', empty));
    }
  }
  return warnings;
}
