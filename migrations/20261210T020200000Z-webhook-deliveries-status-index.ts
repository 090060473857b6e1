import { sql, type Kysely } from 'kysely';
import { dropInvalidIndex, withLockTimeout } from '../src/storage/migrator.ts';

/**
 * An endpoint's deliveries of one status in the delivery log's order, `(endpoint_id, status, created_at, id)`, every
 * status: `GET /v1/webhooks/{id}/deliveries?status=` reads that status's deliveries and no others. It replaces
 * `webhook_deliveries_endpoint_unsucceeded_idx` (the same columns, deliveries that did not succeed only), dropped here:
 * `status=succeeded` walked the endpoint's deliveries checking each one's status, so after an outage a page read every
 * delivery that failed in it first.
 *
 * Without a transaction (`transactional = false`): the index is built CONCURRENTLY (reads and writes go on), and an
 * interrupted build's INVALID index is dropped and built again on the next run; the replaced one is dropped after.
 */
export const transactional = false;

/** None: a concurrent build's or drop's waits block no reads or writes; a timeout would leave an INVALID index. */
const LOCK_TIMEOUT = '0';

const NAME = 'webhook_deliveries_endpoint_status_idx';
const REPLACED = 'webhook_deliveries_endpoint_unsucceeded_idx';

export async function up(db: Kysely<any>): Promise<void> {
  await withLockTimeout(db, LOCK_TIMEOUT, async () => {
    await dropInvalidIndex(db, NAME);
    await sql`create index concurrently if not exists ${sql.id(NAME)}
      on webhook_deliveries (endpoint_id, status, created_at, id)`.execute(db);
    await sql`drop index concurrently if exists ${sql.id(REPLACED)}`.execute(db);
  });
}

export async function down(db: Kysely<any>): Promise<void> {
  await withLockTimeout(db, LOCK_TIMEOUT, async () => {
    await dropInvalidIndex(db, REPLACED);
    await sql`create index concurrently if not exists ${sql.id(REPLACED)}
      on webhook_deliveries (endpoint_id, status, created_at, id) where status <> 'succeeded'`.execute(db);
    await sql`drop index concurrently if exists ${sql.id(NAME)}`.execute(db);
  });
}
