import { sql, type Kysely } from 'kysely';
import { dropInvalidIndex, withLockTimeout } from '../src/storage/migrator.ts';

/**
 * One attempt number per delivery: a unique index on `webhook_delivery_attempts (delivery_id, attempt)`. Attempt
 * numbers are given when a delivery is claimed (each claim counts one), so two attempts of a delivery never share one
 * any more; the index holds the runner to that.
 *
 * Attempts logged before this migration may repeat a number: a claim taken for a whole batch could run out while the
 * batch was still being sent, a second runner sent the same delivery, and both logged the number they read then.
 * Those rows are true records of two sends and stay; the index covers the rows written after the migration (ids
 * above the largest one now), so it builds on any history. The non-unique `(delivery_id, attempt)` index stays for
 * reading a delivery's attempts.
 *
 * Without a transaction (`transactional = false`): the index is built CONCURRENTLY (reads and writes go on), and an
 * interrupted build's INVALID index is dropped and built again (with a new bound) on the next run.
 */
export const transactional = false;

/** None: a concurrent build's or drop's waits block no reads or writes; a timeout would leave an INVALID index. */
const LOCK_TIMEOUT = '0';

const NAME = 'webhook_delivery_attempts_number_key';

export async function up(db: Kysely<any>): Promise<void> {
  await withLockTimeout(db, LOCK_TIMEOUT, async () => {
    await dropInvalidIndex(db, NAME);
    const { rows } = await sql<{ last: string }>`
      select coalesce(max(id), 0)::text as last from webhook_delivery_attempts`.execute(db);
    const last = BigInt(rows[0]?.last ?? '0');
    await sql`create unique index concurrently if not exists ${sql.id(NAME)}
      on webhook_delivery_attempts (delivery_id, attempt) where id > ${sql.lit(last.toString())}::bigint`.execute(db);
  });
}

export async function down(db: Kysely<any>): Promise<void> {
  await withLockTimeout(db, LOCK_TIMEOUT, async () => {
    await sql`drop index concurrently if exists ${sql.id(NAME)}`.execute(db);
  });
}
