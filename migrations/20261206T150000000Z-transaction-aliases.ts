import { sql, type Kysely } from 'kysely';

/**
 * `transaction_aliases`: the fingerprint key under which a channel reports an item that was matched to a row of
 * another channel with a field left out on one side (src/sync/loose-match.ts). Written in the page's transaction
 * that made the match, for the record's key and for the row's key before a takeover; read by later pages by exact
 * key before anything is inserted, so a file imported again or an API sync run again finds the row whatever way
 * its pages cut the day (the look-alike group's rule alone depends on which records share a page).
 *
 * The key `(account_id, source, fingerprint_key)`: the fingerprint key holds the record class and the occurrence.
 * `look_alikes`: the look-alike group (class, booking date, direction, amount, currency) the match was made in, as
 * it was then: `{ records, rows, sources, fields }`, the matching page's records of the group that matched nothing
 * else, the group's posted rows of the other channels (free or taken), their channels, and the optional fields any
 * of those rows carried. A later takeover through the alias keeps the row's values only when that was one record
 * against one row (ingest.ts `takeOverColumns`): the page that takes the row over no longer sees the group as it was.
 *
 * No foreign key to `transactions` (rows are never deleted; readers join and keep live rows only), so ingest pays
 * no probe for it. A new, empty table: its creation takes no lock on any other table.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    create table if not exists transaction_aliases (
      account_id uuid not null,
      source text not null,
      fingerprint_key text not null,
      transaction_id uuid not null,
      look_alikes jsonb not null,
      created_at timestamptz not null default now(),
      primary key (account_id, source, fingerprint_key)
    )`.execute(db);
}

/**
 * Dropping the table takes ACCESS EXCLUSIVE on it, which waits for every page being ingested that reads or writes
 * aliases: the lock timeout makes it fail rather than queue (queued, it would stop every later ingest; run it again).
 */
export async function down(db: Kysely<any>): Promise<void> {
  await sql`set local lock_timeout = '5s'`.execute(db);
  await sql`drop table if exists transaction_aliases`.execute(db);
}
