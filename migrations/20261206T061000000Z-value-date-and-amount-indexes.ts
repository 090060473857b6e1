import { sql, type Kysely } from 'kysely';

/**
 * Two read-API filters had no index and were answered by walking the booking-date order until enough rows
 * matched: a one-day `valueDate` (3 s for a first page on 1.6M rows when the day lay far back) and an amount
 * range (0.2–1.2 s a page).
 *
 * - `(value_date, booking_date, id, organization_id)`: one value day is one range already in page order (the
 *   keyset cursor an index condition); the organization, last, is checked in the index for a scoped key, so the
 *   planner prices it as an index condition and never prefers walking the organization's booking-date index.
 * - The amount in major units, `amount_minor × 10^-decimal_location` (exact numeric: the same comparison the
 *   filter made before, `amount_minor >= min × 10^decimal_location`, per row scale), then the organization:
 *   an amount range is one range of this index, for one organization or all.
 *
 * Both lead with the column the filter bounds, so the planner has an index condition for them without any
 * statistics (autovacuum is off here; a backfill outruns autoanalyze).
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`create index transactions_value_date_booking_id_idx on transactions (value_date, booking_date, id, organization_id)`.execute(
    db,
  );
  await sql`create index transactions_amount_org_idx on transactions ((amount_minor * power(10::numeric, -decimal_location)), organization_id)`.execute(
    db,
  );
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('transactions_amount_org_idx').ifExists().execute();
  await db.schema.dropIndex('transactions_value_date_booking_id_idx').ifExists().execute();
}
