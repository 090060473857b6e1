import type { ApiKeyRole } from '../domain/access.ts';
import { generateApiKey } from '../http/api-key-token.ts';
import { ForbiddenError, type OrgAccess, type StoredApiKey } from '../http/auth.ts';
import { NotFoundError } from '../shared/errors.ts';
import { uuidv7 } from '../shared/ids.ts';
import {
  findApiKey,
  findApiKeyWithHash,
  insertApiKey,
  revokeApiKey,
  type ApiKeyRow,
} from '../storage/api-keys.repo.ts';
import type { Database, Executor } from '../storage/db.ts';
import { findOrganization } from '../storage/organizations.repo.ts';

export interface CreateApiKeyInput {
  name: string;
  role: ApiKeyRole;
  organizationId: string | null;
  createdByKeyId: string | null;
}

/**
 * Creates a key and returns it with its full secret, which exists only in this return value:
 * the caller shows it once (API response or CLI output) and it is never stored or logged.
 * Used by `POST /v1/api-keys` and `jpm-sync apikey create`.
 */
export async function createApiKey(db: Executor, input: CreateApiKeyInput): Promise<{ row: ApiKeyRow; token: string }> {
  if (input.organizationId !== null && !(await findOrganization(db, input.organizationId))) {
    throw new NotFoundError('organization', input.organizationId);
  }
  // A prefix collision (36^8 space) is astronomically rare; one retry makes it a non-event.
  for (let attempt = 0; ; attempt++) {
    const generated = generateApiKey();
    try {
      const row = await insertApiKey(db, {
        id: uuidv7(),
        prefix: generated.prefix,
        keyHash: generated.hash,
        name: input.name,
        role: input.role,
        organizationId: input.organizationId,
        createdByKeyId: input.createdByKeyId,
      });
      return { row, token: generated.token };
    } catch (err) {
      if ((err as { code?: unknown }).code !== '23505' || attempt >= 2) {
        throw err;
      }
    }
  }
}

/**
 * `POST /v1/api-keys`: a key scoped to one organization creates keys for that organization only
 * (organizationId defaults to it; 403 for a key for all organizations). `scoped` is told the new key's id and
 * organization once it exists (the route's audit target).
 */
export async function createScopedApiKey(
  db: Database,
  access: OrgAccess,
  input: Omit<CreateApiKeyInput, 'organizationId'> & { organizationId?: string | null | undefined },
  scoped: (target: { id: string; organizationId: string | null }) => void,
): Promise<{ row: ApiKeyRow; token: string }> {
  let organizationId = input.organizationId ?? null;
  if (access.organizationId !== null) {
    if (input.organizationId === null) {
      throw new ForbiddenError(
        'A key scoped to one organization cannot create a key for all organizations.',
        'organization_scope',
      );
    }
    organizationId = access.filter(input.organizationId) ?? null;
  }
  const created = await createApiKey(db, {
    name: input.name,
    role: input.role,
    organizationId,
    createdByKeyId: input.createdByKeyId,
  });
  scoped({ id: created.row.id, organizationId });
  return created;
}

/**
 * `POST /v1/api-keys/{id}/revoke`: another organization's key is 404 like an unknown one. `scoped` is told the
 * key's organization before it is revoked (the route's audit target); `changed` runs after the revoke (the API
 * process's key cache), before a key that vanished meanwhile answers 404.
 */
export async function revokeScopedApiKey(
  db: Executor,
  access: OrgAccess,
  id: string,
  scoped: (organizationId: string | null) => void,
  changed?: () => void,
): Promise<ApiKeyRow> {
  const key = await findApiKey(db, id);
  if (!key || (access.organizationId !== null && key.organization_id !== access.organizationId)) {
    throw new NotFoundError('api key', id);
  }
  scoped(key.organization_id);
  const revoked = await revokeApiKey(db, key.id);
  changed?.();
  if (!revoked) {
    throw new NotFoundError('api key', id);
  }
  return revoked;
}

/**
 * A key as authentication sees it (`ApiKeyStore.findByPrefix`, src/http/auth.ts), hash included: what main/ wires
 * behind the API's key cache.
 */
export async function findApiKeyForAuth(ex: Executor, prefix: string): Promise<StoredApiKey | undefined> {
  const row = await findApiKeyWithHash(ex, prefix);
  return row === undefined
    ? undefined
    : {
        id: row.id,
        prefix: row.prefix,
        keyHash: row.key_hash,
        name: row.name,
        role: row.role,
        organizationId: row.organization_id,
        revokedAt: row.revoked_at,
      };
}
