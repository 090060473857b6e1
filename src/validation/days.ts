import { sql } from 'kysely';
import { addDays, diffDays, eachDay, isWeekend, localDate, type IsoDate } from '../shared/time.ts';
import type { Executor } from '../storage/db.ts';

/**
 * Which days a proof is owed for. J.P. Morgan books on business days: a weekend carries no postings
 * and no balances, so it is only judged when the bank did report something for it. Holidays are
 * not modelled (TODO(9): a holiday calendar per currency); a weekday holiday shows as `unproved`
 * with reason `no_final_balance`, which a person can read as such.
 */
export async function daysOwed(ex: Executor, accountId: string, from: IsoDate, to: IsoDate): Promise<IsoDate[]> {
  if (diffDays(from, to) < 0) {
    return [];
  }
  const withData = await sql<{ day: string }>`
    select as_of_date::text as day from balances where account_id = ${accountId} and kind = 'final' and as_of_date between ${from} and ${to}
    union
    select booking_date::text from transactions where account_id = ${accountId} and status = 'posted' and booking_date between ${from} and ${to}`.execute(ex);
  const set = new Set(eachDay(from, to).filter((d) => !isWeekend(d)));
  for (const r of withData.rows) {
    set.add(r.day);
  }
  return [...set].sort();
}

/** The last day whose final (prior-day) data can exist: yesterday in the account's own time zone. */
export function lastClosedDay(now: Date, timeZone: string): IsoDate {
  return addDays(localDate(now, timeZone), -1);
}
