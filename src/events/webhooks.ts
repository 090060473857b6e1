import { uuidv7, uuidv7FromName } from '../shared/ids.ts';
import { committedChangeEventsAfter, readFeedState, type ChangeEventRow } from '../storage/change-feed.repo.ts';
import type { Database } from '../storage/db.ts';
import { committedOutboxEventsAfter, type OutboxFeedRow } from '../storage/outbox.repo.ts';
import {
  activeEndpointsOf,
  insertEventsWithDeliveries,
  lockProducerPosition,
  setProducerPosition,
  type NewWebhookEvent,
} from '../storage/webhooks.repo.ts';
import { encodeFeedCursor } from './change-feed.ts';

/**
 * The transactional outbox that feeds webhook endpoints (the endpoints themselves, their secrets and
 * delivery logs are src/events/webhook-endpoints.ts).
 *
 * Production: `produceWebhookEvents` reads committed change_events and outbox_events in the change
 * feed's commit-safe order (src/events/change-feed.ts) after its stored position, and in ONE
 * transaction stores the webhook events, one delivery per subscribed endpoint, and its new
 * position. Each source event therefore becomes deliveries exactly once; delivery itself is at
 * least once (a receiver dedupes by the event id in the body and the JPM-Sync-Event-Id header).
 *
 * `transactions.changed` is a batch per organization per poll: counts by kind, the accounts
 * touched, and the change-feed cursor range. The receiver fetches the details from
 * GET /v1/changes (from its own stored cursor, or from `cursor.from` until it reaches `cursor.to`).
 */
export const TRANSACTIONS_CHANGED = 'transactions.changed';
export const WEBHOOK_EVENT_TYPES = [
  TRANSACTIONS_CHANGED,
  'integration.created',
  'integration.stage_changed',
  'integration.live',
  'integration.overdue',
  'certificate.installed',
  'certificate.retired',
  'certificate.expiring',
  'certificate.expired',
  'credentials.csr_generated',
  'webhook.ping',
] as const;

/** Retries stop a day after a delivery was created. */
export const DEFAULT_MAX_AGE_SECONDS = 24 * 3600;

export function subscribes(eventTypes: readonly string[], type: string): boolean {
  return eventTypes.some((s) => s === '*' || s === type || (s.endsWith('.*') && type.startsWith(s.slice(0, -1))));
}

function groupByOrganization(rows: readonly ChangeEventRow[]): Map<string, ChangeEventRow[]> {
  const out = new Map<string, ChangeEventRow[]>();
  for (const r of rows) {
    out.set(r.organization_id, [...(out.get(r.organization_id) ?? []), r]);
  }
  return out;
}

/** One batch of change events → `transactions.changed` per organization. Returns events read. */
async function produceFromChanges(
  db: Database,
  batchSize: number,
  maxAgeSeconds: number,
  beforeCommit: () => Promise<void>,
): Promise<number> {
  return db.transaction().execute(async (trx) => {
    const position = await lockProducerPosition(trx, 'change_events');
    if (!position) {
      return 0;
    }
    const rows = await committedChangeEventsAfter(trx, { organizationId: null, after: position, limit: batchSize });
    const last = rows[rows.length - 1];
    if (!last) {
      return 0;
    }
    const { epoch } = await readFeedState(trx);
    const byOrg = groupByOrganization(rows);
    const endpoints = (await activeEndpointsOf(trx, [...byOrg.keys()])).filter((e) =>
      subscribes(e.event_types, TRANSACTIONS_CHANGED),
    );
    const events: NewWebhookEvent[] = [];
    for (const [organizationId, changes] of byOrg) {
      const endpointIds = endpoints.filter((e) => e.organization_id === organizationId).map((e) => e.id);
      const end = changes[changes.length - 1];
      if (endpointIds.length === 0 || !end) {
        continue;
      }
      const count = (kind: string) => changes.filter((c) => c.kind === kind).length;
      events.push({
        id: uuidv7(),
        organizationId,
        type: TRANSACTIONS_CHANGED,
        endpointIds,
        payload: {
          changes: {
            added: count('added'),
            modified: count('modified'),
            removed: count('removed'),
            total: changes.length,
          },
          accountIds: [...new Set(changes.map((c) => c.account_id))],
          cursor: {
            from: encodeFeedCursor({ epoch, ...position }),
            to: encodeFeedCursor({ epoch, xid: end.xid, id: end.id }),
          },
        },
      });
    }
    await insertEventsWithDeliveries(trx, events, uuidv7, maxAgeSeconds);
    await setProducerPosition(trx, 'change_events', { xid: last.xid, id: last.id });
    await beforeCommit();
    return rows.length;
  });
}

/**
 * A milestone's webhook event id: the same every time the milestone is produced. After a database restore the
 * producer sends again the milestones of the backup that it had sent only after the backup was taken (that history
 * is lost): their receivers get the id they had, and drop the repeat as they drop any repeated delivery. The
 * milestone's sequence number alone would not do (a restore of an older dump hands its numbers out again, to other
 * milestones); with the organization and the time it was stored it names one milestone.
 */
function milestoneEventId(r: OutboxFeedRow): string {
  return uuidv7FromName(r.created_at.getTime(), `milestone:${r.organization_id}:${r.id}:${r.created_at.toISOString()}`);
}

/** One batch of milestone events from the onboarding outbox. Returns events read. */
async function produceFromOutbox(
  db: Database,
  batchSize: number,
  maxAgeSeconds: number,
  beforeCommit: () => Promise<void>,
): Promise<number> {
  return db.transaction().execute(async (trx) => {
    const position = await lockProducerPosition(trx, 'outbox_events');
    if (!position) {
      return 0;
    }
    const rows = await committedOutboxEventsAfter(trx, position, batchSize);
    const last = rows[rows.length - 1];
    if (!last) {
      return 0;
    }
    const endpoints = await activeEndpointsOf(trx, [...new Set(rows.map((r) => r.organization_id))]);
    const events: NewWebhookEvent[] = rows.flatMap((r) => {
      const endpointIds = endpoints
        .filter((e) => e.organization_id === r.organization_id && subscribes(e.event_types, r.type))
        .map((e) => e.id);
      const payload = {
        integrationId: r.integration_id,
        ...(r.payload as Record<string, unknown>),
        occurredAt: r.created_at.toISOString(),
      };
      return endpointIds.length === 0
        ? []
        : [{ id: milestoneEventId(r), organizationId: r.organization_id, type: r.type, endpointIds, payload }];
    });
    await insertEventsWithDeliveries(trx, events, uuidv7, maxAgeSeconds);
    await setProducerPosition(trx, 'outbox_events', { xid: last.xid, id: last.id });
    await beforeCommit();
    return rows.length;
  });
}

/**
 * Drains both sources (bounded per call). Safe to run from many workers: one producer per source at a time.
 * `beforeCommit` runs last in each batch's transaction; it throws to roll the batch back (the change feed's database
 * changed under the running service: src/events/feed-database-guard.ts).
 */
export async function produceWebhookEvents(
  db: Database,
  options: {
    batchSize?: number;
    maxAgeSeconds?: number;
    maxBatches?: number;
    beforeCommit?: () => Promise<void>;
  } = {},
): Promise<{ changes: number; milestones: number }> {
  const beforeCommit = options.beforeCommit ?? (() => Promise.resolve());
  const batchSize = options.batchSize ?? 2_000;
  const maxAge = options.maxAgeSeconds ?? DEFAULT_MAX_AGE_SECONDS;
  const out = { changes: 0, milestones: 0 };
  for (let i = 0; i < (options.maxBatches ?? 10); i++) {
    const n = await produceFromChanges(db, batchSize, maxAge, beforeCommit);
    out.changes += n;
    if (n < batchSize) {
      break;
    }
  }
  for (let i = 0; i < (options.maxBatches ?? 10); i++) {
    const n = await produceFromOutbox(db, batchSize, maxAge, beforeCommit);
    out.milestones += n;
    if (n < batchSize) {
      break;
    }
  }
  return out;
}
