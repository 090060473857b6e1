import { sql } from 'kysely';
import type { Executor } from './db.ts';

/**
 * Every stored value ordered by the id of the Postgres transaction that wrote it (xid8): the feeds' events and the
 * positions their readers keep. The one list the restore check (`xidsAheadOfCluster`) and the reset
 * (src/events/change-feed.ts `resetChangeFeed`) work from; tests/integration/change-feed-restore.test.ts fails when a
 * xid8 column of the schema is missing here.
 */
export const XID_ORDERED = [
  { table: 'change_events', column: 'xid', what: 'change feed events' },
  { table: 'change_feed_state', column: 'purged_through_xid', what: 'change feed purge horizon' },
  { table: 'transaction_search_state', column: 'position_xid', what: "text search step's position" },
  { table: 'webhook_producer_state', column: 'position_xid', what: "webhook producer's positions" },
  { table: 'outbox_events', column: 'xid', what: 'milestone events (GET /v1/events)' },
  { table: 'notification_producer_state', column: 'position_xid', what: "email notifications' position" },
] as const;

export interface XidsAhead {
  /** The next transaction id this Postgres cluster will assign. */
  next: string;
  /** The highest stored xid over every entry of XID_ORDERED. */
  stored: string;
  /** The entries holding an xid at or above `next`, with their highest. */
  ahead: { what: string; stored: string }[];
}

/**
 * The highest stored xid of every entry of XID_ORDERED and the cluster's next one. Every stored xid was assigned by
 * the cluster that wrote it; one at or above `next` comes from a cluster further along (a dump restored into this
 * one): new rows would get lower xids, ordered before it, and readers past it would skip them.
 */
export async function xidsAheadOfCluster(ex: Executor): Promise<XidsAhead> {
  const maxima = sql.join(
    XID_ORDERED.map(
      (e) => sql`select ${e.what}::text as what, max(${sql.ref(e.column)})::text as stored from ${sql.table(e.table)}`,
    ),
    sql` union all `,
  );
  const result = await sql<{ what: string; stored: string | null; next: string }>`
    select m.what, m.stored, pg_snapshot_xmax(pg_current_snapshot())::text as next from (${maxima}) m`.execute(ex);
  const next = result.rows[0]?.next ?? '0';
  let stored = 0n;
  const ahead: XidsAhead['ahead'] = [];
  for (const row of result.rows) {
    if (row.stored === null) {
      continue;
    }
    const xid = BigInt(row.stored);
    stored = xid > stored ? xid : stored;
    if (xid >= BigInt(next)) {
      ahead.push({ what: row.what, stored: row.stored });
    }
  }
  return { next, stored: stored.toString(), ahead };
}

/** The milestone feed's readers that keep a position in outbox_events (webhooks and email notifications). */
const OUTBOX_READERS = [
  { table: 'webhook_producer_state', source: 'outbox_events' },
  { table: 'notification_producer_state', source: 'outbox_events' },
] as const;

const MAX_ID = '9223372036854775807';

/**
 * After a restore into a cluster whose counter is lower (some milestone event or reader position at or above the
 * cluster's next xid; otherwise nothing changes): gives the milestone events from `horizonXid - R` on (R: the number
 * of reader positions) new xids in [horizonXid - R, horizonXid], so they are final now and ordered before every event
 * written from now on, and moves the readers' positions with them. The new xid of an event is `horizonXid - R` plus
 * the number of reader positions it was after, so every reader has after its new position exactly the events it had
 * after its old one (nothing skipped, nothing read twice); within one xid the events keep their id order. Events
 * below `horizonXid - R` and positions there keep theirs (every moved event stays after them). Returns how many
 * events were moved.
 */
export async function moveMilestonesBelow(ex: Executor, horizonXid: string): Promise<number> {
  const ahead = await sql<{ ahead: boolean }>`
    select greatest((select max(xid) from outbox_events),
        (select max(position_xid) from webhook_producer_state where source = 'outbox_events'),
        (select max(position_xid) from notification_producer_state where source = 'outbox_events'))
      >= pg_snapshot_xmax(pg_current_snapshot()) as ahead`.execute(ex);
  if (ahead.rows[0]?.ahead !== true) {
    return 0;
  }
  const positions: { reader: (typeof OUTBOX_READERS)[number]; xid: bigint; id: bigint }[] = [];
  for (const reader of OUTBOX_READERS) {
    const r = await sql<{ xid: string; id: string }>`
      select position_xid::text as xid, position_id::text as id from ${sql.table(reader.table)}
      where source = ${reader.source} for update`.execute(ex);
    for (const row of r.rows) {
      positions.push({ reader, xid: BigInt(row.xid), id: BigInt(row.id) });
    }
  }
  const base = BigInt(horizonXid) - BigInt(positions.length);
  const moved = await sql`
    update outbox_events o
    set xid = (${base.toString()}::numeric + (
        select count(*) from unnest(${positions.map((p) => p.xid.toString())}::text[]::xid8[],
          ${positions.map((p) => p.id.toString())}::bigint[]) as p(x, i)
        where (o.xid, o.id) > (p.x, p.i)))::text::xid8
    where o.xid >= ${base.toString()}::xid8`.execute(ex);
  for (const p of positions.filter((q) => q.xid >= base)) {
    // The events after p have at least `atOrBefore` positions before them; those not after it, fewer.
    const atOrBefore = positions.filter((q) => q.xid < p.xid || (q.xid === p.xid && q.id <= p.id)).length;
    await sql`update ${sql.table(p.reader.table)}
        set position_xid = ${(base + BigInt(atOrBefore) - 1n).toString()}::xid8, position_id = ${MAX_ID}::bigint,
          updated_at = now()
      where source = ${p.reader.source}`.execute(ex);
  }
  return Number(moved.numAffectedRows ?? 0n);
}
