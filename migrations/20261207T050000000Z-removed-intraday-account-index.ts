import { sql, type Kysely } from 'kysely';
import { dropInvalidIndex, withLockTimeout } from '../src/storage/migrator.ts';

/**
 * Pending resolution (every prior-day run and backfill window, under the account's write lock) first reads the
 * account's intraday items it removed earlier that no posted row replaces yet (`removedNotInPriorDay`): a late posted
 * record may still supersede them. `(account_id, booking_date)` holding exactly those rows (`status = 'removed' and
 * post_code = 'I' and superseded_by is null`, the query's own conditions) reads the account's candidates of the dates
 * and no other. Without it, a never-analyzed table read them through an index of every account's removed rows (all of
 * them, or all of the dates'), or of all the account's rows, and checked each.
 *
 * Only an intraday item that pending resolution removed enters it (an update that already changes `status`, an indexed
 * column); every other row pays the predicate check (see the README's index table).
 *
 * Without a transaction (`transactional = false`): the index is built CONCURRENTLY (reads and writes go on), and an
 * interrupted build's INVALID index is dropped and built again on the next run.
 */
export const transactional = false;

/** None: a concurrent build's or drop's waits block no reads or writes; a timeout would leave an INVALID index. */
const LOCK_TIMEOUT = '0';

const INDEX = 'transactions_removed_intraday_account_booking_idx';

export async function up(db: Kysely<any>): Promise<void> {
  await withLockTimeout(db, LOCK_TIMEOUT, async () => {
    await dropInvalidIndex(db, INDEX);
    await sql`create index concurrently if not exists ${sql.id(INDEX)} on transactions (account_id, booking_date)
      where status = 'removed' and post_code = 'I' and superseded_by is null`.execute(db);
  });
}

export async function down(db: Kysely<any>): Promise<void> {
  await withLockTimeout(db, LOCK_TIMEOUT, async () => {
    await sql`drop index concurrently if exists ${sql.id(INDEX)}`.execute(db);
  });
}
