import { sql, type Kysely } from 'kysely';

/**
 * The search step's bulk catch-up (src/events/search-index.ts, src/storage/search-bulk.repo.ts) builds a fresh search
 * table next to `transaction_search` and swaps it in. Its progress lives in the step's one state row, so a process
 * killed mid-way leaves a state the next run resumes from:
 * - `rebuild_position_*`: the feed position the fresh table is complete up to, recorded BEFORE its fill reads
 *   `transactions` (null: no bulk catch-up in progress);
 * - `rebuild_after`: the last transaction id copied (the fill goes in primary-key order, one committed chunk at a time);
 * - `rebuild_filled_at`: set when the fill is complete (then its indexes are built and the table is swapped in);
 * - `rebuild_started_at`: when it began (logs, metrics).
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('transaction_search_state')
    .addColumn('rebuild_position_xid', sql`xid8`)
    .addColumn('rebuild_position_id', 'bigint')
    .addColumn('rebuild_after', 'uuid')
    .addColumn('rebuild_filled_at', 'timestamptz')
    .addColumn('rebuild_started_at', 'timestamptz')
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop table if exists transaction_search_rebuild`.execute(db);
  await db.schema
    .alterTable('transaction_search_state')
    .dropColumn('rebuild_position_xid')
    .dropColumn('rebuild_position_id')
    .dropColumn('rebuild_after')
    .dropColumn('rebuild_filled_at')
    .dropColumn('rebuild_started_at')
    .execute();
}
