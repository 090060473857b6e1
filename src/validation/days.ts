import { addDays, diffDays, eachDay, isWeekend, localDate, type IsoDate } from '../shared/time.ts';
import { noBusinessDays } from '../storage/bank-day-fetches.repo.ts';
import type { Executor } from '../storage/db.ts';
import { daysWithLedgerData } from '../storage/validation-ledger.repo.ts';
import { lastClosedBusinessDay, type BankCalendarFacts } from '../domain/business-day.ts';

/**
 * Which days a proof is owed for. J.P. Morgan books on business days: a weekend carries no postings
 * and no balances, so it is only judged when the bank did report something for it (a final balance, a
 * posted transaction, or a posted record of the day we could not store: an open reject). A weekday the
 * bank itself reported as no business day (a bank holiday: `bank_day_fetches.state =
 * 'no_business_day'`, neither a balance nor a transaction) is not owed either; we keep no holiday
 * table of our own. A weekday holiday not yet fetched shows as `unproved` (`no_final_balance`).
 */
export async function daysOwed(ex: Executor, accountId: string, from: IsoDate, to: IsoDate): Promise<IsoDate[]> {
  if (diffDays(from, to) < 0) {
    return [];
  }
  const withData = await daysWithLedgerData(ex, accountId, from, to);
  const holidays = new Set(await noBusinessDays(ex, accountId, from, to));
  const set = new Set(eachDay(from, to).filter((d) => !isWeekend(d) && !holidays.has(d)));
  for (const day of withData) {
    set.add(day);
  }
  return [...set].sort();
}

/**
 * The last day whose final (prior-day) data can exist: the day before the account's current business
 * day as the bank last reported it (`bank`: moved on by the clock, src/domain/business-day.ts);
 * yesterday in the account's own time zone for an account the bank never answered for.
 */
export function lastClosedDay(now: Date, timeZone: string, bank?: Omit<BankCalendarFacts, 'time_zone'>): IsoDate {
  return bank ? lastClosedBusinessDay({ ...bank, time_zone: timeZone }, now) : addDays(localDate(now, timeZone), -1);
}
