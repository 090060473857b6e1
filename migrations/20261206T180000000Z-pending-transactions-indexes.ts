import { sql, type Kysely } from 'kysely';
import { dropInvalidIndex, withLockTimeout } from '../src/storage/migrator.ts';

/**
 * `status=pending` (intraday items until their posted record supersedes them, a few % of rows) in the page orders
 * `transactions_pending_booking_id_idx` does not give: `(organization_id, booking_date, id)`, `(id)` and
 * `(organization_id, id)`, each holding only the pending rows (as `status=removed` has). Without them one
 * organization's pending page read every organization's pending rows: its booking-date orders walked
 * `(booking_date, id)` checking each row's organization, and its firstSeen order read the pending index whole and
 * sorted it, so one tenant's intraday backlog slowed every tenant's pending pages. With them a page reads its page.
 *
 * Only pending rows pay for them on ingest (a row leaves `pending` for `superseded` or `removed` by an update that
 * already changes an indexed column, `status` being in the partial indexes' predicates); every other row pays the
 * predicate check (see the README's index table).
 *
 * Without a transaction (`transactional = false`): each index is built CONCURRENTLY (reads and writes go on), and an
 * interrupted build's INVALID index is dropped and built again on the next run.
 */
export const transactional = false;

/** None: a concurrent build's or drop's waits block no reads or writes; a timeout would leave an INVALID index. */
const LOCK_TIMEOUT = '0';

const INDEXES: [string, ReturnType<typeof sql>][] = [
  ['transactions_pending_org_booking_id_idx', sql`(organization_id, booking_date, id)`],
  ['transactions_pending_id_idx', sql`(id)`],
  ['transactions_pending_org_id_idx', sql`(organization_id, id)`],
];

export async function up(db: Kysely<any>): Promise<void> {
  await withLockTimeout(db, LOCK_TIMEOUT, async () => {
    for (const [name, columns] of INDEXES) {
      await dropInvalidIndex(db, name);
      await sql`create index concurrently if not exists ${sql.id(name)} on transactions ${columns} where status = 'pending'`.execute(
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
