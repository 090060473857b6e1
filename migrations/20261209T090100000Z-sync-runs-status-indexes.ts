import { sql, type Kysely } from 'kysely';
import { dropInvalidIndex, withLockTimeout } from '../src/storage/migrator.ts';

/**
 * Top-level runs that did not succeed, by status in page order: `(organization_id, status, created_at, id)` and
 * `(status, created_at, id)`, `where parent_run_id is null and status <> 'succeeded'`. `GET /v1/sync-runs?status=failed`
 * (or partial, queued, running) of an organization or of every organization is a backward walk of that status's runs
 * that stops at the page. Without them the page walked the scope's top-level runs checking each one's status: a rare
 * status read the scope's runs until its page was full. Small: runs that did not succeed only.
 *
 * Without a transaction (`transactional = false`): the indexes are built CONCURRENTLY (reads and writes go on), and an
 * interrupted build's INVALID index is dropped and built again on the next run.
 */
export const transactional = false;

/** None: a concurrent build's or drop's waits block no reads or writes; a timeout would leave an INVALID index. */
const LOCK_TIMEOUT = '0';

const INDEXES: [string, string[]][] = [
  ['sync_runs_top_org_status_created_idx', ['organization_id', 'status', 'created_at', 'id']],
  ['sync_runs_top_status_created_idx', ['status', 'created_at', 'id']],
];

export async function up(db: Kysely<any>): Promise<void> {
  await withLockTimeout(db, LOCK_TIMEOUT, async () => {
    for (const [name, columns] of INDEXES) {
      await dropInvalidIndex(db, name);
      await sql`create index concurrently if not exists ${sql.id(name)} on sync_runs (${sql.join(columns.map((c) => sql.id(c)))})
        where parent_run_id is null and status <> 'succeeded'`.execute(db);
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
