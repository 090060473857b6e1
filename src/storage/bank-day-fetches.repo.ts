import { sql } from 'kysely';
import type { Executor } from './db.ts';

/**
 * What J.P. Morgan's posted data said about an account-day in the latest complete walk of it.
 * Written by `sync` after a prior-day or range walk; read by `validation` as the bank's side of the
 * coverage and duplicate checks. One row per account and day, replaced by every newer reading of the bank: two walks
 * of a day may overlap (a validation re-fetch takes no sync lock), so the one that began reading last (`read_at`)
 * wins, whichever commits last.
 *
 * `state`: `fetched` (a business day's posted data), `no_business_day` (the bank reported neither a
 * balance nor a transaction for the date: a weekend or bank holiday, nothing is owed) or
 * `unexpectedly_empty` (a business day with a balance but no transaction, on an account that normally
 * has activity: flagged in the run and in coverage for a person to look at).
 */
export const BANK_DAY_STATES = ['fetched', 'no_business_day', 'unexpectedly_empty'] as const;
export type BankDayState = (typeof BANK_DAY_STATES)[number];

export interface BankDayFetchRow {
  account_id: string;
  organization_id: string;
  booking_date: string;
  sync_run_id: string | null;
  fetched_at: string;
  /** The database clock before the first page of the walk (or import) the counts come from. */
  read_at: string;
  record_count: number;
  credit_count: number;
  debit_count: number;
  /** Decimal strings of bigint minor units. */
  credits_minor: string;
  debits_minor: string;
  /** Fingerprints the bank reported more than once that day, with how many times. */
  repeated_fingerprints: Record<string, number>;
}

export async function upsertBankDayFetches(ex: Executor, rows: readonly BankDayFetchRow[]): Promise<void> {
  if (rows.length === 0) {
    return;
  }
  await sql`
    insert into bank_day_fetches (account_id, organization_id, booking_date, sync_run_id, fetched_at, read_at,
      record_count, credit_count, debit_count, credits_minor, debits_minor, repeated_fingerprints)
    select account_id, organization_id, booking_date, sync_run_id, fetched_at, read_at, record_count, credit_count,
      debit_count, credits_minor, debits_minor, repeated_fingerprints
    from jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) as r(account_id uuid, organization_id uuid,
      booking_date date, sync_run_id uuid, fetched_at timestamptz, read_at timestamptz, record_count integer,
      credit_count integer, debit_count integer, credits_minor numeric, debits_minor numeric,
      repeated_fingerprints jsonb)
    on conflict (account_id, booking_date) do update set
      organization_id = excluded.organization_id, sync_run_id = excluded.sync_run_id, fetched_at = excluded.fetched_at,
      read_at = excluded.read_at, record_count = excluded.record_count, credit_count = excluded.credit_count,
      debit_count = excluded.debit_count, credits_minor = excluded.credits_minor, debits_minor = excluded.debits_minor,
      repeated_fingerprints = excluded.repeated_fingerprints,
      -- A re-fetch that again finds nothing keeps what the balances said about the day.
      state = case when excluded.record_count = 0 then bank_day_fetches.state else 'fetched' end
    -- A walk that began reading before the stored one did (it overlapped it and finished later) is older evidence.
    where bank_day_fetches.read_at is null or bank_day_fetches.read_at <= excluded.read_at`.execute(ex);
}

/**
 * Sets the state of fetched days that hold no transaction (a day with records is always `fetched`), as the bank's
 * balance answer asked at `balancesReadAt` (the database clock before the request) says. Returns the dates changed.
 *
 * The newer reading wins here too: a day whose stored walk began after that answer was asked for is left as it is (its
 * own window states it from a newer answer). Such an older answer comes from a worker that froze past its balances
 * while another took its account's lock and synced the day anew; without this it would state the day from the bank's
 * older word (a business day recorded as none, say).
 */
export async function setEmptyDayState(
  ex: Executor,
  accountId: string,
  dates: readonly string[],
  state: BankDayState,
  balancesReadAt: string,
): Promise<string[]> {
  if (dates.length === 0) {
    return [];
  }
  const r = await sql<{ booking_date: string }>`
    update bank_day_fetches set state = ${state}
    where account_id = ${accountId} and booking_date = any(${dates}::date[]) and record_count = 0 and state <> ${state}
      and (read_at is null or read_at <= ${balancesReadAt}::timestamptz)
    returning booking_date::text as booking_date`.execute(ex);
  return r.rows.map((x) => x.booking_date);
}

/** Which of `dates` were fetched and held no transaction. */
export async function emptyFetchedDays(ex: Executor, accountId: string, dates: readonly string[]): Promise<string[]> {
  if (dates.length === 0) {
    return [];
  }
  const r = await sql<{ booking_date: string }>`
    select booking_date::text as booking_date from bank_day_fetches
    where account_id = ${accountId} and booking_date = any(${dates}::date[]) and record_count = 0
    order by booking_date`.execute(ex);
  return r.rows.map((x) => x.booking_date);
}

/**
 * Whether the account normally has activity: of its latest `sample` fetched business days (outside
 * `exclude`), how many had any transaction. Weekends and holidays (`no_business_day`) do not count.
 */
export async function recentActivity(
  ex: Executor,
  accountId: string,
  exclude: readonly string[],
  sample = 10,
): Promise<{ days: number; active: number }> {
  const r = await sql<{ days: number; active: number }>`
    select count(*)::int as days, (count(*) filter (where record_count > 0))::int as active from (
      select record_count from bank_day_fetches
      where account_id = ${accountId} and state <> 'no_business_day' and not (booking_date = any(${exclude}::date[]))
      order by booking_date desc limit ${sample}
    ) s`.execute(ex);
  return r.rows[0] ?? { days: 0, active: 0 };
}

/** The counts stored for `dates` (to tell a fetch that says the same from one that says more). */
export async function bankDayFetchesOn(
  ex: Executor,
  accountId: string,
  dates: readonly string[],
): Promise<
  Map<string, Pick<BankDayFetchRow, 'record_count' | 'credits_minor' | 'debits_minor' | 'repeated_fingerprints'>>
> {
  if (dates.length === 0) {
    return new Map();
  }
  const r = await sql<{
    day: string;
    record_count: number;
    credits_minor: string;
    debits_minor: string;
    repeated_fingerprints: Record<string, number>;
  }>`
    select booking_date::text as day, record_count, credits_minor::text, debits_minor::text, repeated_fingerprints
    from bank_day_fetches where account_id = ${accountId} and booking_date = any(${[...dates]}::date[])`.execute(ex);
  return new Map(r.rows.map(({ day, ...rest }) => [day, rest]));
}

/** Days of [from, to] the bank reported as no business day for the account. */
export async function noBusinessDays(ex: Executor, accountId: string, from: string, to: string): Promise<string[]> {
  const closed = await sql<{ day: string }>`
    select booking_date::text as day from bank_day_fetches
    where account_id = ${accountId} and state = 'no_business_day' and booking_date between ${from} and ${to}`.execute(
    ex,
  );
  return closed.rows.map((r) => r.day);
}

/**
 * Days of [from, to] worth a person's look in coverage: `unexpectedly_empty` business days, and weekdays
 * the bank reported as no business day (holidays). In account and day order.
 */
export async function flaggedBankDays(
  ex: Executor,
  accountIds: readonly string[],
  from: string,
  to: string,
): Promise<{ account_id: string; day: string; state: string; sync_run_id: string | null }[]> {
  const flagged = await sql<{ account_id: string; day: string; state: string; sync_run_id: string | null }>`
    select account_id, booking_date::text as day, state, sync_run_id from bank_day_fetches
    where account_id = any(${accountIds}::uuid[]) and booking_date between ${from} and ${to}
      and (state = 'unexpectedly_empty' or (state = 'no_business_day' and extract(isodow from booking_date) < 6))
    order by account_id, booking_date`.execute(ex);
  return flagged.rows;
}
