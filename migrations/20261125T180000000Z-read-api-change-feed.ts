import { sql, type Kysely } from 'kysely';

/**
 * Read API indexes and change-feed retention state (issue 8).
 *
 * Indexes follow the read API's keyset orders (see src/storage/read.repo.ts):
 *  - `(booking_date, id)` for all-organization listings, `(account_id, booking_date, id)` for one
 *    account, `(organization_id, id)` for the `firstSeen` order (ids are UUIDv7, time-ordered);
 *  - references are looked up exactly (reconciliation asks "where is the payment with ref X");
 *  - description text search uses a trigram GIN index so `ILIKE '%…%'` does not scan the table;
 *  - `superseded_by` answers "which pending item did this posted one replace" (the `supersedes` field).
 *
 * `change_feed_state` is one row: the feed's epoch (bumped when the feed is reset, which invalidates
 * every cursor) and the purge horizon, the last (xid, id) removed by retention. A cursor below the
 * horizon may have missed purged events and is answered with 410 Gone.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`create extension if not exists pg_trgm`.execute(db);

  await db.schema
    .createIndex('transactions_booking_id_idx')
    .on('transactions')
    .columns(['booking_date', 'id'])
    .execute();
  await db.schema
    .createIndex('transactions_account_booking_id_idx')
    .on('transactions')
    .columns(['account_id', 'booking_date', 'id'])
    .execute();
  await db.schema
    .createIndex('transactions_org_id_idx')
    .on('transactions')
    .columns(['organization_id', 'id'])
    .execute();
  await db.schema
    .createIndex('transactions_superseded_by_idx')
    .on('transactions')
    .column('superseded_by')
    .where(sql.ref('superseded_by'), 'is not', null)
    .execute();
  await db.schema
    .createIndex('transactions_org_bank_reference_idx')
    .on('transactions')
    .columns(['organization_id', 'bank_reference'])
    .where('bank_reference', '<>', '')
    .execute();
  await db.schema
    .createIndex('transactions_org_customer_reference_idx')
    .on('transactions')
    .columns(['organization_id', 'customer_reference'])
    .where('customer_reference', '<>', '')
    .execute();
  await sql`create index transactions_description_trgm_idx on transactions using gin (description gin_trgm_ops)`.execute(
    db,
  );

  await db.schema
    .createIndex('balances_org_account_date_idx')
    .on('balances')
    .columns(['organization_id', 'account_id', 'as_of_date'])
    .execute();
  await db.schema
    .createIndex('transaction_versions_org_idx')
    .on('transaction_versions')
    .columns(['organization_id', 'transaction_id'])
    .execute();

  await db.schema
    .createTable('change_feed_state')
    .addColumn('id', 'smallint', (c) => c.primaryKey().defaultTo(1))
    .addColumn('epoch', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('purged_through_xid', sql`xid8`, (c) => c.notNull().defaultTo(sql`'0'::xid8`))
    .addColumn('purged_through_id', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('purged_at', 'timestamptz')
    .addColumn('reset_at', 'timestamptz')
    .addCheckConstraint('change_feed_state_single_row', sql`id = 1`)
    .execute();
  await sql`insert into change_feed_state (id) values (1)`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('change_feed_state').ifExists().execute();
  for (const index of [
    'transaction_versions_org_idx',
    'balances_org_account_date_idx',
    'transactions_description_trgm_idx',
    'transactions_org_customer_reference_idx',
    'transactions_org_bank_reference_idx',
    'transactions_superseded_by_idx',
    'transactions_org_id_idx',
    'transactions_account_booking_id_idx',
    'transactions_booking_id_idx',
  ]) {
    await db.schema.dropIndex(index).ifExists().execute();
  }
  // pg_trgm stays: other objects may use it, and dropping an extension is an operator's decision.
}
