import { type Kysely } from 'kysely';

/**
 * `sync_runs.heartbeat_at`: when the process working a standalone run (a statement import, a validation
 * re-fetch) last said it is alive. Those runs have no queue job that a stalled-job check could hand to another
 * worker: a process that dies in the middle of one used to leave it `running` for ever. The owner touches the
 * column while it works; the workers' recovery sweep fails a run whose heartbeat has gone quiet. Run trees (the
 * scheduler's) leave it null: their jobs are recovered by BullMQ and the lost-job recovery.
 *
 * A nullable column without a default: adding it rewrites nothing.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('sync_runs').addColumn('heartbeat_at', 'timestamptz').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('sync_runs').dropColumn('heartbeat_at').execute();
}
