import { sql, type Kysely } from 'kysely';
import { dropInvalidIndex, withLockTimeout } from '../src/storage/migrator.ts';

/**
 * An account's succeeded runs that fetched completed days' transactions (prior-day and range runs of all kinds or of
 * transactions, windows included), by the last day of their window: the balance proof (every prior-day run, backfill
 * window and heal) finds, per day it proves, the runs that fetched the day among those ending on or after it. Without
 * it each proof read every run of the account ever made (`sync_runs_account_idx`, intraday runs included) to find the
 * few covering its days: a cost that grows with the account's history, paid on every sync.
 *
 * Without a transaction (`transactional = false`): the index is built CONCURRENTLY (reads and writes go on), and an
 * interrupted build's INVALID index is dropped and built again on the next run.
 */
export const transactional = false;

/** None: a concurrent build's or drop's waits block no reads or writes; a timeout would leave an INVALID index. */
const LOCK_TIMEOUT = '0';

const NAME = 'sync_runs_day_fetch_idx';

export async function up(db: Kysely<any>): Promise<void> {
  await withLockTimeout(db, LOCK_TIMEOUT, async () => {
    await dropInvalidIndex(db, NAME);
    await sql`create index concurrently if not exists ${sql.id(NAME)} on sync_runs (account_id, window_to)
      where status = 'succeeded' and mode in ('prior_day', 'range') and kind in ('all', 'transactions')`.execute(db);
  });
}

export async function down(db: Kysely<any>): Promise<void> {
  await withLockTimeout(db, LOCK_TIMEOUT, async () => {
    await sql`drop index concurrently if exists ${sql.id(NAME)}`.execute(db);
  });
}
