import { isWeekend, localDate, type IsoDate } from '../shared/time.ts';
import { listDaysNotFetched } from '../storage/account-days.repo.ts';
import { flaggedBankDays } from '../storage/bank-day-fetches.repo.ts';
import type { Executor } from '../storage/db.ts';
import { listActiveSyncTimes } from '../storage/accounts.repo.ts';
import { listFailedWindows } from '../storage/sync-runs.repo.ts';

/**
 * Coverage: where our data cannot be complete because we never (successfully) asked the bank.
 * - days of the period with no complete fetch of posted transactions (no `bank_day_fetches` row and
 *   no succeeded prior-day/range run covering the day);
 * - failed or partial sync windows touching the period, and whether a later run covered them again;
 * - accounts not synced for `staleHours` or more, counting weekday hours in the account's time zone only: syncs run on
 *   weekdays (intraday Monday to Friday, prior-day Tuesday to Saturday early), so an account last synced by Saturday's
 *   prior-day run has missed nothing before Monday;
 * - business days for which the bank returned no transaction although the account normally has
 *   activity (`bank_day_fetches.state = 'unexpectedly_empty'`): fetched, but worth a person's look;
 * - days the bank reports as no business day (weekends in the period are left out: they are expected).
 */
export interface FailedWindow {
  runId: string;
  accountId: string | null;
  mode: string;
  status: string;
  windowFrom: IsoDate | null;
  windowTo: IsoDate | null;
  errorCode: string | null;
  errorMessage: string | null;
  at: string;
  /** A later succeeded run covered the whole window. */
  recovered: boolean;
}

export interface StaleAccount {
  accountId: string;
  lastSyncedAt: string | null;
}

export interface Coverage {
  daysNotFetched: { accountId: string; day: IsoDate }[];
  failedWindows: FailedWindow[];
  staleAccounts: StaleAccount[];
  /** Business days the bank reported nothing for on an account that normally has activity. */
  daysFetchedNothing?: { accountId: string; day: IsoDate; syncRunId: string | null }[];
  /** Weekdays the bank reported as no business day (bank holidays): nothing owed. */
  bankHolidays?: { accountId: string; day: IsoDate }[];
}

export async function coverage(
  ex: Executor,
  integrationId: string,
  accountIds: readonly string[],
  from: IsoDate,
  to: IsoDate,
  now: Date,
  staleHours: number,
  accountFrom: ReadonlyMap<string, IsoDate> = new Map(),
): Promise<Coverage> {
  if (accountIds.length === 0) {
    return { daysNotFetched: [], failedWindows: [], staleAccounts: [], daysFetchedNothing: [], bankHolidays: [] };
  }
  // Each account's own period (a report since approval starts each on its business day then; `from` is the earliest):
  // its days, windows and flagged days before its start are none of the report's.
  const inPeriod = (r: { account_id: string; day: string }) => r.day >= (accountFrom.get(r.account_id) ?? from);
  const notFetched = (await listDaysNotFetched(ex, accountIds, from, to)).filter(inPeriod);
  const failed = await listFailedWindows(ex, integrationId, accountIds, from, to, accountFrom);
  const stale = (await listActiveSyncTimes(ex, accountIds)).filter(
    (a) => a.last_synced_at === null || new Date(a.last_synced_at) < staleBefore(now, a.time_zone, staleHours),
  );
  const flagged = (await flaggedBankDays(ex, accountIds, from, to)).filter(inPeriod);
  return {
    daysFetchedNothing: flagged
      .filter((r) => r.state === 'unexpectedly_empty')
      .map((r) => ({ accountId: r.account_id, day: r.day, syncRunId: r.sync_run_id })),
    bankHolidays: flagged
      .filter((r) => r.state === 'no_business_day')
      .map((r) => ({ accountId: r.account_id, day: r.day })),
    daysNotFetched: notFetched.map((r) => ({ accountId: r.account_id, day: r.day })),
    failedWindows: failed.map((r) => ({
      runId: r.id,
      accountId: r.account_id,
      mode: r.mode,
      status: r.status,
      windowFrom: r.window_from,
      windowTo: r.window_to,
      errorCode: r.error_code,
      errorMessage: r.error_message,
      at: new Date(r.at).toISOString(),
      recovered: r.recovered,
    })),
    staleAccounts: stale.map((r) => ({
      accountId: r.id,
      lastSyncedAt: r.last_synced_at ? new Date(r.last_synced_at).toISOString() : null,
    })),
  };
}

const HOUR_MS = 3_600_000;

/**
 * The instant `staleHours` weekday hours before `now` in `timeZone`: going back an hour at a time, an hour that starts
 * on a Saturday or Sunday there does not count. A sync before it means a missed one.
 */
function staleBefore(now: Date, timeZone: string, staleHours: number): Date {
  let at = now.getTime();
  for (let left = staleHours; left > 0;) {
    at -= HOUR_MS;
    if (!isWeekend(localDate(new Date(at), timeZone))) {
      left--;
    }
  }
  return new Date(at);
}
