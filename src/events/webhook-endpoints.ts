import { ConflictError, NotFoundError, ValidationError } from '../shared/errors.ts';
import { uuidv7 } from '../shared/ids.ts';
import { isIsoDate } from '../shared/time.ts';
import type { OutboundPolicy } from '../shared/outbound-policy.ts';
import { inTransaction, type Database, type Executor } from '../storage/db.ts';
import { decodeCursor, pageOf, type Page } from '../storage/pagination.ts';
import {
  endPendingDeliveriesOf,
  endpointSecrets,
  getDelivery,
  heldDeliveriesOf,
  getEndpoint,
  insertEndpoint,
  insertEventsWithDeliveries,
  insertReplay,
  listAttempts,
  listDeliveries,
  listEndpoints,
  rotateEndpointSecret,
  updateEndpoint,
  type EndpointRow,
} from '../storage/webhooks.repo.ts';
import { generateWebhookSecret, sealSecret, type SealingKeys } from './webhook-signing.ts';
import { DEFAULT_MAX_AGE_SECONDS, WEBHOOK_EVENT_TYPES } from './webhooks.ts';

/**
 * The webhook endpoint service: register, change, delete and rotate the secret of an endpoint, read
 * its delivery log, ping it and replay a delivery. What the read API's webhook routes call; the
 * producer that turns committed changes into deliveries is src/events/webhooks.ts, the sender
 * src/events/webhook-delivery.ts.
 */
export interface WebhookEndpointDeps {
  db: Database;
  /** The credentials master keys (Secrets), which seal signing secrets at rest. */
  keys: SealingKeys;
  /** Plain-http endpoint URLs (development and tests only). */
  allowHttpEndpoints: boolean;
  /** The deployment's outbound address policy, checked when a URL is registered (and again at delivery). */
  outbound?: OutboundPolicy;
}

/** A subscription is a known type, `*` (everything) or `<group>.*` (e.g. `certificate.*`). */
function isValidSubscription(s: string): boolean {
  if (s === '*' || (WEBHOOK_EVENT_TYPES as readonly string[]).includes(s)) {
    return true;
  }
  const group = /^([a-z_]+)\.\*$/.exec(s)?.[1];
  return group !== undefined && WEBHOOK_EVENT_TYPES.some((t) => t.startsWith(`${group}.`));
}

function assertSubscriptions(eventTypes: readonly string[]): void {
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
async function assertEndpointUrl(url: string, allowHttp: boolean, outbound?: OutboundPolicy): Promise<void> {
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

/** Registers an endpoint: the URL and subscriptions are checked first (400), then it is stored with a new secret. */
export async function createWebhookEndpoint(
  deps: WebhookEndpointDeps,
  input: { organizationId: string; url: string; eventTypes: readonly string[]; description: string; createdBy: string },
): Promise<CreatedEndpoint> {
  await assertEndpointUrl(input.url, deps.allowHttpEndpoints, deps.outbound);
  assertSubscriptions(input.eventTypes);
  const id = uuidv7();
  const secret = generateWebhookSecret();
  const endpoint = await insertEndpoint(deps.db, { ...input, id, secret: sealSecret(secret, deps.keys, id, 1) });
  return { endpoint, secret };
}

/** An endpoint that was not deleted; 404 otherwise. */
export async function getWebhookEndpoint(db: Database, id: string): Promise<EndpointRow> {
  const endpoint = await getEndpoint(db, id);
  if (!endpoint) {
    throw new NotFoundError('webhook endpoint', id);
  }
  return endpoint;
}

/** One keyset page of endpoints in id order (`cursor`: the `nextCursor` of the page before). */
export async function pageWebhookEndpoints(
  db: Database,
  query: { organizationId: string | undefined; cursor?: string | undefined; limit: number },
): Promise<Page<EndpointRow>> {
  const afterId = query.cursor === undefined ? undefined : decodeCursor(query.cursor, ['uuid'])[0];
  const rows = await listEndpoints(db, { organizationId: query.organizationId, afterId, limit: query.limit });
  return pageOf(rows, query.limit, (r) => [r.id]);
}

/** Changes an endpoint's URL, event types, description or status; a new URL and event types are checked first. */
export async function changeWebhookEndpoint(
  deps: WebhookEndpointDeps,
  id: string,
  changes: {
    url?: string | undefined;
    eventTypes?: readonly string[] | undefined;
    description?: string | undefined;
    status?: 'active' | 'disabled' | undefined;
  },
): Promise<EndpointRow> {
  if (changes.url !== undefined) {
    await assertEndpointUrl(changes.url, deps.allowHttpEndpoints, deps.outbound);
  }
  if (changes.eventTypes !== undefined) {
    assertSubscriptions(changes.eventTypes);
  }
  return changedOrGone(id, await updateEndpoint(deps.db, id, changes));
}

/** What a delivery ended by its endpoint's deletion says in the log. */
export const ENDPOINT_DELETED = 'endpoint deleted';

/**
 * Deletes an endpoint: once this returns, its receiver gets no further request. Its pending deliveries end at once
 * (failed, `endpoint deleted`; the delivery log is kept). A delivery a runner holds at that moment may have read the
 * endpoint as active just before and be sending: the deletion waits for it to be recorded (or for the runner's hold
 * to run out, a stalled runner), then ends it too if it was to be retried. A runner that reads the endpoint after
 * the deletion sends nothing (src/events/webhook-delivery.ts).
 */
export async function deleteWebhookEndpoint(db: Database, id: string): Promise<EndpointRow> {
  const row = await db.transaction().execute(async (trx) => {
    const deleted = await updateEndpoint(trx, id, { status: 'deleted' });
    if (deleted) {
      await endPendingDeliveriesOf(trx, id, ENDPOINT_DELETED);
    }
    return deleted;
  });
  const endpoint = changedOrGone(id, row);
  // Polled rather than locked: a runner holds no transaction (nor lock) while it sends (STYLE §11).
  while ((await heldDeliveriesOf(db, id)) > 0) {
    await new Promise((resolve) => setTimeout(resolve, SEND_POLL_MS));
  }
  await endPendingDeliveriesOf(db, id, ENDPOINT_DELETED);
  return endpoint;
}

const SEND_POLL_MS = 50;

/** An endpoint deleted after the caller's scope check (a concurrent delete) is a 404, never brought back. */
function changedOrGone(id: string, row: EndpointRow | undefined): EndpointRow {
  if (!row) {
    throw new NotFoundError('webhook endpoint', id);
  }
  return row;
}

/**
 * New secret, shown once. The replaced one keeps signing (another `v1=`) for `graceSeconds`, so receivers can
 * switch without dropping deliveries. An earlier secret still in its own grace (a second rotation within the first's
 * grace) keeps signing until that grace ends; at most two earlier secrets sign, so a rotation while two are still
 * in their grace is refused (409 `secret_rotation_too_soon`, saying when it is allowed). `graceSeconds` 0 ends every
 * earlier secret at once (e.g. after a leak) and is never refused.
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
    const endEarlier = graceSeconds === 0;
    if (!endEarlier && sealed.previous_valid && sealed.older_valid) {
      throw tooSoon(sealed);
    }
    const secret = generateWebhookSecret();
    const version = sealed.secret_version + 1;
    const endpoint = await rotateEndpointSecret(
      trx,
      id,
      sealSecret(secret, keys, id, version),
      version,
      graceSeconds,
      endEarlier,
    );
    return { endpoint, secret };
  });
}

function tooSoon(sealed: NonNullable<Awaited<ReturnType<typeof endpointSecrets>>>): ConflictError {
  const ends = [
    { version: sealed.older_secret_version, until: sealed.older_secret_expires_at },
    { version: sealed.previous_secret_version, until: sealed.previous_secret_expires_at },
  ].flatMap((e) => (e.until ? [{ version: e.version, until: new Date(e.until) }] : []));
  ends.sort((a, b) => a.until.getTime() - b.until.getTime());
  const first = ends[0]?.until.toISOString() ?? '';
  return new ConflictError(
    `two earlier secrets still sign (${ends.map((e) => `version ${e.version} until ${e.until.toISOString()}`).join(', ')}), ` +
      `and a rotation now would stop one before its grace period ends; rotate again after ${first}, or with ` +
      'gracePeriodHours 0 to end every earlier secret now',
    'secret_rotation_too_soon',
    { allowedAfter: first },
  );
}

type DeliveryRow = NonNullable<Awaited<ReturnType<typeof getDelivery>>>;

/** A delivery of this endpoint (with its event); 404 when unknown or another endpoint's. */
export async function getEndpointDelivery(db: Database, endpointId: string, deliveryId: string): Promise<DeliveryRow> {
  const delivery = await getDelivery(db, deliveryId);
  if (!delivery || delivery.endpoint_id !== endpointId) {
    throw new NotFoundError('webhook delivery', deliveryId);
  }
  return delivery;
}

/** One keyset page of an endpoint's deliveries, newest first (`cursor`: the `nextCursor` of the page before). */
export async function pageEndpointDeliveries(
  db: Database,
  endpointId: string,
  query: { status?: 'pending' | 'succeeded' | 'failed' | undefined; cursor?: string | undefined; limit: number },
) {
  const before =
    query.cursor === undefined
      ? undefined
      : (([createdAt, id]) => ({ createdAt: deliveryPosition(createdAt), id }))(
          decodeCursor(query.cursor, ['string', 'uuid']),
        );
  const rows = await listDeliveries(db, endpointId, { status: query.status, before, limit: query.limit });
  return pageOf(rows, query.limit, (r) => [r.created_at_key, r.id]);
}

/**
 * `created_at::text` as Postgres wrote it into the cursor: `2026-12-07 05:22:24.123456+00`. The offset within
 * Postgres's ±15:59:59 (a larger one reached Postgres and was refused there, naming no field).
 */
const TIMESTAMPTZ_TEXT =
  /^(\d{4}-\d{2}-\d{2}) ([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d{1,6})?[+-](0\d|1[0-5])(:[0-5]\d){0,2}$/;

/**
 * The cursor's instant, checked before it reaches Postgres as a timestamptz: anything else (a malformed date, or
 * words Postgres reads as instants, `now`, `infinity`) is a tampered cursor, not a position to page from.
 */
function deliveryPosition(createdAt: string): string {
  const m = TIMESTAMPTZ_TEXT.exec(createdAt);
  if (!m || !isIsoDate(m[1] ?? '')) {
    throw new ValidationError(
      'The cursor is invalid; pass the nextCursor of a previous page unchanged.',
      [{ path: 'query.cursor', message: 'invalid cursor' }],
      'invalid_cursor',
    );
  }
  return createdAt;
}

/** A delivery of this endpoint with every attempt, oldest first. */
export async function getDeliveryDetail(db: Database, endpointId: string, deliveryId: string) {
  const delivery = await getEndpointDelivery(db, endpointId, deliveryId);
  return { delivery, attempts: await listAttempts(db, delivery.id) };
}

/** Queues the same event again for the same endpoint, signed afresh at send time. Returns the new delivery. */
export async function replayDelivery(
  db: Executor,
  original: DeliveryRow,
  maxAgeSeconds = DEFAULT_MAX_AGE_SECONDS,
): Promise<DeliveryRow> {
  const id = uuidv7();
  await insertReplay(
    db,
    {
      id: original.id,
      organizationId: original.organization_id,
      endpointId: original.endpoint_id,
      eventId: original.event_id,
    },
    id,
    maxAgeSeconds,
  );
  return getEndpointDelivery(db, original.endpoint_id, id);
}

/** A `webhook.ping` to one endpoint, to check the receiver and its signature verification. Returns the delivery. */
export async function pingEndpoint(
  db: Executor,
  endpoint: { id: string; organization_id: string },
): Promise<DeliveryRow> {
  const deliveryId = uuidv7();
  await inTransaction(db, async (trx) => {
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
  return getEndpointDelivery(db, endpoint.id, deliveryId);
}
