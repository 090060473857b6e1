import { sql, type Kysely } from 'kysely';
import { dropInvalidIndex, withLockTimeout } from '../src/storage/migrator.ts';

/**
 * An account's rows of one customer reference in booking-date order, `(account_id, customer_reference, booking_date,
 * id)`: the read API's `reference=` pages with an account. A customer reference is the customer's own text and many
 * rows of many accounts share one ("NEW"); without this index such a page was read from the organization's (or every
 * organization's) customer-reference index, checking the account on every row: every other account's rows of the
 * reference before the account's own. The bank reference needs none: the bank's reference is shared only by one
 * entry's detail rows.
 *
 * Same partial predicate as the other reference indexes (empty and over-long references are not indexed). Without a
 * transaction (`transactional = false`): built CONCURRENTLY (reads and writes go on), and an interrupted build's
 * INVALID index is dropped and built again on the next run.
 */
export const transactional = false;

/** None: a concurrent build's or drop's waits block no reads or writes; a timeout would leave an INVALID index. */
const LOCK_TIMEOUT = '0';

const NAME = 'transactions_account_customer_reference_idx';

export async function up(db: Kysely<any>): Promise<void> {
  await withLockTimeout(db, LOCK_TIMEOUT, async () => {
    await dropInvalidIndex(db, NAME);
    await sql`create index concurrently if not exists ${sql.id(NAME)} on transactions
      (account_id, customer_reference, booking_date, id)
      where customer_reference <> '' and char_length(customer_reference) <= 200`.execute(db);
  });
}

export async function down(db: Kysely<any>): Promise<void> {
  await withLockTimeout(db, LOCK_TIMEOUT, async () => {
    await sql`drop index concurrently if exists ${sql.id(NAME)}`.execute(db);
  });
}
