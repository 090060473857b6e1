import { sql } from 'kysely';
import type { FeedPosition } from './change-feed.repo.ts';
import type { Executor } from './db.ts';

/**
 * Storage of text search: `transaction_search` (a transaction's organization, booking date and description, with the
 * trigram GIN that `q=` uses), `transaction_values` (each account's currencies and BAI type codes, for `currency=` and
 * `baiCode=` pages) and `transaction_search_state`, the change-feed position up to which both are complete. The step
 * that fills them is src/events/search-index.ts; the reads that use them are `q=`, `currency=` and `baiCode=` in
 * read.repo.ts.
 */

/**
 * The search table's position, locked for this transaction; undefined when another step holds it (it is doing the
 * work).
 */
export async function lockSearchPosition(
  ex: Executor,
  options: { wait?: boolean } = {},
): Promise<FeedPosition | undefined> {
  const lock = options.wait ? sql`for update` : sql`for update skip locked`;
  const result = await sql<FeedPosition>`
    select position_xid::text as xid, position_id::text as id from transaction_search_state where id = 1 ${lock}`.execute(
    ex,
  );
  return result.rows[0];
}

/** The search table's position (every change at or before it is in `transaction_search`). */
export async function readSearchPosition(ex: Executor): Promise<FeedPosition> {
  const result = await sql<FeedPosition>`
    select position_xid::text as xid, position_id::text as id from transaction_search_state where id = 1`.execute(ex);
  const row = result.rows[0];
  if (!row) {
    throw new Error('transaction_search_state has no row: run the migrations');
  }
  return row;
}

export async function setSearchPosition(ex: Executor, p: FeedPosition): Promise<void> {
  await sql`
    update transaction_search_state set position_xid = ${p.xid}::xid8, position_id = ${p.id}::bigint, updated_at = now()
    where id = 1`.execute(ex);
}

/**
 * Writes these transactions' search rows from their current state (one primary-key lookup per id), and removes
 * the rows of ids no longer in `transactions`. Unchanged rows are not rewritten, so applying the same ids again
 * changes nothing. The same lookups add their accounts' currencies and BAI type codes to `transaction_values` (what
 * a `currency=` or `baiCode=` page reads first, see read.repo.ts; only new ones are written). Returns the search rows
 * written.
 */
export async function refreshSearchRows(ex: Executor, ids: readonly string[]): Promise<number> {
  if (ids.length === 0) {
    return 0;
  }
  const written = await sql<{ n: string }>`
    with present_rows as materialized (
      select t.id, t.organization_id, t.account_id, t.booking_date, t.description, t.currency, t.bai_type_code
      from unnest(${[...ids]}::uuid[]) as k(id)
      cross join lateral (select t.id, t.organization_id, t.account_id, t.booking_date, t.description, t.currency,
          t.bai_type_code from transactions t where t.id = k.id limit 1) as t
    ), search_rows as (
      insert into transaction_search (transaction_id, organization_id, booking_date, description)
      select c.id, c.organization_id, c.booking_date, c.description from present_rows c
      on conflict (transaction_id) do update
        set organization_id = excluded.organization_id, booking_date = excluded.booking_date,
          description = excluded.description
      where (transaction_search.organization_id, transaction_search.booking_date, transaction_search.description)
        is distinct from (excluded.organization_id, excluded.booking_date, excluded.description)
      returning 1
    ), found_values as (
      insert into transaction_values (field, value, organization_id, account_id)
      select distinct v.field, v.value, c.organization_id, c.account_id from present_rows c
      cross join lateral (values ('currency', c.currency), ('bai_type_code', c.bai_type_code)) as v(field, value)
      where v.value is not null
      on conflict do nothing
    )
    select count(*)::text as n from search_rows`.execute(ex);
  await sql`
    delete from transaction_search s using unnest(${[...ids]}::uuid[]) as k(id)
    where s.transaction_id = k.id and not exists (select 1 from transactions t where t.id = k.id)`.execute(ex);
  return Number(written.rows[0]?.n ?? 0);
}

/** Every account's currencies and BAI type codes from `transactions` (in the search table's rebuild, below). */
async function fillTransactionValues(ex: Executor): Promise<void> {
  await sql`
    insert into transaction_values (field, value, organization_id, account_id)
    select 'currency', currency, organization_id, account_id from transactions group by 2, 3, 4
    union
    select 'bai_type_code', bai_type_code, organization_id, account_id from transactions
      where bai_type_code is not null group by 2, 3, 4
    on conflict do nothing`.execute(ex);
}

/**
 * Fills the search table (and `transaction_values`) again from `transactions` and sets its position (after a
 * change-feed reset, whose horizon drops the events the step had not read yet). Call in the transaction that resets the
 * feed, after its events are deleted, with a `position` just below an xmin read by an EARLIER statement (READ
 * COMMITTED: the fill below has a later snapshot). Every transaction with a lower xid had finished then, so its rows
 * are in the fill; one still running then has its events after `position` (those that committed before the delete lost
 * theirs but their rows are in the fill). An xmin read after the fill could pass a writer that committed in between.
 */
export async function rebuildSearch(ex: Executor, position: FeedPosition): Promise<void> {
  await lockSearchPosition(ex, { wait: true });
  await sql`delete from transaction_search`.execute(ex);
  await sql`
    insert into transaction_search (transaction_id, organization_id, booking_date, description)
    select id, organization_id, booking_date, description from transactions`.execute(ex);
  await fillTransactionValues(ex);
  await setSearchPosition(ex, position);
}

export interface SearchLag {
  position: FeedPosition;
  /** Transaction change events after the position, counted up to `cap`. */
  events: number;
  /** Age of the oldest of them, in seconds (0 when there is none). */
  seconds: number;
}

/** How far the search table is behind the feed: a range of `change_events (xid, id)` after the position, capped. */
export async function searchLag(ex: Executor, cap = 100_000): Promise<SearchLag> {
  const position = await readSearchPosition(ex);
  const result = await sql<{ n: string; oldest: number | null }>`
    select count(*)::text as n, extract(epoch from now() - min(e.created_at))::float8 as oldest from (
      select e.created_at from change_events e
      where (e.xid, e.id) > (${position.xid}::xid8, ${position.id}::bigint) and e.entity = 'transaction'
      order by e.xid, e.id limit ${cap}
    ) e`.execute(ex);
  const row = result.rows[0];
  return { position, events: Number(row?.n ?? 0), seconds: Math.max(0, row?.oldest ?? 0) };
}

export interface FeedActivity {
  /** Age of the newest change event in the feed, in ms (undefined: the feed is empty). */
  newestEventAgeMs: number | undefined;
  /** Age of the oldest change event after `position` (the oldest the step has not applied), in ms (undefined: none). */
  oldestPendingAgeMs: number | undefined;
}

/**
 * Whether ingestion is busy and how far the step is behind, for its yield (events/search-index.ts): two one-row
 * walks of the feed's `(xid, id)` index, from its end and from `position`; no statistics needed. Ages are by the
 * database's clock (an event's `created_at` is its transaction's start).
 */
export async function readFeedActivity(ex: Executor, position: FeedPosition): Promise<FeedActivity> {
  const result = await feedActivityQuery(position).execute(ex);
  const row = result.rows[0];
  const age = (v: number | null | undefined) => (v === null || v === undefined ? undefined : Math.max(0, v));
  return { newestEventAgeMs: age(row?.newest), oldestPendingAgeMs: age(row?.oldest) };
}

/** The query of readFeedActivity (its plan is checked in tests: two index scans, no sort). */
export function feedActivityQuery(position: FeedPosition) {
  return sql<{ newest: number | null; oldest: number | null }>`
    select
      (select extract(epoch from clock_timestamp() - e.created_at)::float8 * 1000 from change_events e
        order by e.xid desc, e.id desc limit 1) as newest,
      (select extract(epoch from clock_timestamp() - e.created_at)::float8 * 1000 from change_events e
        where (e.xid, e.id) > (${position.xid}::xid8, ${position.id}::bigint) order by e.xid, e.id limit 1) as oldest`;
}
