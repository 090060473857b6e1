import { sql, type Kysely } from 'kysely';

/**
 * Text search (`q=`) moves off the ingest path. The trigram GIN on `transactions.description` cost more
 * Postgres CPU per stored row than the row itself; it now lives on `transaction_search`, one row per
 * transaction (its organization, its booking date and its description as `q=` compares it), which a background
 * step fills after commit by following the change feed in its commit-safe `(xid, id)` order.
 * `transaction_search_state` holds the step's position: every change at or before it is reflected in
 * `transaction_search`; rows with a change event after it are read from `transactions` directly
 * (src/storage/read.repo.ts), so `q=` stays exact. The booking date lets a `q=` page take its first rows in page
 * order from the search table (btrees below), instead of looking every match up in `transactions` first.
 *
 * No foreign key to `transactions`: the step writes only ids taken from there, reads re-check the current row,
 * and a key would cost every write here a probe for nothing.
 *
 * ORDER MATTERS. This migration runs in one READ COMMITTED transaction of its own, each statement with a snapshot
 * of its own. The position is recorded FIRST, just below the xmin of that statement's snapshot: every transaction
 * with a lower xid had finished by then, so its rows are visible to the fill, whose snapshot is later. Any
 * transaction still running then (or starting later) has an xid at or above that xmin, so its change events are
 * after the position and `q=` reads its rows from `transactions` whether the fill saw them or not. (Read after
 * the fill, the position could pass a writer that committed between the two statements: its rows in neither.)
 * The indexes are built after the fill (one bulk build each, nothing updated in place), and the trigram GIN on
 * `transactions` is dropped by the LAST statement: it takes a brief ACCESS EXCLUSIVE lock on `transactions`
 * (it waits for the transactions reading or writing it and holds off new ones until this migration commits), so
 * no other work runs under it. Run the migrations before rolling out, as always. Migrations 20261206T071000000Z (booking date) and
 * 20261206T071500000Z (btrees) once did part of this on their own; they now change nothing on a database
 * migrated by this one.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('transaction_search')
    .addColumn('transaction_id', 'uuid', (c) => c.primaryKey())
    .addColumn('organization_id', 'uuid', (c) => c.notNull())
    .addColumn('description', 'text', (c) => c.notNull())
    .addColumn('booking_date', 'date', (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('transaction_search_state')
    .addColumn('id', 'smallint', (c) => c.primaryKey().defaultTo(1))
    .addColumn('position_xid', sql`xid8`, (c) => c.notNull())
    .addColumn('position_id', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addCheckConstraint('transaction_search_state_single_row', sql`id = 1`)
    .execute();
  // The position before the fill (see ORDER MATTERS above).
  await sql`
    insert into transaction_search_state (id, position_xid, position_id)
    select 1, ((pg_snapshot_xmin(pg_current_snapshot())::text::numeric - 1)::text)::xid8, 9223372036854775807`.execute(db);
  await sql`
    insert into transaction_search (transaction_id, organization_id, description, booking_date)
    select id, organization_id, description, booking_date from transactions`.execute(db);
  await sql`create index transaction_search_description_trgm_idx on transaction_search using gin (description gin_trgm_ops)`.execute(db);
  await sql`create index transaction_search_booking_idx on transaction_search (booking_date, transaction_id)`.execute(db);
  await sql`create index transaction_search_org_booking_idx on transaction_search (organization_id, booking_date, transaction_id)`.execute(db);
  // Last: the exclusive lock on `transactions` is held from here to the commit only.
  await db.schema.dropIndex('transactions_description_trgm_idx').ifExists().execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`create index if not exists transactions_description_trgm_idx on transactions using gin (description gin_trgm_ops)`.execute(db);
  await db.schema.dropTable('transaction_search_state').ifExists().execute();
  await db.schema.dropTable('transaction_search').ifExists().execute();
}
