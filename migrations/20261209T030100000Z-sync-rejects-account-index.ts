import { sql, type Kysely } from 'kysely';
import { dropInvalidIndex, withLockTimeout } from '../src/storage/migrator.ts';

/**
 * An account's rejected records newest first, `(account_id, id)`: `GET /v1/accounts/{id}/rejects` (all, or resolved)
 * reads the account's rejects in page order and stops at the page. Without it a page walked every account's rejects
 * backwards along the primary key checking the account on each (the open rejects' partial indexes hold none of the
 * resolved ones, and rejects are never purged), all of them for an account with few or old rejects.
 *
 * Without a transaction (`transactional = false`): the index is built CONCURRENTLY (reads and writes go on), and an
 * interrupted build's INVALID index is dropped and built again on the next run.
 */
export const transactional = false;

/** None: a concurrent build's or drop's waits block no reads or writes; a timeout would leave an INVALID index. */
const LOCK_TIMEOUT = '0';

const NAME = 'sync_rejects_account_id_idx';

export async function up(db: Kysely<any>): Promise<void> {
  await withLockTimeout(db, LOCK_TIMEOUT, async () => {
    await dropInvalidIndex(db, NAME);
    await sql`create index concurrently if not exists ${sql.id(NAME)} on sync_rejects (account_id, id)`.execute(db);
  });
}

export async function down(db: Kysely<any>): Promise<void> {
  await withLockTimeout(db, LOCK_TIMEOUT, async () => {
    await sql`drop index concurrently if exists ${sql.id(NAME)}`.execute(db);
  });
}
