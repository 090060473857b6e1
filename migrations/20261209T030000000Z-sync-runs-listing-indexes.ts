import { sql, type Kysely } from 'kysely';
import { dropInvalidIndex, withLockTimeout } from '../src/storage/migrator.ts';

/**
 * The run listing (`GET /v1/sync-runs`, newest first, top-level runs only) of every organization, of one organization,
 * of one integration and of one account: each scope's top-level runs in the listing's order `(created_at, id)`, so a
 * page is a backward walk that stops at the page. Without them a never-analyzed table answered every page by reading
 * all of the scope's top-level runs (every run ever made for all organizations; a BitmapAnd of the parent and
 * organization indexes for one) and sorting them: an intraday schedule adds a run an account every few minutes, and
 * runs are never purged. Window rows (`parent_run_id` set, most of the table) are not in them.
 *
 * Without a transaction (`transactional = false`): the indexes are built CONCURRENTLY (reads and writes go on), and an
 * interrupted build's INVALID index is dropped and built again on the next run.
 */
export const transactional = false;

/** None: a concurrent build's or drop's waits block no reads or writes; a timeout would leave an INVALID index. */
const LOCK_TIMEOUT = '0';

const INDEXES: [name: string, scope: string[]][] = [
  ['sync_runs_top_created_idx', []],
  ['sync_runs_top_org_created_idx', ['organization_id']],
  ['sync_runs_top_integration_created_idx', ['integration_id']],
  ['sync_runs_top_account_created_idx', ['account_id']],
];

export async function up(db: Kysely<any>): Promise<void> {
  await withLockTimeout(db, LOCK_TIMEOUT, async () => {
    for (const [name, scope] of INDEXES) {
      await dropInvalidIndex(db, name);
      const columns = sql.join([...scope, 'created_at', 'id'].map((c) => sql.id(c)));
      await sql`create index concurrently if not exists ${sql.id(name)} on sync_runs (${columns})
        where parent_run_id is null`.execute(db);
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
