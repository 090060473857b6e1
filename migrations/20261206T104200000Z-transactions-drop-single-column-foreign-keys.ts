import { sql, type Kysely } from 'kysely';

/**
 * With `(account_id, organization_id)` -> `bank_accounts (id, organization_id)` valid (20261206T104100000Z), the two
 * single-column keys of `transactions` (to `organizations` and to `bank_accounts`) are dropped. Dropping a foreign key
 * takes an ACCESS EXCLUSIVE lock on `transactions` and on the table it references for a catalog change; the lock
 * timeout makes it fail rather than queue behind a long reader, since queued it would stop every later read (run the
 * migrations again).
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`set local lock_timeout = '5s'`.execute(db);
  await sql`alter table transactions drop constraint if exists transactions_organization_id_fkey`.execute(db);
  await sql`alter table transactions drop constraint if exists transactions_account_id_fkey`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`alter table transactions add constraint transactions_organization_id_fkey foreign key (organization_id) references organizations (id)`.execute(db);
  await sql`alter table transactions add constraint transactions_account_id_fkey foreign key (account_id) references bank_accounts (id)`.execute(db);
}
