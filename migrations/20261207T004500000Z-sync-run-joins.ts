import { sql, type Kysely } from 'kysely';

/**
 * `sync_run_joins`: a caller-chosen run id (a scheduled tick's, derived from its job id) that joined another
 * trigger's unfinished run instead of creating its own. A tick re-processed after a crash (BullMQ never heard it
 * finish) asks for the same id again and gets the run it joined, even after that run started; without the record it
 * created a second run under its own id and fetched the same dates again. One row per joining tick (rare: a tick
 * that meets another trigger's queued run); the foreign key cascades if a run is ever deleted.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('sync_run_joins')
    .addColumn('request_id', 'uuid', (c) => c.primaryKey())
    .addColumn('run_id', 'uuid', (c) => c.notNull().references('sync_runs.id').onDelete('cascade'))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  // The foreign key's delete check (a run removed) looks up by run.
  await db.schema.createIndex('sync_run_joins_run_id_idx').on('sync_run_joins').column('run_id').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('sync_run_joins').execute();
}
