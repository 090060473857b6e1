import { sql, type Kysely } from 'kysely';

/**
 * A common word matches a large share of the rows: the first page of its matches in booking-date order is then
 * found sooner by walking the search table in that order than by collecting every match from the trigram index
 * and sorting them. These btrees give the planner that walk (for all organizations and for one); the search step
 * maintains them after commit, so they cost ingestion nothing.
 *
 * Migration 20261206T070000000Z now builds them (CONCURRENTLY, after filling the table and before `q=` can use it):
 * on a database it migrated this one changes nothing (IF NOT EXISTS: nothing is built). Only a database that ran its
 * earlier version gets them here, built in this migration's transaction (that version was never deployed).
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`create index if not exists transaction_search_booking_idx on transaction_search (booking_date, transaction_id)`.execute(
    db,
  );
  await sql`create index if not exists transaction_search_org_booking_idx on transaction_search (organization_id, booking_date, transaction_id)`.execute(
    db,
  );
}

/** The btrees belong to the table of 20261206T070000000Z now (the schema before this migration has them): kept. */
export function down(): Promise<void> {
  return Promise.resolve();
}
