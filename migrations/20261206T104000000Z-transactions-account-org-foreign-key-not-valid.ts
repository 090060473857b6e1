import { sql, type Kysely } from 'kysely';

/**
 * The foreign key `(account_id, organization_id)` -> `bank_accounts (id, organization_id)` (see
 * 20261206T102000000Z), added NOT VALID: rows written from now on are checked, the existing ones are not read (that
 * is the next migration's VALIDATE). Adding it takes a SHARE ROW EXCLUSIVE lock on `transactions` and `bank_accounts`
 * for a catalog change; the lock timeout makes it fail rather than queue behind a long writer, since queued it would
 * stop every later write (run the migrations again).
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`set local lock_timeout = '5s'`.execute(db);
  const exists = await sql`select 1 from pg_constraint where conname = 'transactions_account_organization_fkey'
    and conrelid = 'transactions'::regclass`.execute(db);
  if (exists.rows.length === 0) {
    await sql`alter table transactions add constraint transactions_account_organization_fkey
      foreign key (account_id, organization_id) references bank_accounts (id, organization_id) not valid`.execute(db);
  }
}

/** Dropping the key takes ACCESS EXCLUSIVE on both tables for a catalog change: the same lock timeout. */
export async function down(db: Kysely<any>): Promise<void> {
  await sql`set local lock_timeout = '5s'`.execute(db);
  await sql`alter table transactions drop constraint if exists transactions_account_organization_fkey`.execute(db);
}
