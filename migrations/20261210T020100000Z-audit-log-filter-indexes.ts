import { sql, type Kysely } from 'kysely';
import { dropInvalidIndex, withLockTimeout } from '../src/storage/migrator.ts';

/**
 * The audit log's refinements in page order, of every organization and of one: `(method, id)`, `(route, id)` and
 * `((status_code >= 400), id)` (the outcome), each also after `organization_id`. `GET /v1/audit?method=` (or `route=`,
 * `outcome=`) without `from`/`to` is a backward walk of that value's entries that stops at the page. Without them a
 * refinement was checked along the scope's walk of the log: a rare value read the scope's log until its page was
 * full, a value no entry has the whole of it.
 *
 * Without a transaction (`transactional = false`): the indexes are built CONCURRENTLY (reads and writes go on), and an
 * interrupted build's INVALID index is dropped and built again on the next run.
 */
export const transactional = false;

/** None: a concurrent build's or drop's waits block no reads or writes; a timeout would leave an INVALID index. */
const LOCK_TIMEOUT = '0';

const INDEXES: [name: string, columns: ReturnType<typeof sql.raw>][] = [
  ['audit_log_method_id_idx', sql.raw('method, id')],
  ['audit_log_org_method_id_idx', sql.raw('organization_id, method, id')],
  ['audit_log_route_id_idx', sql.raw('route, id')],
  ['audit_log_org_route_id_idx', sql.raw('organization_id, route, id')],
  ['audit_log_failed_id_idx', sql.raw('(status_code >= 400), id')],
  ['audit_log_org_failed_id_idx', sql.raw('organization_id, (status_code >= 400), id')],
];

export async function up(db: Kysely<any>): Promise<void> {
  await withLockTimeout(db, LOCK_TIMEOUT, async () => {
    for (const [name, columns] of INDEXES) {
      await dropInvalidIndex(db, name);
      await sql`create index concurrently if not exists ${sql.id(name)} on audit_log (${columns})`.execute(db);
    }
  });
}

export async function down(db: Kysely<any>): Promise<void> {
  await withLockTimeout(db, LOCK_TIMEOUT, async () => {
    for (const [name] of INDEXES) {
      await sql`drop index concurrently if exists ${sql.id(name)}`.execute(db);
    }
  });
}
