import { sql, type Kysely } from 'kysely';
import { dropInvalidIndex, withLockTimeout } from '../src/storage/migrator.ts';

/**
 * The audit log by time, `(occurred_at)`: `GET /v1/audit` with `from`/`to` reads the range's entries when a bounded
 * walk of the log from the page's start does not fill the page. Without it a range walked the log from its newest
 * entry checking each one's time (an old day read every newer entry; a range with nothing in it, the whole log).
 *
 * Without a transaction (`transactional = false`): the index is built CONCURRENTLY (reads and writes go on), and an
 * interrupted build's INVALID index is dropped and built again on the next run.
 */
export const transactional = false;

/** None: a concurrent build's or drop's waits block no reads or writes; a timeout would leave an INVALID index. */
const LOCK_TIMEOUT = '0';

const NAME = 'audit_log_occurred_at_idx';

export async function up(db: Kysely<any>): Promise<void> {
  await withLockTimeout(db, LOCK_TIMEOUT, async () => {
    await dropInvalidIndex(db, NAME);
    await sql`create index concurrently if not exists ${sql.id(NAME)} on audit_log (occurred_at)`.execute(db);
  });
}

export async function down(db: Kysely<any>): Promise<void> {
  await withLockTimeout(db, LOCK_TIMEOUT, async () => {
    await sql`drop index concurrently if exists ${sql.id(NAME)}`.execute(db);
  });
}
