import { sql, type Kysely } from 'kysely';

/**
 * The `supersedes` field of a posted transaction is `select id from transactions where superseded_by = $posted
 * order by id limit 1`. With an index on `superseded_by` alone, a planner without statistics (autovacuum is off,
 * or a bulk load outran autoanalyze) prefers walking the primary key in id order and filtering, which reads the
 * whole table for every row returned. `(superseded_by, id)` answers the equality and the order in one index
 * descent, so it is the cheapest plan with or without statistics; it replaces the single-column index (which it
 * covers: the supersede step's "not exists (… where superseded_by = t.id)" uses it too).
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`create index transactions_superseded_by_id_idx on transactions (superseded_by, id) where superseded_by is not null`.execute(
    db,
  );
  await db.schema.dropIndex('transactions_superseded_by_idx').ifExists().execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`create index if not exists transactions_superseded_by_idx on transactions (superseded_by) where superseded_by is not null`.execute(
    db,
  );
  await db.schema.dropIndex('transactions_superseded_by_id_idx').ifExists().execute();
}
