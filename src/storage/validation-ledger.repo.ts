import { sql } from 'kysely';
import type { IsoDate } from '../shared/time.ts';
import type { Executor } from './db.ts';

/**
 * Reads over an account's stored ledger, its final balances and transactions together, that the
 * validation module asks (src/validation): which days hold data, since when, and the rows a heal
 * attempt compares before and after its re-fetch.
 */

/**
 * Days of [from, to] the bank reported something for (not sorted): a final balance, a posted transaction, or a
 * record that is an open reject of a day (posted or of unknown class, the rejects that block a proof): the bank
 * booked it on that day even when the day is a weekend or a holiday, so the day is owed a proof.
 */
export async function daysWithLedgerData(
  ex: Executor,
  accountId: string,
  from: IsoDate,
  to: IsoDate,
): Promise<string[]> {
  const withData = await sql<{ day: string }>`
    select as_of_date::text as day from balances where account_id = ${accountId} and kind = 'final'
      and as_of_date between ${from} and ${to}
    union
    select booking_date::text from transactions where account_id = ${accountId} and status = 'posted'
      and booking_date between ${from} and ${to}
    union
    select booking_date::text from sync_rejects where account_id = ${accountId} and resolved_at is null
      and record_type = 'transaction' and record_class is distinct from 'I'
      and booking_date between ${from} and ${to}`.execute(ex);
  return withData.rows.map((r) => r.day);
}

/** The account's first day with a balance or a transaction, or null when it holds neither. */
export async function firstLedgerDay(ex: Executor, accountId: string): Promise<string | null> {
  const first = await sql<{ day: string | null }>`
        select least((select min(as_of_date) from balances where account_id = ${accountId}),
          (select min(booking_date) from transactions where account_id = ${accountId}))::text as day`.execute(ex);
  return first.rows[0]?.day ?? null;
}

/** The account's transactions booked in [from, to], in every status (the heal diff's snapshot). */
export async function transactionSnapshots(ex: Executor, accountId: string, from: IsoDate, to: IsoDate) {
  return ex
    .selectFrom('transactions')
    .select(['id', 'jpm_transaction_id', 'booking_date', 'status', 'direction', 'amount_minor', 'content_hash'])
    .where('account_id', '=', accountId)
    .where('booking_date', '>=', from)
    .where('booking_date', '<=', to)
    .execute();
}

/**
 * How many records the bank sent the account that are open rejects naming no day (their date unreadable), posted or
 * of unknown class, seen again on or after `since`: no day's proof can count them, yet something the bank booked is
 * not stored. A record of another account in this account's answer (index -1) is not this account's.
 */
export async function countUndatedOpenRejects(ex: Executor, accountId: string, since: IsoDate): Promise<number> {
  const r = await sql<{ n: number }>`
    select count(*)::int as n from sync_rejects where account_id = ${accountId} and resolved_at is null
      and record_type = 'transaction' and booking_date is null and record_class is distinct from 'I'
      and record_index is distinct from -1 and last_seen_at >= ${since}::date`.execute(ex);
  return r.rows[0]?.n ?? 0;
}
