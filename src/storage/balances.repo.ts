import { sql } from 'kysely';
import { pgJsonText } from '../shared/pg-text.ts';
import type { Executor } from './db.ts';

export interface BalanceRow {
  id: string;
  organization_id: string;
  account_id: string;
  as_of_date: string;
  kind: string;
  currency: string;
  decimal_location: number;
  opening_ledger_minor: string | null;
  opening_available_minor: string | null;
  ending_ledger_minor: string | null;
  ending_available_minor: string | null;
  record_timestamp: string | null;
  content_hash: string;
  raw: unknown;
  /** The channel the balance came from (`jpm_api`, `bai2`, …); the column's default (`jpm_api`) when absent. */
  source?: string;
}

/** Existing content hashes for (date, kind) pairs, so unchanged snapshots are not rewritten. */
export async function balanceHashes(
  ex: Executor,
  accountId: string,
  dates: readonly string[],
): Promise<Map<string, { id: string; hash: string }>> {
  if (dates.length === 0) {
    return new Map();
  }
  const rows = await ex
    .selectFrom('balances')
    .select(['id', 'as_of_date', 'kind', 'content_hash'])
    .where('account_id', '=', accountId)
    .where('as_of_date', 'in', dates)
    .execute();
  return new Map(rows.map((r) => [`${r.as_of_date}|${r.kind}`, { id: r.id, hash: r.content_hash }]));
}

/** Writes new or changed balance snapshots (one row per account, date and kind). Returns ids written. The raw
 *  record's strings travel through `pgJsonText` (U+0000 and lone surrogates stored escaped, src/shared/pg-text.ts). */
export async function upsertBalances(
  ex: Executor,
  rows: readonly BalanceRow[],
): Promise<{ id: string; inserted: boolean }[]> {
  if (rows.length === 0) {
    return [];
  }
  const result = await sql<{ id: string; inserted: boolean }>`
    insert into balances (id, organization_id, account_id, as_of_date, kind, currency, decimal_location,
      opening_ledger_minor, opening_available_minor, ending_ledger_minor, ending_available_minor, record_timestamp,
      content_hash, raw, source)
    select id, organization_id, account_id, as_of_date, kind, currency, decimal_location, opening_ledger_minor,
      opening_available_minor, ending_ledger_minor, ending_available_minor, record_timestamp, content_hash, raw,
      coalesce(source, 'jpm_api')
    from jsonb_to_recordset(${pgJsonText(rows)}::jsonb) as r(id uuid, organization_id uuid, account_id uuid,
      as_of_date date, kind text, currency text, decimal_location smallint, opening_ledger_minor bigint,
      opening_available_minor bigint, ending_ledger_minor bigint, ending_available_minor bigint,
      record_timestamp timestamptz, content_hash text, raw jsonb, source text)
    on conflict (account_id, as_of_date, kind) do update set
      opening_ledger_minor = excluded.opening_ledger_minor, opening_available_minor = excluded.opening_available_minor,
      ending_ledger_minor = excluded.ending_ledger_minor, ending_available_minor = excluded.ending_available_minor,
      record_timestamp = excluded.record_timestamp, content_hash = excluded.content_hash, raw = excluded.raw,
      source = excluded.source, updated_at = now()
    where balances.content_hash is distinct from excluded.content_hash
    returning id, (xmax = 0) as inserted`.execute(ex);
  return result.rows;
}

export interface StoredBalance {
  id: string;
  content_hash: string;
  opening_ledger_minor: string | null;
  opening_available_minor: string | null;
  ending_ledger_minor: string | null;
  ending_available_minor: string | null;
}

/** The stored balances of `dates`, by `date|kind`, amounts as decimal strings of minor units. */
export async function balancesOn(
  ex: Executor,
  accountId: string,
  dates: readonly string[],
): Promise<Map<string, StoredBalance>> {
  if (dates.length === 0) {
    return new Map();
  }
  const r = await sql<StoredBalance & { day: string; kind: string }>`
    select id, as_of_date::text as day, kind, content_hash, opening_ledger_minor::text, opening_available_minor::text,
      ending_ledger_minor::text, ending_available_minor::text
    from balances where account_id = ${accountId} and as_of_date = any(${[...dates]}::date[])`.execute(ex);
  return new Map(r.rows.map(({ day, kind, ...rest }) => [`${day}|${kind}`, rest]));
}
