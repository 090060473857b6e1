import { sql } from 'kysely';
import type { Executor } from './db.ts';
import { withPlannerSettings } from './planner-settings.ts';

/**
 * Storage of the change feed's ordering machinery. Positions are `(xid, id)` pairs: the writing
 * transaction's id (xid8, as decimal text) and the event's sequence number (bigint, as text). The
 * rules that make this safe are in src/events/change-feed.ts; this file only runs the queries.
 */
export interface FeedPosition {
  xid: string;
  id: string;
}

export interface FeedState {
  epoch: number;
  purgedThrough: FeedPosition;
  /** The snapshot's xmin: every transaction with a lower xid has finished (committed or aborted). */
  xmin: string;
}

/** The feed's epoch and purge horizon, and the current snapshot's xmin, in the caller's snapshot. */
export async function readFeedState(ex: Executor, options: { forUpdate?: boolean } = {}): Promise<FeedState> {
  const lock = options.forUpdate ? sql` for update` : sql``;
  const result = await sql<{ epoch: string; purged_through_xid: string; purged_through_id: string; xmin: string }>`
    select epoch::text as epoch, purged_through_xid::text as purged_through_xid, purged_through_id::text as purged_through_id,
      pg_snapshot_xmin(pg_current_snapshot())::text as xmin
    from change_feed_state where id = 1${lock}`.execute(ex);
  const row = result.rows[0];
  if (!row) {
    throw new Error('change_feed_state has no row: run the migrations');
  }
  return {
    // Epochs are below 2^53 (a check on change_feed_epochs): exact as a JS number.
    epoch: Number(row.epoch),
    purgedThrough: { xid: row.purged_through_xid, id: row.purged_through_id },
    xmin: row.xmin,
  };
}

export interface ChangeEventRow {
  id: string;
  xid: string;
  organization_id: string;
  account_id: string;
  entity: string;
  entity_id: string;
  kind: string;
  created_at: Date;
}

/**
 * Events after `after` in (xid, id) order whose writing transaction is older than every transaction
 * still running. The xmin is read inside the statement (an InitPlan, evaluated once), so it belongs
 * to the same snapshot as the rows. Served by change_events_xid_id_idx / change_events_org_xid_id_idx.
 */
export async function committedChangeEventsAfter(
  ex: Executor,
  filter: { organizationId: string | null; after: FeedPosition; limit: number },
): Promise<ChangeEventRow[]> {
  if (filter.organizationId === null) {
    return eventsAfter(ex, filter);
  }
  // One organization's page is planned without sorts: the walk of (organization_id, xid, id) from the cursor that stops
  // at the page. Without statistics the cursor looks like a third of the organization's events, and every event after
  // it was read and sorted for a page (a consumer catching up on a long feed read the rest of it, page after page).
  return withPlannerSettings(ex, { enable_sort: 'off', jit: 'off' }, (trx) => eventsAfter(trx, filter));
}

async function eventsAfter(
  ex: Executor,
  filter: { organizationId: string | null; after: FeedPosition; limit: number },
): Promise<ChangeEventRow[]> {
  const org = filter.organizationId === null ? sql`` : sql`and e.organization_id = ${filter.organizationId}::uuid`;
  // ORDER BY names the table columns: a bare `id` would sort by the text alias below ("10" < "9").
  const result = await sql<ChangeEventRow>`
    select e.id::text as id, e.xid::text as xid, e.organization_id, e.account_id, e.entity, e.entity_id, e.kind,
      e.created_at
    from change_events e
    where e.xid < (select pg_snapshot_xmin(pg_current_snapshot()))
      and (e.xid, e.id) > (${filter.after.xid}::xid8, ${filter.after.id}::bigint)
      ${org}
    order by e.xid, e.id
    limit ${filter.limit}`.execute(ex);
  return result.rows;
}

/** Deletes every event at or before `through` and records it as the purge horizon. */
export async function purgeChangeEventsThrough(ex: Executor, through: FeedPosition): Promise<number> {
  const deleted = await sql`
    delete from change_events where (xid, id) <= (${through.xid}::xid8, ${through.id}::bigint)`.execute(ex);
  await sql`
    update change_feed_state set purged_through_xid = ${through.xid}::xid8, purged_through_id = ${through.id}::bigint,
      purged_at = now()
    where id = 1 and (purged_through_xid, purged_through_id) < (${through.xid}::xid8, ${through.id}::bigint)`.execute(
    ex,
  );
  return Number(deleted.numAffectedRows ?? 0n);
}

/** Whether the feed has had `epoch` (every epoch it started is recorded in change_feed_epochs). */
export async function feedEpochIssued(ex: Executor, epoch: number): Promise<boolean> {
  const result = await sql<{ issued: boolean }>`
    select exists (select 1 from change_feed_epochs where epoch = ${String(epoch)}::bigint) as issued`.execute(ex);
  return result.rows[0]?.issued === true;
}

/**
 * Starts epoch `epoch` at `horizon` (after a restore, when stored xids no longer match the server's):
 * deletes every event visible now, moves the horizon there (even backwards) and moves the webhook
 * producer's change-feed position to it, so every earlier cursor is refused and the feed restarts cleanly. Events of
 * transactions still running are not visible, not deleted, and land after the horizon. Returns false,
 * changing nothing, when `epoch` was had already (the caller draws another).
 */
export async function resetFeed(ex: Executor, horizon: FeedPosition, epoch: number): Promise<boolean> {
  const recorded = await sql`
    insert into change_feed_epochs (epoch, started_at) values (${String(epoch)}::bigint, now())
    on conflict (epoch) do nothing`.execute(ex);
  if (Number(recorded.numAffectedRows ?? 0n) === 0) {
    return false;
  }
  await sql`delete from change_events`.execute(ex);
  await sql`update webhook_producer_state
      set position_xid = ${horizon.xid}::xid8, position_id = ${horizon.id}::bigint, updated_at = now()
    where source = 'change_events'`.execute(ex);
  await sql`
    update change_feed_state set epoch = ${String(epoch)}::bigint, purged_through_xid = ${horizon.xid}::xid8,
      purged_through_id = ${horizon.id}::bigint, reset_at = now()
    where id = 1`.execute(ex);
  return true;
}
