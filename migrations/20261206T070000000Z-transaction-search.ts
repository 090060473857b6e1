import { sql, type Kysely } from 'kysely';
import { dropInvalidIndex, withLockTimeout } from '../src/storage/migrator.ts';

/**
 * Text search (`q=`) moves off the ingest path. The trigram GIN on `transactions.description` cost more
 * Postgres CPU per stored row than the row itself; it now lives on `transaction_search`, one row per
 * transaction (its organization, its booking date and its description as `q=` compares it), which a background
 * step fills after commit by following the change feed in its commit-safe `(xid, id)` order.
 * `transaction_search_state` holds the step's position: every change at or before it is reflected in
 * `transaction_search`; rows with a change event after it are read from `transactions` directly
 * (src/storage/read.repo.ts), so `q=` stays exact. The booking date lets a `q=` page take its first rows in page
 * order from the search table (btrees below), instead of looking every match up in `transactions` first.
 *
 * No foreign key to `transactions`: the step writes only ids taken from there, reads re-check the current row,
 * and a key would cost every write here a probe for nothing.
 *
 * Without a transaction (`transactional = false`), so that nothing here holds a transaction id for long (the
 * change feed's readers wait for every older xid to end) or a lock on `transactions` that stops its reads or
 * writes: the fill copies FILL_BATCH_ROWS rows at a time in primary-key order, each batch a statement and a
 * transaction of its own; the indexes are built CONCURRENTLY; the trigram GIN on `transactions` is dropped
 * CONCURRENTLY. Every step can be run again after a stop anywhere (`npm run migrate` resumes the fill after the
 * last id copied; an interrupted build's INVALID index is dropped and built again).
 *
 * ORDER MATTERS.
 * 1. The position is recorded FIRST, before any fill batch (a later run keeps the one recorded first, see 4), just below
 *    the xmin of that statement's snapshot. Every transaction with a lower xid had finished by then: its rows are
 *    visible to every batch (each a later snapshot) and copied as they are, unless a later transaction changed
 *    them. Every transaction not finished by then (running, or not started yet) has an xid at or above that xmin,
 *    so the change events of every row it writes are after the position: whether a batch copied that row before its
 *    change, after it, or never (written below the id a batch had reached), `q=` reads it from `transactions` and
 *    the step rewrites its search row from the current row. (Recorded after a batch, or again by a second run, the
 *    position could pass a writer that committed between two batches: its rows in neither.)
 * 2. Until the last batch is in, the rows nobody changed since the position are in neither place. So the fill
 *    goes into `transaction_search_fill`, a name `q=` and the step do not know, and becomes `transaction_search`
 *    only once complete and indexed. Before that `q=` fails (no table) rather than answer without the rows not
 *    copied yet, and a step batch with a transaction's event fails before it stores a position, so the step never
 *    passes those events. The position is also the change-feed purge's limit (the service's purge keeps every
 *    event after it; the purge of a service without text search deletes only events older than the retention,
 *    while the ones after the position are younger than this migration, unless a stop outlasted the retention: 4).
 * 3. The trigram GIN on `transactions` is dropped LAST, once `q=` has the search table to use.
 * 4. A run after a stop keeps the position only while the change feed still holds every event after it. The purge
 *    of the release still running during a stop deletes by age alone, and a feed reset deletes every event: once the
 *    purge horizon has passed the position (or the feed was reset since it was recorded), a row changed during the
 *    stop below the id the fill had reached would stay stale in the search table with no event to correct it. Such a
 *    run starts over: the fill table and the position are dropped and a new position is recorded before the first
 *    batch. A run that finds the same just before the rename fails, and the next run starts over.
 * Run the migrations before rolling out, as always. Migrations 20261206T071000000Z (booking date) and
 * 20261206T071500000Z (btrees) change nothing on a database migrated by this one.
 */
export const transactional = false;

/** Rows copied per fill batch: a short transaction each (the 10M rows of a large database in 200 of them). */
export const FILL_BATCH_ROWS = 50_000;

/**
 * None for a concurrent build or drop: its waits (for the table's SHARE UPDATE EXCLUSIVE lock and for older
 * transactions, such as a pg_dump or a long report) block no reads or writes, and a timeout would leave an INVALID
 * index to build again, after minutes of work at 10M rows.
 */
const CONCURRENT_LOCK_TIMEOUT = '0';

/**
 * For every statement whose lock, while queued, would hold back others (the rename and the drops of a table take
 * ACCESS EXCLUSIVE; a drop of `transaction_search` would stop `q=` behind it): it fails instead, run it again.
 */
const LOCK_TIMEOUT = '5s';

const FILL = 'transaction_search_fill';

async function tableExists(db: Kysely<any>, table: string): Promise<boolean> {
  const r = await sql<{ present: boolean }>`select to_regclass(${table}) is not null as present`.execute(db);
  return r.rows[0]?.present === true;
}

/**
 * True when the change feed may have lost an event after the recorded position (ORDER MATTERS 4): the purge horizon
 * is past it, or the feed was reset since it was recorded (the step stores no position before the rename, so
 * `updated_at` is when it was recorded).
 */
async function positionOutlived(db: Kysely<any>): Promise<boolean> {
  if (!(await tableExists(db, 'transaction_search_state'))) {
    return false;
  }
  const r = await sql<{ outlived: boolean }>`
    select (f.purged_through_xid, f.purged_through_id) > (s.position_xid, s.position_id)
      or coalesce(f.reset_at >= s.updated_at, false) as outlived
    from change_feed_state f, transaction_search_state s where f.id = 1 and s.id = 1`.execute(db);
  return r.rows[0]?.outlived === true;
}

/** Drops what an earlier run filled and its position, so the fill starts over from a new one. */
async function startOver(db: Kysely<any>): Promise<void> {
  await sql`drop table if exists transaction_search_fill`.execute(db);
  await sql`delete from transaction_search_state`.execute(db);
}

/** The position, once (see ORDER MATTERS 1): a run after a stop keeps the one recorded before the first batch. */
async function recordPosition(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('transaction_search_state')
    .ifNotExists()
    .addColumn('id', 'smallint', (c) => c.primaryKey().defaultTo(1))
    .addColumn('position_xid', sql`xid8`, (c) => c.notNull())
    .addColumn('position_id', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addCheckConstraint('transaction_search_state_single_row', sql`id = 1`)
    .execute();
  await sql`
    insert into transaction_search_state (id, position_xid, position_id)
    select 1, ((pg_snapshot_xmin(pg_current_snapshot())::text::numeric - 1)::text)::xid8, 9223372036854775807
    on conflict (id) do nothing`.execute(db);
}

/** Copies `transactions` into the fill table in batches of FILL_BATCH_ROWS, from the last id copied by an earlier run. */
async function fill(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable(FILL)
    .ifNotExists()
    .addColumn('transaction_id', 'uuid')
    .addColumn('organization_id', 'uuid', (c) => c.notNull())
    .addColumn('description', 'text', (c) => c.notNull())
    .addColumn('booking_date', 'date', (c) => c.notNull())
    .addPrimaryKeyConstraint('transaction_search_pkey', ['transaction_id'])
    .execute();
  const last = await sql<{
    id: string;
  }>`select transaction_id::text as id from transaction_search_fill order by transaction_id desc limit 1`.execute(db);
  let after = last.rows[0]?.id;
  for (;;) {
    // One statement, one snapshot: the batch's rows are read and inserted together (nothing else writes this table).
    const batch = await sql<{ last: string | null; n: number }>`
      with batch as (
        select id, organization_id, description, booking_date from transactions
        where ${after === undefined ? sql`true` : sql`id > ${after}::uuid`}
        order by id limit ${FILL_BATCH_ROWS}
      ), copied as (
        insert into transaction_search_fill (transaction_id, organization_id, description, booking_date)
        select id, organization_id, description, booking_date from batch
        on conflict (transaction_id) do nothing
      )
      select (select b.id::text from batch b order by b.id desc limit 1) as last, (select count(*) from batch)::int as n`.execute(
      db,
    );
    const row = batch.rows[0];
    if (!row?.last || row.n < FILL_BATCH_ROWS) {
      return;
    }
    after = row.last;
  }
}

async function build(db: Kysely<any>, name: string, definition: ReturnType<typeof sql>): Promise<void> {
  await dropInvalidIndex(db, name);
  await sql`create index concurrently if not exists ${sql.id(name)} on transaction_search_fill ${definition}`.execute(
    db,
  );
}

export async function up(db: Kysely<any>): Promise<void> {
  if (!(await tableExists(db, 'transaction_search'))) {
    await withLockTimeout(db, LOCK_TIMEOUT, async () => {
      if (await positionOutlived(db)) {
        await startOver(db);
      }
      await recordPosition(db);
      await fill(db);
    });
    await withLockTimeout(db, CONCURRENT_LOCK_TIMEOUT, async () => {
      // Built on the whole table (one bulk build each, nothing updated in place), before `q=` can use it.
      await build(db, 'transaction_search_description_trgm_idx', sql`using gin (description gin_trgm_ops)`);
      await build(db, 'transaction_search_booking_idx', sql`(booking_date, transaction_id)`);
      await build(db, 'transaction_search_org_booking_idx', sql`(organization_id, booking_date, transaction_id)`);
    });
    await withLockTimeout(db, LOCK_TIMEOUT, async () => {
      if (await positionOutlived(db)) {
        throw new Error(
          'transaction_search_fill: the change feed was purged or reset past the position recorded before the fill; run the migrations again (the fill starts over)',
        );
      }
      // A catalog change under a lock of the fill table only, which nothing else reads or writes.
      await sql`alter table transaction_search_fill rename to transaction_search`.execute(db);
    });
  }
  await withLockTimeout(db, CONCURRENT_LOCK_TIMEOUT, async () => {
    await sql`drop index concurrently if exists transactions_description_trgm_idx`.execute(db);
  });
}

export async function down(db: Kysely<any>): Promise<void> {
  await withLockTimeout(db, CONCURRENT_LOCK_TIMEOUT, async () => {
    await dropInvalidIndex(db, 'transactions_description_trgm_idx');
    await sql`create index concurrently if not exists transactions_description_trgm_idx on transactions using gin (description gin_trgm_ops)`.execute(
      db,
    );
  });
  await withLockTimeout(db, LOCK_TIMEOUT, async () => {
    await sql`drop table if exists transaction_search_fill, transaction_search, transaction_search_state`.execute(db);
  });
}
