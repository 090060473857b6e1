import { sql, type Kysely } from 'kysely';
import { dropInvalidIndex, withLockTimeout } from '../src/storage/migrator.ts';

/**
 * The run listing's filters (`GET /v1/sync-runs?status=`, `trigger=`, `mode=`): each scope's top-level runs (every
 * organization's, an organization's, an integration's, an account's) of one status, trigger or mode in page order,
 * `([scope,] status | trigger | mode, created_at, id) where parent_run_id is null`, so a filtered page is a backward
 * walk of that value's runs that stops at the page. Without them a trigger, a mode or `status=succeeded` was checked
 * along the scope's walk (a rare value read the scope's runs until its page was full, a value no run has all of
 * them), and an integration's or an account's other statuses along every organization's runs of that status.
 *
 * The status ones replace `sync_runs_top_status_created_idx` and `sync_runs_top_org_status_created_idx` (the same
 * columns, runs that did not succeed only), dropped here: `status=succeeded` needs the succeeded runs too.
 *
 * Without a transaction (`transactional = false`): the indexes are built CONCURRENTLY (reads and writes go on), and an
 * interrupted build's INVALID index is dropped and built again on the next run; the replaced ones are dropped after.
 */
export const transactional = false;

/** None: a concurrent build's or drop's waits block no reads or writes; a timeout would leave an INVALID index. */
const LOCK_TIMEOUT = '0';

const INDEXES: [name: string, columns: string[]][] = [
  ['sync_runs_top_status_at_idx', ['status']],
  ['sync_runs_top_org_status_at_idx', ['organization_id', 'status']],
  ['sync_runs_top_integration_status_at_idx', ['integration_id', 'status']],
  ['sync_runs_top_account_status_at_idx', ['account_id', 'status']],
  ['sync_runs_top_trigger_at_idx', ['trigger']],
  ['sync_runs_top_org_trigger_at_idx', ['organization_id', 'trigger']],
  ['sync_runs_top_integration_trigger_at_idx', ['integration_id', 'trigger']],
  ['sync_runs_top_account_trigger_at_idx', ['account_id', 'trigger']],
  ['sync_runs_top_mode_at_idx', ['mode']],
  ['sync_runs_top_org_mode_at_idx', ['organization_id', 'mode']],
  ['sync_runs_top_integration_mode_at_idx', ['integration_id', 'mode']],
  ['sync_runs_top_account_mode_at_idx', ['account_id', 'mode']],
];

/** Replaced by the status ones above (`where parent_run_id is null and status <> 'succeeded'`). */
const REPLACED: [name: string, columns: string[]][] = [
  ['sync_runs_top_org_status_created_idx', ['organization_id', 'status', 'created_at', 'id']],
  ['sync_runs_top_status_created_idx', ['status', 'created_at', 'id']],
];

export async function up(db: Kysely<any>): Promise<void> {
  await withLockTimeout(db, LOCK_TIMEOUT, async () => {
    for (const [name, lead] of INDEXES) {
      await dropInvalidIndex(db, name);
      const columns = sql.join([...lead, 'created_at', 'id'].map((c) => sql.id(c)));
      await sql`create index concurrently if not exists ${sql.id(name)} on sync_runs (${columns})
        where parent_run_id is null`.execute(db);
    }
    for (const [name] of REPLACED) {
      await sql`drop index concurrently if exists ${sql.id(name)}`.execute(db);
    }
  });
}

export async function down(db: Kysely<any>): Promise<void> {
  await withLockTimeout(db, LOCK_TIMEOUT, async () => {
    for (const [name, columns] of REPLACED) {
      await dropInvalidIndex(db, name);
      await sql`create index concurrently if not exists ${sql.id(name)} on sync_runs (${sql.join(columns.map((c) => sql.id(c)))})
        where parent_run_id is null and status <> 'succeeded'`.execute(db);
    }
    for (const [name] of INDEXES) {
      await sql`drop index concurrently if exists ${sql.id(name)}`.execute(db);
    }
  });
}
