import { sql, type Kysely } from 'kysely';
import { dropInvalidIndex, withLockTimeout } from '../src/storage/migrator.ts';

/**
 * The milestone event lists with a `type` and an organization or an integration (GET /v1/events?type=… with an
 * organization's key, or with `integrationId`): `(organization_id, type, xid, id)` and `(integration_id, type, xid,
 * id)` serve them by construction. Without statistics the planner picked between the scope's `(…, xid, id)` and
 * `(type, xid, id)` by their sizes alone, so whether a small organization's page read its own events or every
 * organization's events of the type depended on the index sizes of the day.
 *
 * Without a transaction (`transactional = false`): the indexes are built CONCURRENTLY (reads and writes go on), and an
 * interrupted build's INVALID index is dropped and built again on the next run.
 */
export const transactional = false;

/** None: a concurrent build's or drop's waits block no reads or writes; a timeout would leave an INVALID index. */
const LOCK_TIMEOUT = '0';

const INDEXES = [
  { name: 'outbox_events_org_type_xid_id_idx', column: 'organization_id' },
  { name: 'outbox_events_integration_type_xid_id_idx', column: 'integration_id' },
] as const;

export async function up(db: Kysely<any>): Promise<void> {
  await withLockTimeout(db, LOCK_TIMEOUT, async () => {
    for (const { name, column } of INDEXES) {
      await dropInvalidIndex(db, name);
      await sql`create index concurrently if not exists ${sql.id(name)} on outbox_events (${sql.id(column)}, type, xid, id)`.execute(
        db,
      );
    }
  });
}

export async function down(db: Kysely<any>): Promise<void> {
  await withLockTimeout(db, LOCK_TIMEOUT, async () => {
    for (const { name } of [...INDEXES].reverse()) {
      await sql`drop index concurrently if exists ${sql.id(name)}`.execute(db);
    }
  });
}
