import { sql, type Kysely } from 'kysely';

/**
 * The search table keeps each transaction's booking date too, so a `q=` page (alone or for one organization) takes
 * its first rows in page order from the search table's matches, instead of looking every match up in
 * `transactions` first. The search step writes it with the description (src/storage/search.repo.ts).
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table transaction_search add column booking_date date`.execute(db);
  await sql`delete from transaction_search s where not exists (select 1 from transactions t where t.id = s.transaction_id)`.execute(db);
  await sql`update transaction_search s set booking_date = t.booking_date from transactions t where t.id = s.transaction_id`.execute(db);
  await sql`alter table transaction_search alter column booking_date set not null`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`alter table transaction_search drop column booking_date`.execute(db);
}
