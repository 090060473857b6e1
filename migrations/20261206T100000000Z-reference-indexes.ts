import { sql, type Kysely } from 'kysely';

/**
 * `reference=` (the bank reference or the customer reference equals the text), for one organization or for all of
 * them. Both reference indexes led with the organization, so a key of every organization had no index condition on
 * the reference (1.8 s a page on 1.6M rows: a walk of the booking-date order checking every row). The read side
 * (src/storage/read.repo.ts) reads one scan per column and merges them; each scan's index now leads with its column:
 *
 * - `(bank_reference, organization_id)`: a bank reference names one item (with its pending twin), a few rows a value;
 *   the organization is checked in the index for a scoped key.
 * - `(customer_reference, booking_date, id, organization_id)`: a customer reference can be shared by many rows (the
 *   benchmark's ledger gives a fifth of them "NEW"); one value is then one range already in page order, with the
 *   keyset cursor an index condition, so a page reads about a page of rows; the organization, last, is checked in the
 *   index for a scoped key.
 *
 * Each replaces the index it supersedes (same partial predicate: empty and over-long references are not indexed).
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('transactions_org_bank_reference_idx').ifExists().execute();
  await sql`create index transactions_bank_reference_idx on transactions (bank_reference, organization_id)
    where bank_reference <> '' and char_length(bank_reference) <= 200`.execute(db);
  await db.schema.dropIndex('transactions_org_customer_reference_idx').ifExists().execute();
  await sql`create index transactions_customer_reference_idx on transactions (customer_reference, booking_date, id, organization_id)
    where customer_reference <> '' and char_length(customer_reference) <= 200`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('transactions_customer_reference_idx').ifExists().execute();
  await sql`create index transactions_org_customer_reference_idx on transactions (organization_id, customer_reference)
    where customer_reference <> '' and char_length(customer_reference) <= 200`.execute(db);
  await db.schema.dropIndex('transactions_bank_reference_idx').ifExists().execute();
  await sql`create index transactions_org_bank_reference_idx on transactions (organization_id, bank_reference)
    where bank_reference <> '' and char_length(bank_reference) <= 200`.execute(db);
}
