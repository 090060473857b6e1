import { sql, type Kysely } from 'kysely';

/**
 * `GET /v1/accounts?accountNumber=…` finds an account by the bank's account number across
 * integrations. The unique key (integration_id, jpm_account_id) cannot serve that (its first
 * column is the integration), so an index of its own, with the id for the list's order: one index
 * descent whether or not the table was ever analyzed.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`create index bank_accounts_jpm_account_id_idx on bank_accounts (jpm_account_id, id)`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('bank_accounts_jpm_account_id_idx').ifExists().execute();
}
