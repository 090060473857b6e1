import { sql, type Kysely } from 'kysely';
import { dropInvalidIndex, withLockTimeout } from '../src/storage/migrator.ts';

/**
 * The rows of channels other than the J.P. Morgan API (statement files), by account and booking date. A page
 * of the API's records that inserts anything looks for rows of another channel that the same items may already
 * have (the loose cross-channel match, src/sync/loose-match.ts). Read through `(account_id, booking_date, id)` that
 * look-up read every row of the page's days (a backfill: every page, about 7 ms each, to find nothing); through
 * this index it reads only file rows, none for an account no file was imported for.
 *
 * API rows pay only the predicate check on ingest; file rows one more btree entry.
 *
 * Without a transaction (`transactional = false`): built CONCURRENTLY (reads and writes go on), and an interrupted
 * build's INVALID index is dropped and built again on the next run.
 */
export const transactional = false;

/** None: a concurrent build's or drop's waits block no reads or writes; a timeout would leave an INVALID index. */
const LOCK_TIMEOUT = '0';
const NAME = 'transactions_other_channel_account_booking_idx';

export async function up(db: Kysely<any>): Promise<void> {
  await withLockTimeout(db, LOCK_TIMEOUT, async () => {
    await dropInvalidIndex(db, NAME);
    await sql`create index concurrently if not exists ${sql.id(NAME)} on transactions (account_id, booking_date) where source <> 'jpm_api'`.execute(
      db,
    );
  });
}

export async function down(db: Kysely<any>): Promise<void> {
  await withLockTimeout(db, LOCK_TIMEOUT, async () => {
    await sql`drop index concurrently if exists ${sql.id(NAME)}`.execute(db);
  });
}
