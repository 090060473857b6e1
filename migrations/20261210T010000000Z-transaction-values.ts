import { sql, type Kysely } from 'kysely';

/**
 * `transaction_values`: which accounts have a transaction of each currency and each BAI type code, one row per
 * (field, value, organization, account). A read-API page refined by `currency=` or `baiCode=` (which have no index on
 * `transactions`) reads it first: a value no account of the scope has is an empty page at once, and a value a few
 * accounts have is read from those accounts' own indexes, not by walking the scope's whole index
 * (src/storage/read.repo.ts). It is filled after commit by the search step (src/events/search-index.ts) from the
 * transactions of the change events it applies, in the transaction that moves its position, so it is complete up to
 * `transaction_search_state`'s position (rows changed since are read from `transactions` by the page): nothing on the
 * ingest path. Values are only added (a value a row no longer has stays): a page may walk an account for nothing,
 * never skip one.
 *
 * In one transaction: the search step's position is locked (FOR UPDATE) before the fill, so the step waits and its
 * position stays put until the fill commits. Every change at or before the position committed before the lock (the
 * step passes only committed events), so its row, as it is now, is in the fill's snapshot; every later change has an
 * event after the position, which the page reads and the step applies. The fill is one grouping read of
 * `transactions` (seconds at 10M rows) while the step waits; reads and writes of `transactions` go on.
 * Stop the previous release's workers before it: their search step moves the position without filling this table,
 * so a value first stored then, in an account without it before, would be left out of its pages.
 */

/** The fill waits for a search batch in progress (short); it fails rather than queue behind anything longer. */
const LOCK_TIMEOUT = '30s';

export async function up(db: Kysely<any>): Promise<void> {
  await sql`set local lock_timeout = ${sql.lit(LOCK_TIMEOUT)}`.execute(db);
  await db.schema
    .createTable('transaction_values')
    .ifNotExists()
    .addColumn('field', 'text', (c) => c.notNull().check(sql`field in ('currency', 'bai_type_code')`))
    .addColumn('value', 'text', (c) => c.notNull())
    .addColumn('organization_id', 'uuid', (c) => c.notNull())
    .addColumn('account_id', 'uuid', (c) => c.notNull())
    .addPrimaryKeyConstraint('transaction_values_pkey', ['field', 'value', 'organization_id', 'account_id'])
    .execute();
  await sql`select 1 from transaction_search_state where id = 1 for update`.execute(db);
  await sql`
      insert into transaction_values (field, value, organization_id, account_id)
      select 'currency', currency, organization_id, account_id from transactions group by 2, 3, 4
      union
      select 'bai_type_code', bai_type_code, organization_id, account_id from transactions
        where bai_type_code is not null group by 2, 3, 4
      on conflict do nothing`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('transaction_values').ifExists().execute();
}
