import { sql } from 'kysely';
import type { Executor } from './db.ts';

/**
 * What J.P. Morgan's posted data said about an account-day in the latest complete walk of it.
 * Written by `sync` after a prior-day or range walk; read by `validation` as the bank's side of the
 * coverage and duplicate checks. One row per account and day, replaced by every newer fetch.
 */
export interface BankDayFetchRow {
  account_id: string;
  organization_id: string;
  booking_date: string;
  sync_run_id: string | null;
  fetched_at: string;
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
    insert into bank_day_fetches (account_id, organization_id, booking_date, sync_run_id, fetched_at, record_count,
      credit_count, debit_count, credits_minor, debits_minor, repeated_fingerprints)
    select account_id, organization_id, booking_date, sync_run_id, fetched_at, record_count, credit_count, debit_count,
      credits_minor, debits_minor, repeated_fingerprints
    from jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) as r(account_id uuid, organization_id uuid, booking_date date,
      sync_run_id uuid, fetched_at timestamptz, record_count integer, credit_count integer, debit_count integer,
      credits_minor bigint, debits_minor bigint, repeated_fingerprints jsonb)
    on conflict (account_id, booking_date) do update set
      organization_id = excluded.organization_id, sync_run_id = excluded.sync_run_id, fetched_at = excluded.fetched_at,
      record_count = excluded.record_count, credit_count = excluded.credit_count, debit_count = excluded.debit_count,
      credits_minor = excluded.credits_minor, debits_minor = excluded.debits_minor,
      repeated_fingerprints = excluded.repeated_fingerprints`.execute(ex);
}
