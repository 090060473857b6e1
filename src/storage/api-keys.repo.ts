import { sql } from 'kysely';
import type { ApiKeyRole } from '../domain/access.ts';
import type { Executor } from './db.ts';
import { decodeCursor, pageOf, type Page } from './pagination.ts';

/** An API key as everything but auth sees it: never the hash. */
export interface ApiKeyRow {
  id: string;
  prefix: string;
  name: string;
  role: ApiKeyRole;
  organization_id: string | null;
  created_by_key_id: string | null;
  created_at: Date;
  last_used_at: Date | null;
  revoked_at: Date | null;
}

const COLUMNS = [
  'id',
  'prefix',
  'name',
  'role',
  'organization_id',
  'created_by_key_id',
  'created_at',
  'last_used_at',
  'revoked_at',
] as const;

/** The role column is text; only `ApiKeyRole` values are ever written to it. */
type RoleNarrowing = { role: ApiKeyRole };

export interface NewApiKey {
  id: string;
  prefix: string;
  keyHash: string;
  name: string;
  role: ApiKeyRole;
  organizationId: string | null;
  createdByKeyId: string | null;
}

export async function insertApiKey(db: Executor, key: NewApiKey): Promise<ApiKeyRow> {
  return db
    .insertInto('api_keys')
    .values({
      id: key.id,
      prefix: key.prefix,
      key_hash: key.keyHash,
      name: key.name,
      role: key.role,
      organization_id: key.organizationId,
      created_by_key_id: key.createdByKeyId,
    })
    .returning(COLUMNS)
    .$narrowType<RoleNarrowing>()
    .executeTakeFirstOrThrow();
}

/** For authentication only: the one place the hash leaves the table. */
export async function findApiKeyWithHash(
  db: Executor,
  prefix: string,
): Promise<(ApiKeyRow & { key_hash: string }) | undefined> {
  return db
    .selectFrom('api_keys')
    .select([...COLUMNS, 'key_hash'])
    .where('prefix', '=', prefix)
    .$narrowType<RoleNarrowing>()
    .executeTakeFirst();
}

/** Records use at most once a minute per key, so authentication does not write on every request. */
export async function touchApiKey(db: Executor, id: string): Promise<void> {
  await db
    .updateTable('api_keys')
    .set({ last_used_at: sql<Date>`now()` })
    .where('id', '=', id)
    .where((eb) =>
      eb.or([eb('last_used_at', 'is', null), eb('last_used_at', '<', sql<Date>`now() - interval '1 minute'`)]),
    )
    .execute();
}

export async function findApiKey(db: Executor, id: string): Promise<ApiKeyRow | undefined> {
  return db.selectFrom('api_keys').select(COLUMNS).where('id', '=', id).$narrowType<RoleNarrowing>().executeTakeFirst();
}

export async function findApiKeyByPrefix(db: Executor, prefix: string): Promise<ApiKeyRow | undefined> {
  return db
    .selectFrom('api_keys')
    .select(COLUMNS)
    .where('prefix', '=', prefix)
    .$narrowType<RoleNarrowing>()
    .executeTakeFirst();
}

export interface ApiKeyFilter {
  organizationId?: string | undefined;
  includeRevoked?: boolean;
  cursor?: string | undefined;
  limit: number;
}

/** Newest first (ids are uuidv7). */
export async function listApiKeys(db: Executor, filter: ApiKeyFilter): Promise<Page<ApiKeyRow>> {
  let q = db
    .selectFrom('api_keys')
    .select(COLUMNS)
    .$narrowType<RoleNarrowing>()
    .orderBy('id', 'desc')
    .limit(filter.limit + 1);
  if (filter.organizationId !== undefined) {
    q = q.where('organization_id', '=', filter.organizationId);
  }
  if (!filter.includeRevoked) {
    q = q.where('revoked_at', 'is', null);
  }
  if (filter.cursor !== undefined) {
    const [id] = decodeCursor(filter.cursor, ['uuid']);
    q = q.where('id', '<', id);
  }
  return pageOf(await q.execute(), filter.limit, (r) => [r.id]);
}

/** Revokes once; revoking a revoked key keeps the first timestamp. */
export async function revokeApiKey(db: Executor, id: string): Promise<ApiKeyRow | undefined> {
  return db
    .updateTable('api_keys')
    .set({ revoked_at: sql<Date>`coalesce(revoked_at, now())` })
    .where('id', '=', id)
    .returning(COLUMNS)
    .$narrowType<RoleNarrowing>()
    .executeTakeFirst();
}

/**
 * The channel the api_keys triggers NOTIFY on every change authentication depends on (migration 20261206T074000000Z).
 */
export const API_KEYS_CHANNEL = 'api_keys_changed';

/** The triggers that must fire for every revocation, change and deletion of a key. */
const API_KEYS_NOTIFY_TRIGGERS = ['api_keys_notify_update', 'api_keys_notify_delete'] as const;

/** Sends `payload` on the api_keys channel through `db` (a statement of its own, so on its commit). */
export async function sendApiKeysNotification(db: Executor, payload: string): Promise<void> {
  await sql`select pg_notify(${API_KEYS_CHANNEL}, ${payload})`.execute(db);
}

/**
 * The api_keys triggers that notify key changes but are missing or disabled (enabled means `O`, fires in
 * normal sessions, or `A`, always); empty when all are in place.
 */
export async function missingApiKeyTriggers(db: Executor): Promise<string[]> {
  const { rows } = await sql<{ tgname: string }>`
    select tgname from pg_trigger
    where tgrelid = 'api_keys'::regclass and tgname = any(${[...API_KEYS_NOTIFY_TRIGGERS]}::text[])
      and tgenabled in ('O', 'A')`.execute(db);
  const enabled = new Set(rows.map((r) => r.tgname));
  return API_KEYS_NOTIFY_TRIGGERS.filter((name) => !enabled.has(name));
}
