import { sql, type Kysely } from 'kysely';

/**
 * The search table keeps each transaction's booking date too, so a `q=` page (alone or for one organization) takes
 * its first rows in page order from the search table's matches, instead of looking every match up in
 * `transactions` first. The search step writes it with the description (src/storage/search.repo.ts).
 *
 * Migration 20261206T070000000Z now creates the column (filled, not null) with the table, before its indexes are
 * built: on a database it migrated this one changes nothing and reads no row. Only a database that ran its earlier
 * version (without the column; never deployed) gets the column added and filled here, in one transaction.
 */
export async function up(db: Kysely<any>): Promise<void> {
  const present = await sql<{ not_null: boolean }>`
    select attnotnull as not_null from pg_attribute
    where attrelid = 'transaction_search'::regclass and attname = 'booking_date' and not attisdropped`.execute(db);
  if (present.rows[0]?.not_null) {
    return;
  }
  await sql`alter table transaction_search add column if not exists booking_date date`.execute(db);
  await sql`delete from transaction_search s where not exists (select 1 from transactions t where t.id = s.transaction_id)`.execute(
    db,
  );
  await sql`
    update transaction_search s set booking_date = t.booking_date from transactions t
    where t.id = s.transaction_id and s.booking_date is null`.execute(db);
  await sql`alter table transaction_search alter column booking_date set not null`.execute(db);
}

/** The column belongs to the table of 20261206T070000000Z now (the schema before this migration has it): kept. */
export function down(): Promise<void> {
  return Promise.resolve();
}
