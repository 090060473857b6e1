import type { IsoDate } from '../shared/time.ts';
import { deleteDayProofsNotOwed, upsertDayProofs } from '../storage/account-days.repo.ts';
import type { Executor } from '../storage/db.ts';
import { daysOwed } from './days.ts';

/**
 * The balance proof of one account-day, using J.P. Morgan's own `final` (prior-day) balance:
 *
 *     opening ledger + posted credits − posted debits  =  closing ledger
 *
 * over the posted transactions we hold with that booking date (pending, superseded and removed rows
 * never count). A day is
 * - `proved`   when the equation holds to the minor unit, the day's posted data was fetched, and what we hold is what
 *              the bank's latest posted fetch of the day reported (its item counts and credit and debit totals);
 * - `broken`   when it does not: `difference_minor` = closing − (opening + credits − debits), i.e.
 *              the net amount our rows are short of (positive: a credit missing or a debit extra);
 * - `unproved` when the evidence is missing: no final balance (or one without opening/closing
 *              ledger), or no complete fetch of the day's posted transactions (no `bank_day_fetches`
 *              row and no succeeded prior-day/range run covering it), or the bank sent a record of the
 *              day whose money facts were unusable (`rejected_record`: an open `sync_rejects` row, named
 *              in `evidence.rejectedRecords`; it blocks the day until a later sync stores it or no longer
 *              receives it). Rejected intraday records never block: the proof counts posted items only. Also
 *              `differs_from_bank` when the equation holds but our posted rows differ from the bank's tally of
 *              the day (`bank_day_fetches`): rows missing or extra that net to zero (a payment and its reversal
 *              both lost) leave the balances adding up, yet the day is not what the bank booked.
 *
 * All arithmetic happens in Postgres, exactly: amounts are bigint, a day's totals and the difference numeric (a day's
 * credits may sum beyond bigint though each amount fits); nothing passes through a JS number.
 */
export const ACCOUNT_DAY_STATES = ['proved', 'broken', 'unproved'] as const;
export type AccountDayState = (typeof ACCOUNT_DAY_STATES)[number];

export interface AccountDayChange {
  day: IsoDate;
  state: AccountDayState;
  previousState: AccountDayState | null;
}

/**
 * Recomputes the proof of `dates` for one account in one statement (insert … on conflict do update,
 * rewriting only rows whose outcome changed, so `computed_at` says when the current verdict was
 * reached). A day that becomes `proved` gets its heal-attempt budget back. Returns the changed days.
 * Call it whenever data for those days arrives (after a sync window, after a heal).
 */
export async function recomputeAccountDays(
  ex: Executor,
  accountId: string,
  dates: readonly IsoDate[],
  now: Date = new Date(),
): Promise<AccountDayChange[]> {
  if (dates.length === 0) {
    return [];
  }
  const days = [...new Set(dates)].sort();
  const result = await upsertDayProofs(ex, accountId, days, now);
  return result.map((r) => ({
    day: r.day,
    state: r.state as AccountDayState,
    previousState: r.previous_state as AccountDayState | null,
  }));
}

/**
 * Proves every day of [from, to] the account owes a proof for (`daysOwed`), and drops the stored proof of any other day
 * of the range: a day judged while it was owed (a weekday before the bank reported it as a holiday) is owed nothing
 * once the bank has said so. Returns the owed days and the changed ones.
 */
export async function proveAccountDays(
  ex: Executor,
  accountId: string,
  from: IsoDate,
  to: IsoDate,
  now: Date = new Date(),
): Promise<{ owed: IsoDate[]; changes: AccountDayChange[] }> {
  const owed = await daysOwed(ex, accountId, from, to);
  await deleteDayProofsNotOwed(ex, accountId, from, to, owed);
  return { owed, changes: await recomputeAccountDays(ex, accountId, owed, now) };
}
