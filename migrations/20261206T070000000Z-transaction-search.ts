import { sql, type Kysely } from 'kysely';

/**
 * Text search (`q=`) moves off the ingest path. The trigram GIN on `transactions.description` cost more
 * Postgres CPU per stored row than the row itself; it now lives on `transaction_search`, one row per
 * transaction (its organization and its description as `q=` compares it), which a background step fills after
 * commit by following the change feed in its commit-safe `(xid, id)` order. `transaction_search_state` holds
 * the step's position: every change at or before it is reflected in `transaction_search`; rows with a change
 * event after it are read from `transactions` directly (src/storage/read.repo.ts), so `q=` stays exact.
 *
 * No foreign key to `transactions`: the step writes only ids taken from there, reads re-check the current row,
 * and a key would cost every write here a probe for nothing.
 *
 * The table is filled from `transactions` as of this migration's snapshot, and the position is set just below
 * the snapshot's xmin: every transaction with a lower xid has finished, so its changes are in that snapshot;
 * any later change has an event after the position.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('transaction_search')
    .addColumn('transaction_id', 'uuid', (c) => c.primaryKey())
    .addColumn('organization_id', 'uuid', (c) => c.notNull())
    .addColumn('description', 'text', (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('transaction_search_state')
    .addColumn('id', 'smallint', (c) => c.primaryKey().defaultTo(1))
    .addColumn('position_xid', sql`xid8`, (c) => c.notNull())
    .addColumn('position_id', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addCheckConstraint('transaction_search_state_single_row', sql`id = 1`)
    .execute();
  await sql`
    insert into transaction_search (transaction_id, organization_id, description)
    select id, organization_id, description from transactions`.execute(db);
  await sql`
    insert into transaction_search_state (id, position_xid, position_id)
    select 1, ((pg_snapshot_xmin(pg_current_snapshot())::text::numeric - 1)::text)::xid8, 9223372036854775807`.execute(db);
  await sql`create index transaction_search_description_trgm_idx on transaction_search using gin (description gin_trgm_ops)`.execute(db);
  await db.schema.dropIndex('transactions_description_trgm_idx').ifExists().execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`create index if not exists transactions_description_trgm_idx on transactions using gin (description gin_trgm_ops)`.execute(db);
  await db.schema.dropTable('transaction_search_state').ifExists().execute();
  await db.schema.dropTable('transaction_search').ifExists().execute();
}
