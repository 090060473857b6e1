import { sql, type Kysely } from 'kysely';
import { withLockTimeout } from '../src/storage/migrator.ts';

/**
 * Checks the existing rows against the foreign key added NOT VALID in 20261206T104000000Z: one scan of
 * `transactions` joined to `bank_accounts` (~85 s at 10M rows) under a SHARE UPDATE EXCLUSIVE lock on `transactions`
 * (ROW SHARE on `bank_accounts`), which reads and writes do not wait for. Without a transaction, so that no other
 * migration's locks are held through the scan; validating a valid key again does nothing, so it can be run again.
 */
export const transactional = false;

export async function up(db: Kysely<any>): Promise<void> {
  await withLockTimeout(db, '60s', async () => {
    await sql`alter table transactions validate constraint transactions_account_organization_fkey`.execute(db);
  });
}

/** Nothing to undo: the previous migration's down drops the key. */
export async function down(): Promise<void> {}
