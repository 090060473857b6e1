import type { WireBalanceAccount } from '../jpm/wire.schemas.ts';
import type { RunWarning } from '../storage/sync-runs.repo.ts';
import { isIsoDate, type IsoDate } from '../shared/time.ts';
import type { BankClient } from './bank-client.ts';

/**
 * The bank's business calendar. J.P. Morgan, not our clock, decides which day is an account's
 * current business day and which is its prior one: the `asOfDate` of its CURRENT_DAY / PRIOR_DAY
 * balance answer for the account says so, and a GCA-024 ("no transaction was found … on the
 * requested day") or a missing entry says it has none. Weekends, bank holidays, a bank in another
 * zone and a skewed machine clock therefore need no table of ours. The clock only schedules, and
 * gives an estimate until the bank has answered (`estimateBusinessDay`).
 */
export interface AccountSelectorRow {
  jpm_account_id: string;
  bank_id: string;
}

export interface BankDayAnswer {
  /** The business day the bank answered for, when it named one. */
  day?: IsoDate;
  /** The bank answered that it has no such day for the account (GCA-024 or no balance entry). */
  noBusinessDay: boolean;
}

/** The business day a CURRENT_DAY / PRIOR_DAY balance answer names for one account. */
export function answeredDay(accounts: readonly WireBalanceAccount[], jpmAccountId: string): BankDayAnswer {
  const ours = accounts.filter((a) => a.accountId === jpmAccountId);
  const dates = ours
    .flatMap((a) => (a.errorCode ? [] : (a.balanceList ?? []).map((b) => b.asOfDate)))
    .filter((d): d is string => typeof d === 'string' && isIsoDate(d))
    .sort();
  const day = dates.at(-1);
  return day === undefined ? { noBusinessDay: true } : { day, noBusinessDay: false };
}

/** Asks the bank which day its CURRENT_DAY or PRIOR_DAY is for the account (one balance call). */
export async function askBankDay(
  client: BankClient,
  row: AccountSelectorRow,
  relativeDateType: 'CURRENT_DAY' | 'PRIOR_DAY',
): Promise<BankDayAnswer> {
  const r = await client.getBalances({
    relativeDateType,
    accounts: [{ accountId: row.jpm_account_id, bankId: row.bank_id }],
  });
  return answeredDay(r.accounts, row.jpm_account_id);
}

export { estimateBusinessDay } from '../domain/business-day.ts';

const WARNINGS: Record<string, (dates: readonly IsoDate[]) => string> = {
  no_business_day: (d) =>
    `J.P. Morgan reports no business day on ${d.join(', ')} (a bank holiday): nothing owed, recorded as such`,
  no_current_business_day: () =>
    'J.P. Morgan reports no current business day for the account (weekend or bank holiday): nothing to fetch',
  fetched_nothing: (d) =>
    `J.P. Morgan reported no transaction on business day(s) ${d.join(', ')}, although the account normally has activity`,
  day_not_closed: (d) =>
    `J.P. Morgan has not closed business day(s) ${d.join(', ')} yet (its current business day or later): not fetched; the next prior-day sync reads them, or sync the range again once the bank has closed them`,
  listed_after_close: (d) =>
    `J.P. Morgan's current-day view lists intraday items under ${d.join(', ')}, whose final data is stored: each was linked to its posting there, or left the live set as not in that day's prior-day data (linked if a posting of it is stored later), or stays pending while that day holds a record we could not read (warning pending_held_unreadable)`,
  pending_held_unreadable: (d) =>
    `J.P. Morgan's final data of ${d.join(', ')} holds a record we could not read (an open reject): intraday items of those days that the rest of the data lacks stay pending, as that record may be their posting; one the bank posted under a later day instead counts there as well until the reject is resolved (fix or re-fetch the rejected record)`,
  bank_business_day_unknown: () =>
    'J.P. Morgan named no prior business day for the account (no PRIOR_DAY balance); the window used our estimate',
};

/** A run warning with its standard message. */
export function warningOf(code: string, dates: readonly IsoDate[]): RunWarning {
  const message = (WARNINGS[code] ?? (() => code))(dates);
  return dates.length > 0 ? { code, message, dates: [...dates] } : { code, message };
}

/** Warnings of a run plus a window's: one per code, their dates united (so a retried window adds nothing). */
export function mergeWarnings(existing: readonly RunWarning[], added: readonly RunWarning[]): RunWarning[] {
  const byCode = new Map<string, Set<IsoDate>>();
  for (const w of [...existing, ...added]) {
    const dates = byCode.get(w.code) ?? new Set<IsoDate>();
    for (const d of w.dates ?? []) {
      dates.add(d);
    }
    byCode.set(w.code, dates);
  }
  return [...byCode].map(([code, dates]) => warningOf(code, [...dates].sort()));
}
