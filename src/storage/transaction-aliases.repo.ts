import { sql } from 'kysely';
import { decodePgText } from '../shared/pg-text.ts';
import type { Executor } from './db.ts';
import type { LooseCandidate } from './transactions.repo.ts';

/**
 * The look-alike group (record class, booking date, direction, amount, currency) a match was made in, as it was
 * then (migration 20261206T150000000Z): the matching page's records of the group that matched nothing by id,
 * fingerprint or alias, the group's posted rows of the other channels (free or taken), their channels (sorted),
 * and the optional fields (`LooseField`, src/sync/loose-match.ts) any of those rows carried.
 */
export interface LookAlikes {
  records: number;
  rows: number;
  sources: string[];
  fields: string[];
}

/** A channel's fingerprint key for an item stored under a row of another channel (migration 20261206T150000000Z). */
export interface TransactionAlias {
  account_id: string;
  source: string;
  fingerprint_key: string;
  transaction_id: string;
  look_alikes: LookAlikes;
}

/** Records aliases; a key already recorded keeps its row (the first merge of that key stands). */
export async function insertAliases(ex: Executor, aliases: readonly TransactionAlias[]): Promise<void> {
  if (aliases.length === 0) {
    return;
  }
  await sql`
    insert into transaction_aliases (account_id, source, fingerprint_key, transaction_id, look_alikes)
    select a.account_id, a.source, a.fingerprint_key, a.transaction_id, a.look_alikes
    from jsonb_to_recordset(${JSON.stringify(aliases)}::jsonb)
      as a(account_id uuid, source text, fingerprint_key text, transaction_id uuid, look_alikes jsonb)
    on conflict (account_id, source, fingerprint_key) do nothing`.execute(ex);
}

/**
 * The posted rows that these channels' fingerprint keys are aliases of, by exact key, with the columns
 * `looseMatches` compares and the alias's look-alike group; `alias_key` is `source|fingerprint_key`. Only posted ones:
 * aliases are made between posted items (`LOOSE_MATCH_CLASS`), and a row that left `posted` (removed, superseded) is no
 * longer the item.
 */
export async function findAliasedRows(
  ex: Executor,
  accountId: string,
  keys: readonly { source: string; fingerprintKey: string }[],
): Promise<(LooseCandidate & { alias_key: string; look_alikes: LookAlikes })[]> {
  if (keys.length === 0) {
    return [];
  }
  const result = await sql<LooseCandidate & { alias_key: string; look_alikes: LookAlikes }>`
    select a.source || '|' || a.fingerprint_key as alias_key, a.look_alikes,
      t.id, t.post_code, t.jpm_transaction_id, t.fingerprint_key, t.content_hash, t.status, t.source,
      t.booking_date::text as booking_date, t.direction, t.amount_minor::text as amount_minor, t.currency,
      t.bai_type_code, t.bank_reference, t.customer_reference
    from transaction_aliases a
    join transactions t on t.id = a.transaction_id
    where a.account_id = ${accountId}
      and (a.source, a.fingerprint_key) in (select *
        from unnest(${keys.map((k) => k.source)}::text[], ${keys.map((k) => k.fingerprintKey)}::text[]))
      and t.account_id = ${accountId} and t.status = 'posted'`.execute(ex);
  for (const r of result.rows) {
    r.jpm_transaction_id = decodePgText(r.jpm_transaction_id);
    r.bank_reference = decodePgText(r.bank_reference);
    r.customer_reference = decodePgText(r.customer_reference);
  }
  return result.rows;
}
