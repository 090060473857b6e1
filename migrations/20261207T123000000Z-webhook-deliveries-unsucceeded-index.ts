import { sql, type Kysely } from 'kysely';
import { dropInvalidIndex, withLockTimeout } from '../src/storage/migrator.ts';

/**
 * An endpoint's pending or failed deliveries in the delivery log's order, `(endpoint_id, status, created_at, id)` of the
 * deliveries that did not succeed: `GET /v1/webhooks/{id}/deliveries?status=failed` (or `pending`) reads them and no
 * others. Along `(endpoint_id, created_at, id)` a page walked every delivery of the endpoint checking its status, all
 * of them when few failed (the log grows by a delivery per event and is never purged). Succeeded deliveries, nearly all
 * of the log, are not in it: that status fills its page from the endpoint's index.
 *
 * Without a transaction (`transactional = false`): the index is built CONCURRENTLY (reads and writes go on), and an
 * interrupted build's INVALID index is dropped and built again on the next run.
 */
export const transactional = false;

/** None: a concurrent build's or drop's waits block no reads or writes; a timeout would leave an INVALID index. */
const LOCK_TIMEOUT = '0';

const NAME = 'webhook_deliveries_endpoint_unsucceeded_idx';

export async function up(db: Kysely<any>): Promise<void> {
  await withLockTimeout(db, LOCK_TIMEOUT, async () => {
    await dropInvalidIndex(db, NAME);
    await sql`create index concurrently if not exists ${sql.id(NAME)}
      on webhook_deliveries (endpoint_id, status, created_at, id) where status <> 'succeeded'`.execute(db);
  });
}

export async function down(db: Kysely<any>): Promise<void> {
  await withLockTimeout(db, LOCK_TIMEOUT, async () => {
    await sql`drop index concurrently if exists ${sql.id(NAME)}`.execute(db);
  });
}
