import { sql } from 'kysely';
import type { Executor } from './db.ts';

/**
 * Storage of `Idempotency-Key` records (semantics: src/http/idempotency.ts). The unique primary key
 * (api_key_id, key) is the lock: of two concurrent first uses, exactly one insert wins.
 */
export const IDEMPOTENCY_TTL = '24 hours';
/** An in-flight record older than this belongs to a request whose process died; a retry may take it over. */
const IN_FLIGHT_TAKEOVER_MS = 2 * 60 * 1_000;

export type BeginResult =
  | { kind: 'started' }
  | { kind: 'replay'; status: number; body: unknown }
  | { kind: 'in_flight' }
  | { kind: 'mismatch' };

export interface IdempotencyRequest {
  apiKeyId: string;
  key: string;
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
    return { kind: 'replay', status: existing.response_status, body: existing.response_body };
  }
  return { kind: 'in_flight' };
}

export async function completeIdempotentRequest(
  db: Executor,
  apiKeyId: string,
  key: string,
  status: number,
  body: unknown,
): Promise<void> {
  await db
    .updateTable('idempotency_keys')
    .set({ status: 'done', response_status: status, response_body: JSON.stringify(body) })
    .where('api_key_id', '=', apiKeyId)
    .where('key', '=', key)
    .execute();
}

export async function releaseIdempotentRequest(db: Executor, apiKeyId: string, key: string): Promise<void> {
  await db
    .deleteFrom('idempotency_keys')
    .where('api_key_id', '=', apiKeyId)
    .where('key', '=', key)
    .where('status', '=', 'in_flight')
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
