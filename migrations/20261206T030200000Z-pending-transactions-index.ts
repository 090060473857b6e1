import { sql, type Kysely } from 'kysely';

/**
 * `status=pending` ("what is still pending") is a common question and its answer is small: only the current
 * day's intraday items are pending, everything older is posted, superseded or removed. Without an index it
 * was an ordered walk of the whole booking-date index looking for them (2.5 s for a page on 1.6M rows when
 * none were pending). A partial index holds just the live pending rows: tiny, and only intraday rows pay for
 * it on ingest (they leave it when the supersede step resolves them, an update that changes indexed columns
 * anyway).
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`create index transactions_pending_booking_id_idx on transactions (booking_date, id) where status = 'pending'`.execute(
    db,
  );
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('transactions_pending_booking_id_idx').ifExists().execute();
}
