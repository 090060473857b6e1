import { sql } from 'kysely';
import { decodePgJson, encodePgJson, jsonMayNeedPgEncoding } from '../shared/pg-text.ts';
import type { Executor } from './db.ts';

/**
 * Storage of `Idempotency-Key` records (semantics: src/http/idempotency.ts). The unique primary key
 * (api_key_id, key) is the lock: of two concurrent first uses, exactly one insert wins. The winner's
 * `owner_token` names the request that holds the claim; renewing, completing and releasing check it, so
 * a request whose claim was taken over touches nothing of its successor's.
 */
export const IDEMPOTENCY_TTL = '24 hours';
/**
 * An in-flight claim not renewed for this long belongs to a request whose process died; a retry may take it
 * over. A live request renews its claim several times within this window (src/http/idempotency.ts).
 */
export const IN_FLIGHT_TAKEOVER_MS = 2 * 60 * 1_000;

/**
 * A response body may hold bank text that `jsonb` cannot take: U+0000 or a lone surrogate (an account name cut
 * between the two halves of an emoji). Such a body is kept escaped (src/shared/pg-text.ts) under this one name and
 * decoded for the replay; any other body is kept as it is, so bodies stored before read as they always did.
 */
const ESCAPED_BODY = 'pgTextEscapedBody';

function storedBody(body: unknown): string | undefined {
  const json = JSON.stringify(body) as string | undefined;
  return json !== undefined && jsonMayNeedPgEncoding(json)
    ? JSON.stringify({ [ESCAPED_BODY]: encodePgJson(body) })
    : json;
}

function replayedBody(stored: unknown): unknown {
  const escaped =
    stored !== null && typeof stored === 'object' && !Array.isArray(stored) && Object.keys(stored).length === 1
      ? Object.getOwnPropertyDescriptor(stored, ESCAPED_BODY)
      : undefined;
  return escaped === undefined ? stored : decodePgJson(escaped.value as unknown);
}

export type BeginResult =
  | { kind: 'started' }
  | { kind: 'replay'; status: number; body: unknown }
  | { kind: 'in_flight' }
  | { kind: 'mismatch' };

/** Who holds a key: `owner` is a token fresh to one request (a uuid); the claim is its own while the row carries it. */
export interface IdempotencyClaim {
  apiKeyId: string;
  key: string;
  owner: string;
}

export interface IdempotencyRequest extends IdempotencyClaim {
  requestHash: string;
  method: string;
  path: string;
}

export async function beginIdempotentRequest(
  db: Executor,
  r: IdempotencyRequest,
  takeoverAfterMs: number = IN_FLIGHT_TAKEOVER_MS,
): Promise<BeginResult> {
  for (let attempt = 0; attempt < 3; attempt++) {
    // Insert, or take over a row that expired or whose request died with the same body.
    const claimed = await db
      .insertInto('idempotency_keys')
      .values({
        api_key_id: r.apiKeyId,
        key: r.key,
        request_hash: r.requestHash,
        method: r.method,
        path: r.path,
        status: 'in_flight',
        owner_token: r.owner,
        expires_at: sql<Date>`now() + ${sql.lit(IDEMPOTENCY_TTL)}::interval`,
      })
      .onConflict((oc) =>
        oc
          .columns(['api_key_id', 'key'])
          .doUpdateSet({
            request_hash: (eb) => eb.ref('excluded.request_hash'),
            method: (eb) => eb.ref('excluded.method'),
            path: (eb) => eb.ref('excluded.path'),
            status: 'in_flight',
            owner_token: (eb) => eb.ref('excluded.owner_token'),
            response_status: null,
            response_body: null,
            created_at: sql<Date>`now()`,
            locked_at: sql<Date>`now()`,
            expires_at: (eb) => eb.ref('excluded.expires_at'),
          })
          .where((eb) =>
            eb.or([
              eb('idempotency_keys.expires_at', '<', sql<Date>`now()`),
              eb.and([
                eb('idempotency_keys.status', '=', 'in_flight'),
                eb('idempotency_keys.request_hash', '=', eb.ref('excluded.request_hash')),
                eb(
                  'idempotency_keys.locked_at',
                  '<',
                  sql<Date>`now() - ${takeoverAfterMs}::int * interval '1 millisecond'`,
                ),
              ]),
            ]),
          ),
      )
      .returning('key')
      .executeTakeFirst();
    if (claimed) {
      return { kind: 'started' };
    }
    const existing = await db
      .selectFrom('idempotency_keys')
      .select(['request_hash', 'status', 'response_status', 'response_body'])
      .where('api_key_id', '=', r.apiKeyId)
      .where('key', '=', r.key)
      .executeTakeFirst();
    if (!existing) {
      continue; // released between our insert and select: try again
    }
    if (existing.request_hash !== r.requestHash) {
      return { kind: 'mismatch' };
    }
    if (existing.status === 'in_flight' || existing.response_status === null) {
      return { kind: 'in_flight' };
    }
    return { kind: 'replay', status: existing.response_status, body: replayedBody(existing.response_body) };
  }
  return { kind: 'in_flight' };
}

/** Updates the claim's row while the claim is still this owner's; false when it is not (taken over, or finished). */
async function updateOwnClaim(
  db: Executor,
  c: IdempotencyClaim,
  set:
    | { locked_at: ReturnType<typeof sql<Date>> }
    | { status: 'done'; response_status: number; response_body: string | undefined },
): Promise<boolean> {
  const result = await db
    .updateTable('idempotency_keys')
    .set(set)
    .where('api_key_id', '=', c.apiKeyId)
    .where('key', '=', c.key)
    .where('status', '=', 'in_flight')
    .where('owner_token', '=', c.owner)
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

/** Marks the claim alive now; false when it is no longer this owner's (taken over, or already finished). */
export async function renewIdempotentClaim(db: Executor, c: IdempotencyClaim): Promise<boolean> {
  return updateOwnClaim(db, c, { locked_at: sql<Date>`now()` });
}

/** Stores the response of the claim's request; false (nothing stored) when the claim is no longer its own. */
export async function completeIdempotentRequest(
  db: Executor,
  c: IdempotencyClaim,
  status: number,
  body: unknown,
): Promise<boolean> {
  return updateOwnClaim(db, c, { status: 'done', response_status: status, response_body: storedBody(body) });
}

/** Frees the key for a retry, if the claim is still this owner's. */
export async function releaseIdempotentRequest(db: Executor, c: IdempotencyClaim): Promise<void> {
  await db
    .deleteFrom('idempotency_keys')
    .where('api_key_id', '=', c.apiKeyId)
    .where('key', '=', c.key)
    .where('status', '=', 'in_flight')
    .where('owner_token', '=', c.owner)
    .execute();
}

/** Deletes expired records; returns how many. */
export async function purgeExpiredIdempotencyKeys(db: Executor): Promise<number> {
  const result = await db
    .deleteFrom('idempotency_keys')
    .where('expires_at', '<', sql<Date>`now()`)
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}
