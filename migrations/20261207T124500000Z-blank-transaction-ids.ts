import { sql, type Kysely } from 'kysely';

/**
 * A J.P. Morgan `transactionId` of only spaces (a fixed-width field left empty) is no id: the partial unique index of
 * id keys leaves such rows out, as it leaves out '' (the id is still stored exactly as sent). Under the old predicate
 * every such record of an account after the first was one row with the first (its "id" taken), or a reject.
 *
 * The queries that use the index repeat this predicate, and the one before it, so they can use either
 * (src/storage/transactions.repo.ts); `isIdentityId` decides the same (src/normalization/identity.ts).
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('transactions_account_jpm_id_key').execute();
  await sql`create unique index transactions_account_jpm_id_key
    on transactions (account_id, post_code, jpm_transaction_id)
    where btrim(jpm_transaction_id, ' ') <> '' and char_length(jpm_transaction_id) <= 200`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  // Rows with a blank id cannot all go back under the old predicate (several may share one): they become id-less.
  await sql`update transactions set jpm_transaction_id = ''
    where jpm_transaction_id <> '' and btrim(jpm_transaction_id, ' ') = ''`.execute(db);
  await db.schema.dropIndex('transactions_account_jpm_id_key').execute();
  await sql`create unique index transactions_account_jpm_id_key
    on transactions (account_id, post_code, jpm_transaction_id)
    where jpm_transaction_id <> '' and char_length(jpm_transaction_id) <= 200`.execute(db);
}
