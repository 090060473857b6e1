import { sql } from 'kysely';
import type { IsoDate } from '../shared/time.ts';
import type { Executor } from '../storage/db.ts';

/**
 * Coverage: where our data cannot be complete because we never (successfully) asked the bank.
 * - days of the period with no complete fetch of posted transactions (no `bank_day_fetches` row and
 *   no succeeded prior-day/range run covering the day);
 * - failed or partial sync windows touching the period, and whether a later run covered them again;
 * - accounts not synced for `staleHours` or more;
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
): Promise<Coverage> {
  if (accountIds.length === 0) {
    return { daysNotFetched: [], failedWindows: [], staleAccounts: [], daysFetchedNothing: [], bankHolidays: [] };
  }
  const notFetched = await sql<{ account_id: string; day: string }>`
    select account_id, day::text as day from account_days
    where account_id = any(${accountIds}::uuid[]) and day between ${from} and ${to}
      and evidence -> 'bankFetch' is null and evidence -> 'syncRun' is null
    order by account_id, day`.execute(ex);
  const failed = await sql<{
    id: string;
    account_id: string | null;
    mode: string;
    status: string;
    window_from: string | null;
    window_to: string | null;
    error_code: string | null;
    error_message: string | null;
    at: Date;
    recovered: boolean;
  }>`
    select r.id, r.account_id, r.mode, r.status, r.window_from::text as window_from, r.window_to::text as window_to,
      r.error_code, r.error_message, coalesce(r.finished_at, r.created_at) as at,
      exists (
        select 1 from sync_runs s
        where s.status = 'succeeded' and s.mode = r.mode and s.kind in ('all', r.kind)
          and (s.account_id = r.account_id or (r.account_id is null and s.integration_id = r.integration_id and s.account_id is null))
          and s.created_at > r.created_at
          and (r.window_from is null or (s.window_from <= r.window_from and s.window_to >= r.window_to))
      ) as recovered
    from sync_runs r
    where r.integration_id = ${integrationId} and r.status in ('failed', 'partial')
      and (r.account_id is null or r.account_id = any(${accountIds}::uuid[]))
      and (
        (r.window_from is not null and r.window_from <= ${to} and r.window_to >= ${from})
        or (r.window_from is null and r.created_at::date between ${from}::date and ${to}::date + 1)
      )
    order by r.created_at, r.id`.execute(ex);
  const stale = await sql<{ id: string; last_synced_at: Date | null }>`
    select id, last_synced_at from bank_accounts
    where id = any(${accountIds}::uuid[]) and status = 'active'
      and (last_synced_at is null or last_synced_at < ${now.toISOString()}::timestamptz - make_interval(hours => ${staleHours}))
    order by jpm_account_id`.execute(ex);
  const flagged = await sql<{ account_id: string; day: string; state: string; sync_run_id: string | null }>`
    select account_id, booking_date::text as day, state, sync_run_id from bank_day_fetches
    where account_id = any(${accountIds}::uuid[]) and booking_date between ${from} and ${to}
      and (state = 'unexpectedly_empty' or (state = 'no_business_day' and extract(isodow from booking_date) < 6))
    order by account_id, booking_date`.execute(ex);
  return {
    daysFetchedNothing: flagged.rows
      .filter((r) => r.state === 'unexpectedly_empty')
      .map((r) => ({ accountId: r.account_id, day: r.day, syncRunId: r.sync_run_id })),
    bankHolidays: flagged.rows
      .filter((r) => r.state === 'no_business_day')
      .map((r) => ({ accountId: r.account_id, day: r.day })),
    daysNotFetched: notFetched.rows.map((r) => ({ accountId: r.account_id, day: r.day })),
    failedWindows: failed.rows.map((r) => ({
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
    staleAccounts: stale.rows.map((r) => ({
      accountId: r.id,
      lastSyncedAt: r.last_synced_at ? new Date(r.last_synced_at).toISOString() : null,
    })),
  };
}
