import { sql } from 'kysely';
import type { FeedPosition } from './change-feed.repo.ts';
import type { Executor } from './db.ts';

/**
 * Storage of the search step's bulk catch-up (src/events/search-bulk.ts): a fresh search table,
 * `transaction_search_rebuild`, filled from `transactions` in primary-key order, indexed once, and swapped in for
 * `transaction_search`. Its progress is in the step's state row (migration 20261206T101000000Z), so every stage
 * survives a crash: each fill chunk commits with its cursor, an interrupted index build is rolled back (or left
 * invalid and dropped on resume), and the swap is one transaction.
 *
 * EXACT BY ORDER. The rebuild's position is recorded (and committed) BEFORE the fill reads `transactions`: just below
 * the xmin of that statement's snapshot, so every transaction with a lower xid had ended and its rows are visible to
 * every fill chunk (each a later snapshot); a writer still running then, or starting later, has an xid at or above
 * that xmin, so its change events are after the rebuild's position and the step applies them (upserts from the
 * current row) after the swap, whether a chunk saw its rows or not. A position read after the fill could pass a
 * writer that committed during it: its rows in neither. The same argument as migration 20261206T070000000Z.
 */

/** The one session-level advisory lock a bulk catch-up holds while it runs (one process at a time). */
const BULK_LOCK_KEY = 'jpm-sync:search-bulk';

export interface SearchRebuildState {
  /** The feed position the fresh table is complete up to once filled (recorded before its fill). */
  position: FeedPosition;
  /** The last transaction id copied (null: none yet). */
  after: string | null;
  filled: boolean;
  startedAt: Date;
}

/** The bulk catch-up in progress, if any (it blocks the step's incremental batches until it is swapped in). */
export async function readSearchRebuild(ex: Executor): Promise<SearchRebuildState | undefined> {
  const r = await sql<{ xid: string | null; id: string | null; after: string | null; filled: boolean; started_at: Date | null }>`
    select rebuild_position_xid::text as xid, rebuild_position_id::text as id, rebuild_after::text as after,
      rebuild_filled_at is not null as filled, rebuild_started_at as started_at
    from transaction_search_state where id = 1`.execute(ex);
  const row = r.rows[0];
  if (!row?.xid || !row.id) {
    return undefined;
  }
  return { position: { xid: row.xid, id: row.id }, after: row.after, filled: row.filled, startedAt: row.started_at ?? new Date(0) };
}

/**
 * Takes the bulk lock on this session's connection without waiting; false when another session holds it. While
 * held, the session checks its client every second during long statements (an index build of minutes), so a worker
 * that exits or is killed mid-build releases the lock and its half-built index within a second, not at the build's end.
 */
export async function tryLockSearchBulk(conn: Executor): Promise<boolean> {
  const r = await sql<{ ok: boolean }>`select pg_try_advisory_lock(hashtextextended(${BULK_LOCK_KEY}, 0)) as ok`.execute(conn);
  const ok = r.rows[0]?.ok === true;
  if (ok) {
    await sql`select set_config('client_connection_check_interval', '1000', false)`.execute(conn);
  }
  return ok;
}

export async function unlockSearchBulk(conn: Executor): Promise<void> {
  await sql`reset client_connection_check_interval`.execute(conn);
  await sql`select pg_advisory_unlock(hashtextextended(${BULK_LOCK_KEY}, 0))`.execute(conn);
}

/**
 * Starts a rebuild: an empty fresh table (no index yet), then, in its own transaction and with the step's position
 * locked (so no incremental batch runs meanwhile), the rebuild's position from that transaction's second
 * statement's snapshot (see EXACT BY ORDER). Returns the rebuild's state.
 */
export async function startSearchRebuild(conn: Executor): Promise<SearchRebuildState> {
  await sql`drop table if exists transaction_search_rebuild`.execute(conn);
  await sql`create table transaction_search_rebuild (like transaction_search including defaults including constraints)`.execute(conn);
  await sql`begin`.execute(conn);
  try {
    await sql`select 1 from transaction_search_state where id = 1 for update`.execute(conn);
    await sql`
      update transaction_search_state set
        rebuild_position_xid = ((pg_snapshot_xmin(pg_current_snapshot())::text::numeric - 1)::text)::xid8,
        rebuild_position_id = 9223372036854775807, rebuild_after = null, rebuild_filled_at = null, rebuild_started_at = now()
      where id = 1`.execute(conn);
    await sql`commit`.execute(conn);
  } catch (err) {
    await sql`rollback`.execute(conn).catch(() => undefined);
    throw err;
  }
  const state = await readSearchRebuild(conn);
  if (!state) {
    throw new Error('transaction_search_state has no row: run the migrations');
  }
  return state;
}

/** Whether the fresh table exists (a resumed rebuild whose table is gone starts over). */
export async function searchRebuildTableExists(ex: Executor): Promise<boolean> {
  const r = await sql<{ ok: boolean }>`select to_regclass('transaction_search_rebuild') is not null as ok`.execute(ex);
  return r.rows[0]?.ok === true;
}

/**
 * Copies the next `limit` transactions (primary-key order, after the rebuild's cursor) into the fresh table and
 * moves the cursor, in one transaction; marks the fill complete when fewer were left. Returns the rows copied.
 */
export async function fillSearchRebuildChunk(conn: Executor, after: string | null, limit: number): Promise<{ rows: number; last: string | null }> {
  await sql`begin`.execute(conn);
  try {
    const from = after === null ? sql`` : sql`where t.id > ${after}::uuid`;
    const r = await sql<{ n: string; last: string | null }>`
      with chunk as (
        select t.id, t.organization_id, t.description, t.booking_date from transactions t ${from} order by t.id limit ${limit}
      ), copied as (
        insert into transaction_search_rebuild (transaction_id, organization_id, description, booking_date)
        select c.id, c.organization_id, c.description, c.booking_date from chunk c
      )
      select count(*)::text as n, (select c.id::text from chunk c order by c.id desc limit 1) as last from chunk`.execute(conn);
    const rows = Number(r.rows[0]?.n ?? 0);
    const last = r.rows[0]?.last ?? after;
    await sql`
      update transaction_search_state set rebuild_after = ${last}::uuid,
        rebuild_filled_at = ${rows < limit ? sql`now()` : sql`null`}
      where id = 1`.execute(conn);
    await sql`commit`.execute(conn);
    return { rows, last };
  } catch (err) {
    await sql`rollback`.execute(conn).catch(() => undefined);
    throw err;
  }
}

/** The fresh table's indexes, named as they will be once swapped in (`transaction_search…`). */
const PKEY = 'transaction_search_rebuild_pkey';
const REBUILD_INDEXES = [
  { name: PKEY, final: 'transaction_search_pkey', using: sql`(transaction_id)` },
  { name: 'transaction_search_rebuild_description_trgm_idx', final: 'transaction_search_description_trgm_idx', using: sql`using gin (description gin_trgm_ops)` },
  { name: 'transaction_search_rebuild_booking_idx', final: 'transaction_search_booking_idx', using: sql`(booking_date, transaction_id)` },
  { name: 'transaction_search_rebuild_org_booking_idx', final: 'transaction_search_org_booking_idx', using: sql`(organization_id, booking_date, transaction_id)` },
] as const;

/**
 * Builds the fresh table's indexes once its fill is complete, each in one pass over the table (cheaper than inserting
 * row by row, see the README's Benchmarks), skipping those a crashed run already built and dropping one it left
 * invalid. CONCURRENTLY, though nothing writes the fresh table: a plain CREATE INDEX holds a transaction id for the
 * whole build (minutes at 10M rows), and the change feed shows no event younger than the oldest running transaction
 * id of the cluster, so every feed reader would stall meanwhile; CREATE INDEX CONCURRENTLY builds without one.
 * `maintenanceWorkMem` is the build's memory. Returns the indexes built.
 */
export async function buildSearchRebuildIndexes(conn: Executor, options: { maintenanceWorkMem: string }): Promise<string[]> {
  const present = await sql<{ name: string; valid: boolean }>`
    select c.relname as name, i.indisvalid as valid from pg_index i join pg_class c on c.oid = i.indexrelid
    where i.indrelid = 'transaction_search_rebuild'::regclass`.execute(conn);
  const valid = new Set(present.rows.filter((r) => r.valid).map((r) => r.name));
  for (const r of present.rows.filter((p) => !p.valid)) {
    await sql`drop index concurrently if exists ${sql.id(r.name)}`.execute(conn);
  }
  await sql`select set_config('maintenance_work_mem', ${options.maintenanceWorkMem}, false)`.execute(conn);
  const built: string[] = [];
  try {
    for (const index of REBUILD_INDEXES) {
      if (!valid.has(index.name)) {
        await sql`create ${sql.raw(index.name === PKEY ? 'unique index' : 'index')} concurrently ${sql.id(index.name)} on transaction_search_rebuild ${index.using}`.execute(conn);
        built.push(index.name);
      }
    }
  } finally {
    await sql`reset maintenance_work_mem`.execute(conn);
  }
  const constraint = await sql<{ n: string }>`
    select count(*)::text as n from pg_constraint where conrelid = 'transaction_search_rebuild'::regclass and contype = 'p'`.execute(conn);
  if (constraint.rows[0]?.n === '0') {
    // A moment's work: the unique index is there, the constraint only names it (the step's upserts need the key).
    await sql`alter table transaction_search_rebuild add constraint transaction_search_rebuild_pkey primary key using index transaction_search_rebuild_pkey`.execute(conn);
  }
  await sql`analyze transaction_search_rebuild`.execute(conn);
  return built;
}

export type SwapOutcome = 'swapped' | 'busy' | 'discarded';

/**
 * Swaps the fresh table in, in one transaction: an exclusive lock on `transaction_search` within `lockTimeoutMs` (it
 * waits for the `q=` statements reading it; 'busy' when they outlast it: try again), the step's state row locked and
 * the rebuild checked to be the one this run built (a change-feed reset in between cancels it), the old table dropped,
 * the fresh one renamed with its indexes, and the step's position moved to the rebuild's.
 *
 * `q=` stays exact throughout: a statement reads the state row and the search table in one snapshot; one that read
 * the old table holds its lock, so it ran entirely before the swap and saw the old position; one after the swap
 * sees the fresh table and either position (the rebuild's is never behind the old one, checked here), and with an
 * older position it only reads more rows from `transactions`.
 */
export async function swapSearchRebuild(conn: Executor, expected: FeedPosition, options: { lockTimeoutMs: number }): Promise<SwapOutcome> {
  await sql`begin`.execute(conn);
  try {
    // The table lock first: waiting for it takes no transaction id (locking the state row would), so a wait on long
    // `q=` statements never holds back the change feed.
    await sql`select set_config('lock_timeout', ${`${Math.max(1, Math.round(options.lockTimeoutMs))}ms`}, true)`.execute(conn);
    await sql`lock table transaction_search in access exclusive mode`.execute(conn);
    const state = await sql<{ xid: string | null; id: string | null; filled: boolean; ahead: boolean }>`
      select rebuild_position_xid::text as xid, rebuild_position_id::text as id, rebuild_filled_at is not null as filled,
        (rebuild_position_xid, rebuild_position_id) >= (position_xid, position_id) as ahead
      from transaction_search_state where id = 1 for update`.execute(conn);
    const row = state.rows[0];
    if (!row || row.xid !== expected.xid || row.id !== expected.id || !row.filled) {
      await sql`rollback`.execute(conn);
      return 'discarded';
    }
    if (!row.ahead) {
      // The incremental step got past the rebuild's position (it cannot while a rebuild is recorded): never go back.
      await sql`update transaction_search_state set rebuild_position_xid = null, rebuild_position_id = null, rebuild_after = null, rebuild_filled_at = null, rebuild_started_at = null where id = 1`.execute(conn);
      await sql`drop table if exists transaction_search_rebuild`.execute(conn);
      await sql`commit`.execute(conn);
      return 'discarded';
    }
    await sql`drop table transaction_search`.execute(conn);
    await sql`alter table transaction_search_rebuild rename to transaction_search`.execute(conn);
    for (const index of REBUILD_INDEXES) {
      await sql`alter index ${sql.id(index.name)} rename to ${sql.id(index.final)}`.execute(conn);
    }
    await sql`
      update transaction_search_state set position_xid = rebuild_position_xid, position_id = rebuild_position_id, updated_at = now(),
        rebuild_position_xid = null, rebuild_position_id = null, rebuild_after = null, rebuild_filled_at = null, rebuild_started_at = null
      where id = 1`.execute(conn);
    await sql`commit`.execute(conn);
    return 'swapped';
  } catch (err) {
    await sql`rollback`.execute(conn).catch(() => undefined);
    if ((err as { code?: string }).code === '55P03') {
      return 'busy';
    }
    throw err;
  }
}

/**
 * Transaction change events after `position`, counted up to `cap` (a walk of the feed's (xid, id) index), and how
 * many of those are `added` (rows new since the position: the ones the incremental step would index for the first time).
 */
export async function countSearchLag(ex: Executor, position: FeedPosition, cap: number): Promise<{ events: number; added: number }> {
  const r = await sql<{ n: string; added: string }>`
    select count(*)::text as n, count(*) filter (where l.kind = 'added')::text as added from (
      select e.kind from change_events e
      where (e.xid, e.id) > (${position.xid}::xid8, ${position.id}::bigint) and e.entity = 'transaction'
      order by e.xid, e.id limit ${cap}) l`.execute(ex);
  return { events: Number(r.rows[0]?.n ?? 0), added: Number(r.rows[0]?.added ?? 0) };
}

/** Rows in the search table, counted up to `cap`. */
export async function countSearchRows(ex: Executor, cap: number): Promise<number> {
  const r = await sql<{ n: string }>`select count(*)::text as n from (select 1 from transaction_search s limit ${cap}) s`.execute(ex);
  return Number(r.rows[0]?.n ?? 0);
}

/** For /metrics (read at scrape time, whichever process runs the bulk catch-up): whether one is recorded, its rows copied. */
export async function readSearchBulkProgress(ex: Executor): Promise<{ active: boolean; rowsCopied: number }> {
  const r = await sql<{ active: boolean; copied: string | null }>`
    select p.rebuild_position_xid is not null as active,
      (select (s.n_tup_ins - s.n_tup_del)::text from pg_stat_user_tables s
        where s.relid = to_regclass('transaction_search_rebuild')) as copied
    from transaction_search_state p where p.id = 1`.execute(ex);
  const row = r.rows[0];
  return { active: row?.active === true, rowsCopied: row?.active ? Number(row.copied ?? 0) : 0 };
}
