import { type Kysely } from 'kysely';

/**
 * `bank_accounts.intraday_walk_at`: the database clock when the newest current-day walk that reconciled the account's
 * intraday rows began (src/sync/supersede.ts `reconcileIntraday`). A sync whose walk began before it read the bank
 * before that walk did, so what its walk lacks is no evidence of a withdrawal (the newer walk may have shown the item
 * again). Null: no walk has reconciled since the column exists.
 *
 * A nullable column without a default: adding it rewrites nothing.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('bank_accounts').addColumn('intraday_walk_at', 'timestamptz').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('bank_accounts').dropColumn('intraday_walk_at').execute();
}
