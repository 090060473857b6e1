import { sql } from 'kysely';
import type { Executor } from './db.ts';
import { withPlannerSettings } from './planner-settings.ts';
import type { FeedPosition } from './change-feed.repo.ts';

/**
 * Webhook endpoints, events, deliveries and attempts. Secret columns are read only by
 * `endpointSecrets` (for signing); every other query uses ENDPOINT_COLUMNS, which has none.
 */
export const ENDPOINT_COLUMNS = [
  'id',
  'organization_id',
  'url',
  'description',
  'event_types',
  'status',
  'secret_version',
  'previous_secret_expires_at',
  'older_secret_expires_at',
  'secret_rotated_at',
  'created_by',
  'created_at',
  'updated_at',
] as const;

export interface SealedSecretColumns {
  ciphertext: Buffer;
  iv: Buffer;
  authTag: Buffer;
  keyId: string;
}

export async function insertEndpoint(
  ex: Executor,
  e: {
    id: string;
    organizationId: string;
    url: string;
    description: string;
    eventTypes: readonly string[];
    createdBy: string;
    secret: SealedSecretColumns;
  },
) {
  return ex
    .insertInto('webhook_endpoints')
    .values({
      id: e.id,
      organization_id: e.organizationId,
      url: e.url,
      description: e.description,
      event_types: [...e.eventTypes],
      created_by: e.createdBy,
      secret_ciphertext: e.secret.ciphertext,
      secret_iv: e.secret.iv,
      secret_auth_tag: e.secret.authTag,
      secret_key_id: e.secret.keyId,
      secret_version: 1,
    })
    .returning(ENDPOINT_COLUMNS)
    .executeTakeFirstOrThrow();
}

/** An endpoint that was not deleted. */
export async function getEndpoint(ex: Executor, id: string, options: { forUpdate?: boolean } = {}) {
  const q = ex
    .selectFrom('webhook_endpoints')
    .select(ENDPOINT_COLUMNS)
    .where('id', '=', id)
    .where('status', '<>', 'deleted');
  return (options.forUpdate ? q.forUpdate() : q).executeTakeFirst();
}

export type EndpointRow = NonNullable<Awaited<ReturnType<typeof getEndpoint>>>;

export async function listEndpoints(
  ex: Executor,
  f: { organizationId?: string | undefined; afterId?: string | undefined; limit: number },
): Promise<EndpointRow[]> {
  let q = ex
    .selectFrom('webhook_endpoints')
    .select(ENDPOINT_COLUMNS)
    .where('status', '<>', 'deleted')
    .orderBy('id')
    .limit(f.limit + 1);
  if (f.organizationId !== undefined) {
    q = q.where('organization_id', '=', f.organizationId);
  }
  if (f.afterId !== undefined) {
    q = q.where('id', '>', f.afterId);
  }
  return q.execute();
}

export async function updateEndpoint(
  ex: Executor,
  id: string,
  patch: {
    url?: string | undefined;
    description?: string | undefined;
    eventTypes?: readonly string[] | undefined;
    status?: string | undefined;
  },
): Promise<EndpointRow | undefined> {
  return (
    ex
      .updateTable('webhook_endpoints')
      .set({
        ...(patch.url === undefined ? {} : { url: patch.url }),
        ...(patch.description === undefined ? {} : { description: patch.description }),
        ...(patch.eventTypes === undefined ? {} : { event_types: [...patch.eventTypes] }),
        ...(patch.status === undefined ? {} : { status: patch.status }),
        updated_at: sql<Date>`now()`,
      })
      .where('id', '=', id)
      // A deleted endpoint stays deleted: a change that read it before a concurrent delete finds nothing.
      .where('status', '<>', 'deleted')
      .returning(ENDPOINT_COLUMNS)
      .executeTakeFirst()
  );
}

/**
 * An endpoint's three sealed secret slots (current, previous, older) and whether each earlier one is still in its
 * grace: what signing reads (`endpointSecrets`) and what a master-key rotation re-seals
 * (`listEndpointSecretsToReseal`).
 */
const SEALED_SECRETS = [
  'id',
  'secret_ciphertext',
  'secret_iv',
  'secret_auth_tag',
  'secret_key_id',
  'secret_version',
  'previous_secret_ciphertext',
  'previous_secret_iv',
  'previous_secret_auth_tag',
  'previous_secret_key_id',
  'previous_secret_version',
  'older_secret_ciphertext',
  'older_secret_iv',
  'older_secret_auth_tag',
  'older_secret_key_id',
  'older_secret_version',
  sql<boolean>`coalesce(previous_secret_expires_at > now(), false)`.as('previous_valid'),
  sql<boolean>`coalesce(older_secret_expires_at > now(), false)`.as('older_valid'),
] as const;

/**
 * The sealed secrets for signing: the current one, and each earlier one (previous, older) while its grace period
 * runs.
 */
export async function endpointSecrets(ex: Executor, id: string) {
  return ex
    .selectFrom('webhook_endpoints')
    .select([...SEALED_SECRETS, 'previous_secret_expires_at', 'older_secret_expires_at'])
    .where('id', '=', id)
    .executeTakeFirst();
}

/**
 * Stores the new secret. The current one becomes `previous`, signing for `previousValidSeconds` more; of the earlier
 * ones, the one still in its grace moves to (or stays in) `older` with its own end. The caller refuses a rotation
 * while both are in their grace (one would be pushed out). With `endEarlier` every earlier secret stops signing now.
 */
export async function rotateEndpointSecret(
  ex: Executor,
  id: string,
  next: SealedSecretColumns,
  nextVersion: number,
  previousValidSeconds: number,
  endEarlier: boolean,
): Promise<EndpointRow> {
  // Every right-hand side reads the row as it was before the update.
  const earlier = <T>(field: string) =>
    endEarlier
      ? sql<T>`null`
      : sql<T>`case when previous_secret_expires_at > now() then ${sql.ref(`previous_secret_${field}`)}
          when older_secret_expires_at > now() then ${sql.ref(`older_secret_${field}`)} end`;
  return ex
    .updateTable('webhook_endpoints')
    .set((eb) => ({
      older_secret_ciphertext: earlier<Buffer>('ciphertext'),
      older_secret_iv: earlier<Buffer>('iv'),
      older_secret_auth_tag: earlier<Buffer>('auth_tag'),
      older_secret_key_id: earlier<string>('key_id'),
      older_secret_version: earlier<number>('version'),
      older_secret_expires_at: earlier<Date>('expires_at'),
      previous_secret_ciphertext: eb.ref('secret_ciphertext'),
      previous_secret_iv: eb.ref('secret_iv'),
      previous_secret_auth_tag: eb.ref('secret_auth_tag'),
      previous_secret_key_id: eb.ref('secret_key_id'),
      previous_secret_version: eb.ref('secret_version'),
      previous_secret_expires_at: endEarlier
        ? sql<Date>`now()`
        : sql<Date>`now() + make_interval(secs => ${previousValidSeconds}::double precision)`,
      secret_ciphertext: next.ciphertext,
      secret_iv: next.iv,
      secret_auth_tag: next.authTag,
      secret_key_id: next.keyId,
      secret_version: nextVersion,
      secret_rotated_at: sql<Date>`now()`,
      updated_at: sql<Date>`now()`,
    }))
    .where('id', '=', id)
    .returning(ENDPOINT_COLUMNS)
    .executeTakeFirstOrThrow();
}

/** Active endpoints of these organizations with their subscriptions (for the producer). */
export async function activeEndpointsOf(ex: Executor, organizationIds: readonly string[]) {
  if (organizationIds.length === 0) {
    return [];
  }
  return ex
    .selectFrom('webhook_endpoints')
    .select(['id', 'organization_id', 'event_types'])
    .where('organization_id', 'in', [...organizationIds])
    .where('status', '=', 'active')
    .execute();
}

/** Locks a producer's position; undefined when another producer holds it (it is doing the work). */
export async function lockProducerPosition(
  ex: Executor,
  source: 'change_events' | 'outbox_events',
): Promise<FeedPosition | undefined> {
  const r = await sql<{ xid: string; id: string }>`
    select position_xid::text as xid, position_id::text as id from webhook_producer_state
    where source = ${source} for update skip locked`.execute(ex);
  return r.rows[0];
}

/** The producer's position without locking it (the change-feed purge stops there: events after it are not read yet). */
export async function readProducerPosition(
  ex: Executor,
  source: 'change_events' | 'outbox_events',
): Promise<FeedPosition | undefined> {
  const r = await sql<{ xid: string; id: string }>`
    select position_xid::text as xid, position_id::text as id from webhook_producer_state where source = ${source}`.execute(
    ex,
  );
  return r.rows[0];
}

export async function setProducerPosition(
  ex: Executor,
  source: 'change_events' | 'outbox_events',
  p: FeedPosition,
): Promise<void> {
  await sql`update webhook_producer_state
      set position_xid = ${p.xid}::xid8, position_id = ${p.id}::bigint, updated_at = now()
    where source = ${source}`.execute(ex);
}

export interface NewWebhookEvent {
  id: string;
  organizationId: string;
  type: string;
  payload: Record<string, unknown>;
  endpointIds: readonly string[];
}

/** Stores events and one pending delivery per endpoint; retries stop `maxAgeSeconds` after creation. */
export async function insertEventsWithDeliveries(
  ex: Executor,
  events: readonly NewWebhookEvent[],
  deliveryIds: () => string,
  maxAgeSeconds: number,
): Promise<number> {
  if (events.length === 0) {
    return 0;
  }
  await ex
    .insertInto('webhook_events')
    .values(
      events.map((e) => ({
        id: e.id,
        organization_id: e.organizationId,
        type: e.type,
        payload: JSON.stringify(e.payload),
      })),
    )
    .execute();
  const deliveries = events.flatMap((e) =>
    e.endpointIds.map((endpointId) => ({
      id: deliveryIds(),
      organization_id: e.organizationId,
      endpoint_id: endpointId,
      event_id: e.id,
      give_up_at: sql<Date>`now() + make_interval(secs => ${maxAgeSeconds}::double precision)`,
    })),
  );
  if (deliveries.length > 0) {
    await ex.insertInto('webhook_deliveries').values(deliveries).execute();
  }
  return deliveries.length;
}

export const DELIVERY_COLUMNS = [
  'd.id',
  'd.organization_id',
  'd.endpoint_id',
  'd.event_id',
  'd.status',
  'd.attempts',
  'd.next_attempt_at',
  'd.give_up_at',
  'd.last_attempt_at',
  'd.last_response_status',
  'd.last_error',
  'd.replay_of',
  'd.created_at',
  'd.completed_at',
  'e.type',
] as const;

/** A claimed delivery: the attempt it is (numbered at the claim) and the token that proves the claim is still ours. */
export interface DeliveryClaim {
  id: string;
  attempt: number;
  token: string;
}

/**
 * Claims due deliveries for this runner: each is locked for `lockSeconds` (a crashed runner's claim expires), its
 * attempt counted and a fresh claim token set. SKIP LOCKED lets any number of runners share the work. A claim that
 * expired may be taken by another runner: the token then changes, and the former holder can no longer move the
 * delivery on (see `recordAttempt`).
 */
export async function claimDueDeliveries(ex: Executor, limit: number, lockSeconds: number): Promise<DeliveryClaim[]> {
  const r = await sql<DeliveryClaim>`
    update webhook_deliveries d set locked_until = now() + make_interval(secs => ${lockSeconds}::double precision),
      attempts = d.attempts + 1, claim_token = gen_random_uuid()
    from (
      select id from webhook_deliveries
      where status = 'pending' and next_attempt_at <= now() and (locked_until is null or locked_until < now())
      order by next_attempt_at
      limit ${limit}
      for update skip locked
    ) due
    where d.id = due.id
    returning d.id, d.attempts as attempt, d.claim_token::text as token`.execute(ex);
  return r.rows;
}

/** What sending one claimed delivery needs: the delivery, its event and its endpoint; undefined once the claim is lost. */
export async function deliveryForSending(ex: Executor, claim: DeliveryClaim) {
  return ex
    .selectFrom('webhook_deliveries as d')
    .innerJoin('webhook_events as e', 'e.id', 'd.event_id')
    .innerJoin('webhook_endpoints as w', 'w.id', 'd.endpoint_id')
    .select([
      'd.id',
      'd.organization_id',
      'd.endpoint_id',
      'e.id as event_id',
      'e.type',
      'e.payload',
      'e.created_at as event_created_at',
      'w.url',
      'w.status as endpoint_status',
    ])
    .where('d.id', '=', claim.id)
    .where('d.claim_token', '=', claim.token)
    .where('d.status', '=', 'pending')
    .executeTakeFirst();
}

/**
 * Ends an endpoint's pending deliveries that no runner holds (unclaimed, or their claim ran out): failed now with
 * `reason`, never sent. A delivery a runner holds is left to it (see `heldDeliveriesOf`).
 */
export async function endPendingDeliveriesOf(ex: Executor, endpointId: string, reason: string): Promise<number> {
  const r = await ex
    .updateTable('webhook_deliveries')
    .set({
      status: 'failed',
      completed_at: sql<Date>`now()`,
      last_error: reason,
      locked_until: null,
      claim_token: null,
    })
    .where('endpoint_id', '=', endpointId)
    .where('status', '=', 'pending')
    .where((eb) => eb.or([eb('locked_until', 'is', null), eb('locked_until', '<', sql<Date>`now()`)]))
    .executeTakeFirst();
  return Number(r.numUpdatedRows);
}

/** How many of an endpoint's pending deliveries a runner holds now (claimed, its hold not run out). */
export async function heldDeliveriesOf(ex: Executor, endpointId: string): Promise<number> {
  const r = await ex
    .selectFrom('webhook_deliveries')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .where('endpoint_id', '=', endpointId)
    .where('status', '=', 'pending')
    .where('locked_until', '>=', sql<Date>`now()`)
    .executeTakeFirstOrThrow();
  return Number(r.n);
}

/**
 * Gives a claimed delivery back unsent, while the claim is still ours and the delivery pending: its send was cut short
 * by this process stopping, which is not the receiver's failure. The hold ends and the delivery is due at once (the
 * next runner sends it), no attempt is logged and the last attempt's fields stay as they were. The attempt number
 * the claim took is not given again (the receiver may have seen it in a request that was cut short).
 */
export async function releaseClaim(ex: Executor, claim: DeliveryClaim): Promise<boolean> {
  const r = await ex
    .updateTable('webhook_deliveries')
    .set({ locked_until: null, claim_token: null, next_attempt_at: sql<Date>`now()` })
    .where('id', '=', claim.id)
    .where('status', '=', 'pending')
    .where('claim_token', '=', claim.token)
    .executeTakeFirst();
  return Number(r.numUpdatedRows) === 1;
}

export interface AttemptResult {
  deliveryId: string;
  /** The claim's token: only its holder moves a failed delivery on. */
  claimToken: string;
  organizationId: string;
  endpointId: string;
  attempt: number;
  startedAt: Date;
  durationMs: number;
  responseStatus: number | null;
  error: string | null;
  succeeded: boolean;
  /** For a failure: wait this long before the next try (unless that is past give_up_at: then the delivery fails). */
  retryInMs: number;
}

/**
 * Logs the attempt and moves the delivery on: succeeded, pending again later, or failed for good. In one statement,
 * so the log and the state agree. A success is final whoever sent it (the receiver has the event; a newer claim's
 * own record then changes nothing); a failure moves the delivery on only while the claim is still ours and the
 * delivery pending, so a runner whose claim expired never puts an acknowledged delivery back to pending nor
 * reschedules one another runner now holds. `superseded`: the attempt is logged, the delivery's state is another
 * claim's (or already final).
 */
export async function recordAttempt(
  ex: Executor,
  a: AttemptResult,
): Promise<'succeeded' | 'pending' | 'failed' | 'superseded'> {
  const retry = sql`now() + make_interval(secs => ${a.retryInMs / 1000}::double precision)`;
  const r = await sql<{ status: 'succeeded' | 'pending' | 'failed' | null }>`
    with logged as (
      insert into webhook_delivery_attempts
        (organization_id, delivery_id, endpoint_id, attempt, started_at, duration_ms, outcome, response_status, error)
      values (${a.organizationId}, ${a.deliveryId}, ${a.endpointId}, ${a.attempt}, ${a.startedAt}, ${a.durationMs},
        ${a.succeeded ? 'succeeded' : 'failed'}, ${a.responseStatus}, ${a.error})
    ), moved as (
      update webhook_deliveries set
        status = case when ${a.succeeded}::boolean then 'succeeded' when ${retry} > give_up_at then 'failed'
          else 'pending' end,
        next_attempt_at = ${retry},
        completed_at = case when ${a.succeeded}::boolean or ${retry} > give_up_at then now() end,
        locked_until = null, claim_token = null, last_attempt_at = ${a.startedAt},
        last_response_status = ${a.responseStatus}, last_error = ${a.error}
      where id = ${a.deliveryId}
        and case when ${a.succeeded}::boolean then status <> 'succeeded'
          else status = 'pending' and claim_token = ${a.claimToken}::uuid end
      returning status
    )
    select (select status from moved) as status`.execute(ex);
  return r.rows[0]?.status ?? 'superseded';
}

/**
 * A page of an endpoint's deliveries, newest first. Planned without sorts: the walk of the endpoint's index from the
 * cursor that stops at the page. Without statistics the cursor looks like a third of the endpoint's deliveries, and
 * every delivery before it was read, joined to its event and sorted for a page (the log grows by a delivery per event
 * and is never purged).
 */
export async function listDeliveries(
  ex: Executor,
  endpointId: string,
  f: { status?: string | undefined; before?: { createdAt: string; id: string } | undefined; limit: number },
) {
  return withPlannerSettings(ex, { enable_sort: 'off', jit: 'off' }, (trx) => deliveriesPage(trx, endpointId, f));
}

function deliveriesPage(
  ex: Executor,
  endpointId: string,
  f: { status?: string | undefined; before?: { createdAt: string; id: string } | undefined; limit: number },
) {
  let q = ex
    .selectFrom('webhook_deliveries as d')
    .innerJoin('webhook_events as e', 'e.id', 'd.event_id')
    .select(DELIVERY_COLUMNS)
    .select(sql<string>`d.created_at::text`.as('created_at_key'))
    .where('d.endpoint_id', '=', endpointId)
    .orderBy('d.created_at', 'desc')
    .orderBy('d.id', 'desc')
    .limit(f.limit + 1);
  if (f.status !== undefined) {
    q = q.where('d.status', '=', f.status);
  }
  if (f.before) {
    q = q.where(sql<boolean>`(d.created_at, d.id) < (${f.before.createdAt}::timestamptz, ${f.before.id}::uuid)`);
  }
  return q.execute();
}

export async function getDelivery(ex: Executor, id: string) {
  return ex
    .selectFrom('webhook_deliveries as d')
    .innerJoin('webhook_events as e', 'e.id', 'd.event_id')
    .select(DELIVERY_COLUMNS)
    .select(['e.payload', 'e.created_at as event_created_at'])
    .where('d.id', '=', id)
    .executeTakeFirst();
}

export async function listAttempts(ex: Executor, deliveryId: string) {
  return ex
    .selectFrom('webhook_delivery_attempts')
    .select(['attempt', 'started_at', 'duration_ms', 'outcome', 'response_status', 'error'])
    .where('delivery_id', '=', deliveryId)
    .orderBy('attempt')
    .execute();
}

/** A new pending delivery of the same event to the same endpoint (replay), with a fresh retry window. */
export async function insertReplay(
  ex: Executor,
  original: { id: string; organizationId: string; endpointId: string; eventId: string },
  id: string,
  maxAgeSeconds: number,
): Promise<void> {
  await ex
    .insertInto('webhook_deliveries')
    .values({
      id,
      organization_id: original.organizationId,
      endpoint_id: original.endpointId,
      event_id: original.eventId,
      replay_of: original.id,
      give_up_at: sql<Date>`now() + make_interval(secs => ${maxAgeSeconds}::double precision)`,
    })
    .execute();
}

/** The three sealed secret slots of an endpoint: current, previous and older (each null but the current when unused). */
export const SECRET_SLOTS = ['secret', 'previous_secret', 'older_secret'] as const;
export type SecretSlot = (typeof SECRET_SLOTS)[number];

export interface SealedSlot {
  ciphertext: Buffer;
  iv: Buffer;
  authTag: Buffer;
  keyId: string;
  version: number;
}

/**
 * Endpoints (deleted ones too) with a secret sealed under another master key than `masterKeyId`, by id after `afterId`,
 * each with its sealed slots: the current secret and the earlier ones still in their grace (`slots`), and the earlier
 * ones whose grace has ended (`ended`: never used again). For master-key rotation.
 */
export async function listEndpointSecretsToReseal(
  ex: Executor,
  masterKeyId: string,
  afterId: string | null,
  limit: number,
): Promise<{ id: string; slots: Partial<Record<SecretSlot, SealedSlot>>; ended: SecretSlot[] }[]> {
  const rows = await ex
    .selectFrom('webhook_endpoints')
    .select(SEALED_SECRETS)
    .where((eb) =>
      eb.or([
        eb('secret_key_id', '<>', masterKeyId),
        eb('previous_secret_key_id', '<>', masterKeyId),
        eb('older_secret_key_id', '<>', masterKeyId),
      ]),
    )
    .$if(afterId !== null, (qb) => qb.where('id', '>', afterId as string))
    .orderBy('id')
    .limit(limit)
    .forUpdate()
    .execute();
  return rows.map((r) => {
    const slot = (
      ciphertext: Buffer | null,
      iv: Buffer | null,
      authTag: Buffer | null,
      keyId: string | null,
      version: number | null,
    ): SealedSlot | undefined =>
      ciphertext && iv && authTag && keyId && version !== null
        ? { ciphertext, iv, authTag, keyId, version }
        : undefined;
    const slots: Partial<Record<SecretSlot, SealedSlot>> = {};
    const ended: SecretSlot[] = [];
    const current = slot(r.secret_ciphertext, r.secret_iv, r.secret_auth_tag, r.secret_key_id, r.secret_version);
    const previous = slot(
      r.previous_secret_ciphertext,
      r.previous_secret_iv,
      r.previous_secret_auth_tag,
      r.previous_secret_key_id,
      r.previous_secret_version,
    );
    const older = slot(
      r.older_secret_ciphertext,
      r.older_secret_iv,
      r.older_secret_auth_tag,
      r.older_secret_key_id,
      r.older_secret_version,
    );
    if (current) {
      slots.secret = current;
    }
    if (previous) {
      if (r.previous_valid) {
        slots.previous_secret = previous;
      } else if (previous.keyId !== masterKeyId) {
        ended.push('previous_secret');
      }
    }
    if (older) {
      if (r.older_valid) {
        slots.older_secret = older;
      } else if (older.keyId !== masterKeyId) {
        ended.push('older_secret');
      }
    }
    return { id: r.id, slots, ended };
  });
}

/**
 * Stores re-sealed secrets in their slots (the same secrets and versions, sealed under another master key), and
 * empties the earlier slots in `clear` (secrets whose grace has ended).
 */
export async function updateEndpointSealing(
  ex: Executor,
  id: string,
  slots: Partial<Record<SecretSlot, SealedSecretColumns>>,
  clear: readonly SecretSlot[] = [],
): Promise<void> {
  const set: Record<string, Buffer | string | number | Date | null> = {};
  for (const [name, s] of Object.entries(slots) as [SecretSlot, SealedSecretColumns][]) {
    set[`${name}_ciphertext`] = s.ciphertext;
    set[`${name}_iv`] = s.iv;
    set[`${name}_auth_tag`] = s.authTag;
    set[`${name}_key_id`] = s.keyId;
  }
  for (const name of clear.filter((c) => c !== 'secret')) {
    for (const column of ['ciphertext', 'iv', 'auth_tag', 'key_id', 'version', 'expires_at']) {
      set[`${name}_${column}`] = null;
    }
  }
  if (Object.keys(set).length > 0) {
    await ex.updateTable('webhook_endpoints').set(set).where('id', '=', id).execute();
  }
}

/**
 * Webhook signing secrets that sign now (each endpoint's current one, and earlier ones in their grace) sealed under a
 * master key other than `configuredIds`, counted per master key id.
 */
export async function countSecretsSealedByOthers(
  ex: Executor,
  configuredIds: readonly string[],
): Promise<{ keyId: string; count: number }[]> {
  const r = await sql<{ key_id: string; count: string }>`
    select key_id, count(*)::text as count from (
      select secret_key_id as key_id from webhook_endpoints where status <> 'deleted'
      union all
      select previous_secret_key_id from webhook_endpoints
        where status <> 'deleted' and previous_secret_expires_at > now()
      union all
      select older_secret_key_id from webhook_endpoints
        where status <> 'deleted' and older_secret_expires_at > now()
    ) as sealed
    where key_id is not null and key_id <> all(${[...configuredIds]}::text[])
    group by key_id order by key_id`.execute(ex);
  return r.rows.map((row) => ({ keyId: row.key_id, count: Number(row.count) }));
}
