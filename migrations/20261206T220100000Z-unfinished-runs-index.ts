import { sql, type Kysely } from 'kysely';
import { dropInvalidIndex, withLockTimeout } from '../src/storage/migrator.ts';

/**
 * The unfinished top-level runs (queued or running), oldest first: what every worker's recovery sweep reads each
 * interval (lost flows to enqueue again, standalone runs whose owner stopped). Without it the sweep walked every
 * top-level run ever made (`sync_runs_parent_idx` holds all of them under `parent_run_id is null`) to find the few
 * unfinished ones: a cost that grows with history, paid by every worker every minute.
 *
 * Without a transaction (`transactional = false`): the index is built CONCURRENTLY (reads and writes go on), and an
 * interrupted build's INVALID index is dropped and built again on the next run.
 */
export const transactional = false;

/** None: a concurrent build's or drop's waits block no reads or writes; a timeout would leave an INVALID index. */
const LOCK_TIMEOUT = '0';

const NAME = 'sync_runs_unfinished_idx';

export async function up(db: Kysely<any>): Promise<void> {
  await withLockTimeout(db, LOCK_TIMEOUT, async () => {
    await dropInvalidIndex(db, NAME);
    await sql`
      create index concurrently if not exists ${sql.id(NAME)} on sync_runs (created_at)
      where parent_run_id is null and status in ('queued', 'running')`.execute(db);
  });
}

export async function down(db: Kysely<any>): Promise<void> {
  await withLockTimeout(db, LOCK_TIMEOUT, async () => {
    await sql`drop index concurrently if exists ${sql.id(NAME)}`.execute(db);
  });
}
