import { sql, type Kysely } from 'kysely';
import { dropInvalidIndex, withLockTimeout } from '../src/storage/migrator.ts';

/**
 * `status=removed` (items the bank withdrew, about 1 % of rows) in each page order, for one organization or for all of
 * them: `(booking_date, id)`, `(organization_id, booking_date, id)`, `(id)` and `(organization_id, id)`, each holding
 * only the removed rows. Without them a page was a walk of the scope's index in page order checking each row (about
 * a hundred rows read per row of the page) or, after the first page of a key of every organization, every row of
 * the table sorted (94-190 ms a page at 400k-1M rows without statistics). With them a page reads its page.
 *
 * Only removed rows pay for them on ingest (a row leaves `posted` for `removed` by an update that already changes an
 * indexed column, `status` being in the pending index's predicate); every other row pays the predicate check
 * (see the README's index table).
 *
 * Without a transaction (`transactional = false`): each index is built CONCURRENTLY (reads and writes go on), and an
 * interrupted build's INVALID index is dropped and built again on the next run.
 */
export const transactional = false;

/** None: a concurrent build's or drop's waits block no reads or writes; a timeout would leave an INVALID index. */
const LOCK_TIMEOUT = '0';

const INDEXES: [string, ReturnType<typeof sql>][] = [
  ['transactions_removed_booking_id_idx', sql`(booking_date, id)`],
  ['transactions_removed_org_booking_id_idx', sql`(organization_id, booking_date, id)`],
  ['transactions_removed_id_idx', sql`(id)`],
  ['transactions_removed_org_id_idx', sql`(organization_id, id)`],
];

export async function up(db: Kysely<any>): Promise<void> {
  await withLockTimeout(db, LOCK_TIMEOUT, async () => {
    for (const [name, columns] of INDEXES) {
      await dropInvalidIndex(db, name);
      await sql`create index concurrently if not exists ${sql.id(name)} on transactions ${columns} where status = 'removed'`.execute(
        db,
      );
    }
  });
}

export async function down(db: Kysely<any>): Promise<void> {
  await withLockTimeout(db, LOCK_TIMEOUT, async () => {
    for (const [name] of [...INDEXES].reverse()) {
      await sql`drop index concurrently if exists ${sql.id(name)}`.execute(db);
    }
  });
}
