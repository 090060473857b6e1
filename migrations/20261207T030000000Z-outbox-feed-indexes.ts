import { sql, type Kysely } from 'kysely';
import { dropInvalidIndex, withLockTimeout } from '../src/storage/migrator.ts';

/**
 * The milestone event lists (GET /v1/events, GET /v1/integrations/{id}/events) read the outbox in commit order,
 * `(xid, id)` after a cursor, as the change feed does. An organization's and an integration's pages need that order
 * after their own column to be served by an index without statistics (autovacuum is off): `(organization_id, xid,
 * id)` and `(integration_id, xid, id)`. They replace `(organization_id, id)` and `(integration_id, id)`, which only
 * the former sequence-number order used (onboarding's lookup of an integration's `integration.created` reads the
 * integration's few events through the new one). An all-organizations list of one `type` gets `(type, xid, id)`.
 *
 * Without a transaction (`transactional = false`): the indexes are built CONCURRENTLY (reads and writes go on), and an
 * interrupted build's INVALID index is dropped and built again on the next run.
 */
export const transactional = false;

/** None: a concurrent build's or drop's waits block no reads or writes; a timeout would leave an INVALID index. */
const LOCK_TIMEOUT = '0';

const INDEXES = [
  { name: 'outbox_events_org_xid_id_idx', column: 'organization_id', replaces: 'outbox_events_org_idx' },
  { name: 'outbox_events_integration_xid_id_idx', column: 'integration_id', replaces: 'outbox_events_integration_idx' },
] as const;
const TYPE_INDEX = 'outbox_events_type_xid_id_idx';

export async function up(db: Kysely<any>): Promise<void> {
  await withLockTimeout(db, LOCK_TIMEOUT, async () => {
    for (const { name, column, replaces } of INDEXES) {
      await dropInvalidIndex(db, name);
      await sql`create index concurrently if not exists ${sql.id(name)} on outbox_events (${sql.id(column)}, xid, id)`.execute(
        db,
      );
      await sql`drop index concurrently if exists ${sql.id(replaces)}`.execute(db);
    }
    await dropInvalidIndex(db, TYPE_INDEX);
    await sql`create index concurrently if not exists ${sql.id(TYPE_INDEX)} on outbox_events (type, xid, id)`.execute(
      db,
    );
  });
}

export async function down(db: Kysely<any>): Promise<void> {
  await withLockTimeout(db, LOCK_TIMEOUT, async () => {
    await sql`drop index concurrently if exists ${sql.id(TYPE_INDEX)}`.execute(db);
    for (const { name, column, replaces } of INDEXES) {
      await dropInvalidIndex(db, replaces);
      await sql`create index concurrently if not exists ${sql.id(replaces)} on outbox_events (${sql.id(column)}, id)`.execute(
        db,
      );
      await sql`drop index concurrently if exists ${sql.id(name)}`.execute(db);
    }
  });
}
