import { sql, type Kysely } from 'kysely';
import { dropInvalidIndex, withLockTimeout } from '../src/storage/migrator.ts';

/**
 * One foreign key for a transaction's account and organization instead of two: `(account_id, organization_id)`
 * references `bank_accounts (id, organization_id)`. Every inserted row paid one lookup and row lock in
 * `bank_accounts` and another in `organizations`; then it pays one, and the key checks more than both did: the
 * organization is the account's own (the account's own foreign key checks that organization exists).
 *
 * In four steps, none holding a lock that stops reads or writes of `transactions` for longer than a catalog change:
 * 1. here (without a transaction): the unique index the key needs, `bank_accounts (id, organization_id)`, built
 *    CONCURRENTLY (bank_accounts is small; writes to it go on);
 * 2. 20261206T104000000Z: the key added NOT VALID (checked for new rows from then on; no scan);
 * 3. 20261206T104100000Z (without a transaction): VALIDATE CONSTRAINT, the scan of `transactions` (~85 s at 10M
 *    rows) under a SHARE UPDATE EXCLUSIVE lock only: reads and writes go on;
 * 4. 20261206T104200000Z: the two single-column keys dropped.
 */
export const transactional = false;

export async function up(db: Kysely<any>): Promise<void> {
  // No lock timeout: the concurrent build's waits (for older transactions too) block no reads or writes.
  await withLockTimeout(db, '0', async () => {
    await dropInvalidIndex(db, 'bank_accounts_id_organization_key');
    await sql`create unique index concurrently if not exists bank_accounts_id_organization_key on bank_accounts (id, organization_id)`.execute(
      db,
    );
  });
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop index concurrently if exists bank_accounts_id_organization_key`.execute(db);
}
