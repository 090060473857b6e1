import type { ApiKeyRole } from '../domain/access.ts';
import { generateApiKey } from '../http/api-key-token.ts';
import type { StoredApiKey } from '../http/auth.ts';
import { NotFoundError } from '../shared/errors.ts';
import { uuidv7 } from '../shared/ids.ts';
import { findApiKeyWithHash, insertApiKey, type ApiKeyRow } from '../storage/api-keys.repo.ts';
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
export async function createApiKey(db: Database, input: CreateApiKeyInput): Promise<{ row: ApiKeyRow; token: string }> {
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
