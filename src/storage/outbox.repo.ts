import { sql } from 'kysely';
import type { FeedPosition } from './change-feed.repo.ts';
import type { Executor } from './db.ts';

/**
 * Transactional outbox for milestone events (integration stage changes, overdue, certificate
 * expiry). Writers insert in the same transaction as the change they announce; the events module
 * delivers them later. Kept generic: a type, a JSON payload and the tenant.
 */
export interface OutboxEventInput {
  organizationId: string;
  integrationId?: string | null;
  type: string;
  payload: Record<string, unknown>;
}

export interface OutboxEventRow {
  id: string;
  organization_id: string;
  integration_id: string | null;
  type: string;
  payload: unknown;
  created_at: Date;
}

export async function insertOutboxEvents(ex: Executor, events: readonly OutboxEventInput[]): Promise<void> {
  if (events.length === 0) {
    return;
  }
  await ex
    .insertInto('outbox_events')
    .values(
      events.map((e) => ({
        organization_id: e.organizationId,
        integration_id: e.integrationId ?? null,
        type: e.type,
        payload: JSON.stringify(e.payload),
      })),
    )
    .execute();
}

/**
 * Milestone events by sequence number: a lookup (onboarding's own `integration.created`), never a feed (a lower id
 * can commit after a higher one was read; feeds use `committedOutboxEventsAfter`).
 */
export async function listOutboxEvents(
  ex: Executor,
  filter: { integrationId: string; type: string; limit: number },
): Promise<OutboxEventRow[]> {
  return ex
    .selectFrom('outbox_events')
    .select(['id', 'organization_id', 'integration_id', 'type', 'payload', 'created_at'])
    .where('integration_id', '=', filter.integrationId)
    .where('type', '=', filter.type)
    .orderBy('id', 'asc')
    .limit(filter.limit)
    .execute();
}

export interface OutboxFeedRow extends OutboxEventRow {
  xid: string;
}

/** Where the outbox feed starts: before every event. */
export const OUTBOX_FEED_START: FeedPosition = { xid: '0', id: '0' };

/**
 * Milestone events after `after` whose transaction is final, in (xid, id) order: the change feed's rule
 * (src/events/change-feed.ts), so a reader resuming after the last (xid, id) it got skips and repeats nothing.
 * Served by `outbox_events_xid_id_idx`, `outbox_events_org_xid_id_idx` / `outbox_events_integration_xid_id_idx` for one
 * organization or integration, `outbox_events_type_xid_id_idx` for a type, and `outbox_events_org_type_xid_id_idx` /
 * `outbox_events_integration_type_xid_id_idx` for a type of one organization or integration.
 */
export async function committedOutboxEventsAfter(
  ex: Executor,
  after: FeedPosition,
  limit: number,
  filter: { organizationId?: string | undefined; integrationId?: string | undefined; type?: string | undefined } = {},
): Promise<OutboxFeedRow[]> {
  const org = filter.organizationId === undefined ? sql`` : sql`and o.organization_id = ${filter.organizationId}::uuid`;
  const integration =
    filter.integrationId === undefined ? sql`` : sql`and o.integration_id = ${filter.integrationId}::uuid`;
  const type = filter.type === undefined ? sql`` : sql`and o.type = ${filter.type}`;
  // ORDER BY names the table columns: a bare `id` would sort by the text alias below ("10" < "9").
  const r = await sql<OutboxFeedRow>`
    select o.id::text as id, o.xid::text as xid, o.organization_id, o.integration_id, o.type, o.payload, o.created_at
    from outbox_events o
    where o.xid < (select pg_snapshot_xmin(pg_current_snapshot()))
      and (o.xid, o.id) > (${after.xid}::xid8, ${after.id}::bigint)
      ${org} ${integration} ${type}
    order by o.xid, o.id
    limit ${limit}`.execute(ex);
  return r.rows;
}

/**
 * Whether a milestone event stands at exactly `p` (every milestone cursor names the event it was issued after, and
 * milestone events are never deleted): a position naming none was not issued by this feed as it is, e.g. one issued
 * before a restore whose event a reset moved (src/storage/xid-positions.repo.ts `moveMilestonesBelow`).
 */
export async function outboxEventAt(ex: Executor, p: FeedPosition): Promise<boolean> {
  const r = await sql<{ found: boolean }>`
    select exists (select 1 from outbox_events where xid = ${p.xid}::xid8 and id = ${p.id}::bigint) as found`.execute(
    ex,
  );
  return r.rows[0]?.found === true;
}
