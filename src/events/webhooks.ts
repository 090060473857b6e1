import { ConflictError, ValidationError } from '../shared/errors.ts';
import { uuidv7 } from '../shared/ids.ts';
import type { OutboundPolicy } from '../shared/outbound-policy.ts';
import { committedChangeEventsAfter, readFeedState, type ChangeEventRow } from '../storage/change-feed.repo.ts';
import type { Database } from '../storage/db.ts';
import {
  activeEndpointsOf,
  committedOutboxEventsAfter,
  endpointSecrets,
  getEndpoint,
  insertEndpoint,
  insertEventsWithDeliveries,
  insertReplay,
  lockProducerPosition,
  rotateEndpointSecret,
  setProducerPosition,
  type EndpointRow,
  type NewWebhookEvent,
} from '../storage/webhooks.repo.ts';
import { encodeFeedCursor } from './change-feed.ts';
import { generateWebhookSecret, sealSecret, type SealingKeys } from './webhook-signing.ts';

/**
 * Webhook endpoints and the transactional outbox that feeds them.
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

/** A subscription is a known type, `*` (everything) or `<group>.*` (e.g. `certificate.*`). */
export function isValidSubscription(s: string): boolean {
  if (s === '*' || (WEBHOOK_EVENT_TYPES as readonly string[]).includes(s)) {
    return true;
  }
  const group = /^([a-z_]+)\.\*$/.exec(s)?.[1];
  return group !== undefined && WEBHOOK_EVENT_TYPES.some((t) => t.startsWith(`${group}.`));
}

export function subscribes(eventTypes: readonly string[], type: string): boolean {
  return eventTypes.some((s) => s === '*' || s === type || (s.endsWith('.*') && type.startsWith(s.slice(0, -1))));
}

export function assertSubscriptions(eventTypes: readonly string[]): void {
  const bad = eventTypes.filter((s) => !isValidSubscription(s));
  if (bad.length > 0) {
    throw new ValidationError(
      `Unknown event types: ${bad.join(', ')}. Known: ${WEBHOOK_EVENT_TYPES.join(', ')}, or * / <group>.*`,
      [{ path: 'body.eventTypes', message: `unknown: ${bad.join(', ')}` }],
    );
  }
}

/**
 * Endpoint URLs: https, or http where allowed (development and tests); no credentials in the URL; and,
 * with the deployment's outbound policy, a host that is not (and does not resolve to) loopback, a
 * private, link-local or metadata address (400 `outbound_address_refused`). Delivery checks again
 * at connect time, so a host that later resolves elsewhere (DNS rebinding) is still refused.
 */
export async function assertEndpointUrl(url: string, allowHttp: boolean, outbound?: OutboundPolicy): Promise<void> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ValidationError('url must be an absolute URL', [{ path: 'body.url', message: 'not a URL' }]);
  }
  const schemeOk = parsed.protocol === 'https:' || (allowHttp && parsed.protocol === 'http:');
  if (!schemeOk || parsed.username || parsed.password) {
    throw new ValidationError(`url must be ${allowHttp ? 'http(s)' : 'https'} without credentials`, [
      { path: 'body.url', message: 'unsupported URL' },
    ]);
  }
  await outbound?.checkUrl(url, { path: 'body.url' });
}

export interface CreatedEndpoint {
  endpoint: EndpointRow;
  /** Shown once, to the creator; stored only sealed under the master key. */
  secret: string;
}

export async function createWebhookEndpoint(
  db: Database,
  keys: SealingKeys,
  input: { organizationId: string; url: string; eventTypes: readonly string[]; description: string; createdBy: string },
): Promise<CreatedEndpoint> {
  assertSubscriptions(input.eventTypes);
  const id = uuidv7();
  const secret = generateWebhookSecret();
  const endpoint = await insertEndpoint(db, { ...input, id, secret: sealSecret(secret, keys, id, 1) });
  return { endpoint, secret };
}

/**
 * New secret, shown once. The old one keeps signing (a second `v1=`) for `graceSeconds`, so
 * receivers can switch without dropping deliveries; 0 ends it at once.
 */
export async function rotateWebhookSecret(
  db: Database,
  keys: SealingKeys,
  id: string,
  graceSeconds: number,
): Promise<CreatedEndpoint> {
  return db.transaction().execute(async (trx) => {
    const current = await getEndpoint(trx, id, { forUpdate: true });
    const sealed = await endpointSecrets(trx, id);
    if (!current || !sealed) {
      throw new ConflictError('the endpoint was deleted', 'endpoint_deleted');
    }
    const secret = generateWebhookSecret();
    const version = sealed.secret_version + 1;
    const endpoint = await rotateEndpointSecret(trx, id, sealSecret(secret, keys, id, version), version, graceSeconds);
    return { endpoint, secret };
  });
}

function groupByOrganization(rows: readonly ChangeEventRow[]): Map<string, ChangeEventRow[]> {
  const out = new Map<string, ChangeEventRow[]>();
  for (const r of rows) {
    out.set(r.organization_id, [...(out.get(r.organization_id) ?? []), r]);
  }
  return out;
}

/** One batch of change events → `transactions.changed` per organization. Returns events read. */
async function produceFromChanges(db: Database, batchSize: number, maxAgeSeconds: number): Promise<number> {
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
    return rows.length;
  });
}

/** One batch of milestone events from the onboarding outbox. Returns events read. */
async function produceFromOutbox(db: Database, batchSize: number, maxAgeSeconds: number): Promise<number> {
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
        : [{ id: uuidv7(), organizationId: r.organization_id, type: r.type, endpointIds, payload }];
    });
    await insertEventsWithDeliveries(trx, events, uuidv7, maxAgeSeconds);
    await setProducerPosition(trx, 'outbox_events', { xid: last.xid, id: last.id });
    return rows.length;
  });
}

/** Drains both sources (bounded per call). Safe to run from many workers: one producer per source at a time. */
export async function produceWebhookEvents(
  db: Database,
  options: { batchSize?: number; maxAgeSeconds?: number; maxBatches?: number } = {},
): Promise<{ changes: number; milestones: number }> {
  const batchSize = options.batchSize ?? 2_000;
  const maxAge = options.maxAgeSeconds ?? DEFAULT_MAX_AGE_SECONDS;
  const out = { changes: 0, milestones: 0 };
  for (let i = 0; i < (options.maxBatches ?? 10); i++) {
    const n = await produceFromChanges(db, batchSize, maxAge);
    out.changes += n;
    if (n < batchSize) {
      break;
    }
  }
  for (let i = 0; i < (options.maxBatches ?? 10); i++) {
    const n = await produceFromOutbox(db, batchSize, maxAge);
    out.milestones += n;
    if (n < batchSize) {
      break;
    }
  }
  return out;
}

/** Queues the same event again for the same endpoint, signed afresh at send time. Returns the new delivery id. */
export async function replayDelivery(
  db: Database,
  original: { id: string; organizationId: string; endpointId: string; eventId: string },
  maxAgeSeconds = DEFAULT_MAX_AGE_SECONDS,
): Promise<string> {
  const id = uuidv7();
  await insertReplay(db, original, id, maxAgeSeconds);
  return id;
}

/** A `webhook.ping` to one endpoint, to check the receiver and its signature verification. */
export async function pingEndpoint(db: Database, endpoint: { id: string; organization_id: string }): Promise<string> {
  const deliveryId = uuidv7();
  await db.transaction().execute(async (trx) => {
    await insertEventsWithDeliveries(
      trx,
      [
        {
          id: uuidv7(),
          organizationId: endpoint.organization_id,
          type: 'webhook.ping',
          endpointIds: [endpoint.id],
          payload: { endpointId: endpoint.id },
        },
      ],
      () => deliveryId,
      DEFAULT_MAX_AGE_SECONDS,
    );
  });
  return deliveryId;
}
