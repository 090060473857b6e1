import { sql, type Kysely } from 'kysely';
import { dropInvalidIndex, withLockTimeout } from '../src/storage/migrator.ts';

/**
 * A J.P. Morgan `transactionId` of only spaces (a fixed-width field left empty) is no id: the partial unique index of
 * id keys leaves such rows out, as it leaves out '' (the id is still stored exactly as sent). Under the old predicate
 * every such record of an account after the first was one row with the first (its "id" taken), or a reject.
 *
 * The queries that use the index repeat this predicate, and the one before it, so they can use either
 * (src/storage/transactions.repo.ts); `isIdentityId` decides the same (src/normalization/identity.ts).
 *
 * Without a transaction (`transactional = false`): the new index is built CONCURRENTLY beside the old one (ingestion
 * goes on while it builds, however large `transactions` is), then the old one is dropped CONCURRENTLY and the new one
 * takes its name. Every step can be run again: an interrupted run is finished by the next.
 */
export const transactional = false;

const NAME = 'transactions_account_jpm_id_key';
const NEXT = 'transactions_account_jpm_id_key_next';
const BLANK_IDS_OUT = sql`btrim(jpm_transaction_id, ' ') <> '' and char_length(jpm_transaction_id) <= 200`;
const EMPTY_IDS_OUT = sql`jpm_transaction_id <> '' and char_length(jpm_transaction_id) <= 200`;

/** Whether the index `name` exists and its definition leaves blank ids out. */
async function leavesBlankIdsOut(db: Kysely<any>, name: string): Promise<boolean | null> {
  const row = await sql<{ def: string }>`
    select pg_get_indexdef(c.oid) as def from pg_class c join pg_namespace s on s.oid = c.relnamespace
    where c.relname = ${name} and s.nspname = current_schema()`.execute(db);
  return row.rows[0] === undefined ? null : row.rows[0].def.includes('btrim');
}

/** Replaces the id-key index by one with `predicate` (`blankIdsOut` says which it is), without blocking writes. */
async function replaceIndex(db: Kysely<any>, predicate: typeof BLANK_IDS_OUT, blankIdsOut: boolean): Promise<void> {
  if ((await leavesBlankIdsOut(db, NAME)) === blankIdsOut && (await leavesBlankIdsOut(db, NEXT)) === null) {
    return;
  }
  // None for the concurrent build and drop (their waits block no reads or writes; a timeout would leave an INVALID
  // index); the rename takes a brief exclusive lock, so it gives up rather than queue behind a long reader.
  await withLockTimeout(db, '0', async () => {
    await dropInvalidIndex(db, NEXT);
    if ((await leavesBlankIdsOut(db, NAME)) !== blankIdsOut) {
      await sql`create unique index concurrently if not exists ${sql.id(NEXT)}
        on transactions (account_id, post_code, jpm_transaction_id) where ${predicate}`.execute(db);
      await sql`drop index concurrently if exists ${sql.id(NAME)}`.execute(db);
    }
  });
  if ((await leavesBlankIdsOut(db, NEXT)) !== null) {
    await withLockTimeout(db, '10s', async () => {
      await sql`alter index ${sql.id(NEXT)} rename to ${sql.id(NAME)}`.execute(db);
    });
  }
}

export async function up(db: Kysely<any>): Promise<void> {
  await replaceIndex(db, BLANK_IDS_OUT, true);
}

export async function down(db: Kysely<any>): Promise<void> {
  // Rows with a blank id cannot all go back under the old predicate (several may share one): they become id-less.
  await sql`update transactions set jpm_transaction_id = ''
    where jpm_transaction_id <> '' and btrim(jpm_transaction_id, ' ') = ''`.execute(db);
  await replaceIndex(db, EMPTY_IDS_OUT, false);
}
