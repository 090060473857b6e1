import { sql, type Kysely } from 'kysely';
import { withLockTimeout } from '../src/storage/migrator.ts';

/**
 * With `(account_id, organization_id)` -> `bank_accounts (id, organization_id)` valid (20261206T104100000Z), the two
 * single-column keys of `transactions` (to `organizations` and to `bank_accounts`) are dropped. Dropping a foreign key
 * takes an ACCESS EXCLUSIVE lock on `transactions` and on the table it references for a catalog change; the lock
 * timeout makes it fail rather than queue behind a long reader, since queued it would stop every later read (run the
 * migrations again).
 *
 * Without a transaction (`transactional = false`), for the down: the old keys are added back NOT VALID (a catalog
 * change under SHARE ROW EXCLUSIVE, with the same lock timeout), then validated by statements of their own, whose
 * scan of `transactions` (tens of seconds at 10M rows) holds only SHARE UPDATE EXCLUSIVE: reads and writes go on.
 * Added valid in one statement, each key would scan `transactions` while holding off every write. A migrator runs a
 * migration's down like its up, so the up runs without a transaction too: each key is dropped by a statement (and
 * a lock wait) of its own. Both directions can be run again after a stop anywhere.
 */
export const transactional = false;

const KEYS = [
  {
    name: 'transactions_organization_id_fkey',
    definition: sql`foreign key (organization_id) references organizations (id)`,
  },
  { name: 'transactions_account_id_fkey', definition: sql`foreign key (account_id) references bank_accounts (id)` },
] as const;

export async function up(db: Kysely<any>): Promise<void> {
  await withLockTimeout(db, '5s', async () => {
    for (const key of KEYS) {
      await sql`alter table transactions drop constraint if exists ${sql.id(key.name)}`.execute(db);
    }
  });
}

export async function down(db: Kysely<any>): Promise<void> {
  await withLockTimeout(db, '5s', async () => {
    for (const key of KEYS) {
      const exists =
        await sql`select 1 from pg_constraint where conname = ${key.name} and conrelid = 'transactions'::regclass`.execute(
          db,
        );
      if (exists.rows.length === 0) {
        await sql`alter table transactions add constraint ${sql.id(key.name)} ${key.definition} not valid`.execute(db);
      }
    }
  });
  await withLockTimeout(db, '60s', async () => {
    for (const key of KEYS) {
      await sql`alter table transactions validate constraint ${sql.id(key.name)}`.execute(db);
    }
  });
}
