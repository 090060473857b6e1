import { sql, type Kysely } from 'kysely';
import { dropInvalidIndex, withLockTimeout } from '../src/storage/migrator.ts';

/**
 * An account's rows of one value day in booking-date order, `(account_id, value_date, booking_date, id)`: the read API's
 * pages with an account and value dates, each value day one ordered range with the keyset cursor an index condition.
 * Without it such a page was read from `(value_date, booking_date, id, organization_id)`, checking the account on every
 * row: up to a day of the whole organization's rows (of every organization, for a key of all of them) per value day.
 * No existing index could serve both: `(account_id, booking_date, id)` gives an account's pages without value dates
 * in page order, which this one cannot.
 *
 * Without a transaction (`transactional = false`): the index is built CONCURRENTLY (reads and writes go on), and an
 * interrupted build's INVALID index is dropped and built again on the next run.
 */
export const transactional = false;

/** None: a concurrent build's or drop's waits block no reads or writes; a timeout would leave an INVALID index. */
const LOCK_TIMEOUT = '0';

const NAME = 'transactions_account_value_date_booking_id_idx';

export async function up(db: Kysely<any>): Promise<void> {
  await withLockTimeout(db, LOCK_TIMEOUT, async () => {
    await dropInvalidIndex(db, NAME);
    await sql`create index concurrently if not exists ${sql.id(NAME)} on transactions (account_id, value_date, booking_date, id)`.execute(
      db,
    );
  });
}

export async function down(db: Kysely<any>): Promise<void> {
  await withLockTimeout(db, LOCK_TIMEOUT, async () => {
    await sql`drop index concurrently if exists ${sql.id(NAME)}`.execute(db);
  });
}
