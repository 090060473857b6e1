import { z } from 'zod';
import { displayName } from '../http/validate.ts';
import { API_KEY_ROLES } from '../domain/access.ts';
import { PAGE_QUERY, pageSchema } from '../http/pagination.ts';
import { defineRoute, type Route } from '../http/routes.ts';
import { listApiKeys, type ApiKeyRow } from '../storage/api-keys.repo.ts';
import { atomicWrite, type Database } from '../storage/db.ts';
import { createScopedApiKey, revokeScopedApiKey } from './api-keys.service.ts';
import { Id, IdParams, Instant, iso } from './dto.ts';

export const ApiKeySchema = z
  .object({
    id: Id,
    prefix: z.string().meta({ description: 'The public part of the key (`jpms_<prefix>_…`)', example: 'k3x9q2ab' }),
    name: z.string(),
    role: z.enum(API_KEY_ROLES),
    organizationId: Id.nullable().meta({ description: 'The one organization the key may act on; null = all' }),
    createdAt: Instant,
    lastUsedAt: Instant.nullable(),
    revokedAt: Instant.nullable(),
  })
  .meta({ id: 'ApiKey', description: 'An API key (never its secret)' });

const CreatedApiKeySchema = ApiKeySchema.extend({
  key: z.string().meta({ description: 'The full key. Shown only in this response: store it now.' }),
}).meta({ id: 'CreatedApiKey' });

export function toApiKeyDto(row: ApiKeyRow): z.input<typeof ApiKeySchema> {
  return {
    id: row.id,
    prefix: row.prefix,
    name: row.name,
    role: row.role,
    organizationId: row.organization_id,
    createdAt: iso(row.created_at),
    lastUsedAt: iso(row.last_used_at),
    revokedAt: iso(row.revoked_at),
  };
}

const TAGS = ['API keys'];

export function apiKeyRoutes(deps: { db: Database; apiKeyChanged?: () => void }): Route[] {
  return [
    defineRoute({
      method: 'post',
      path: '/v1/api-keys',
      permission: 'api_keys:write',
      summary: 'Create an API key',
      description:
        'The response carries the full key once; only its SHA-256 hash is stored. A key scoped to one organization can only create keys for that organization (organizationId defaults to it).',
      tags: TAGS,
      auditTarget: 'api_key',
      // Not replayable: a replay would need the response, and so the new key, stored for 24 h.
      idempotent: false,
      request: {
        body: z.object({
          name: displayName(100),
          role: z.enum(API_KEY_ROLES),
          organizationId: Id.nullable()
            .optional()
            .meta({ description: 'Scope the key to one organization; null or omitted = all (unscoped callers only)' }),
        }),
      },
      response: {
        status: 201,
        schema: CreatedApiKeySchema,
        description: 'The new key, including its secret (shown once)',
        secret: true,
      },
      handler: async ({ body, principal, access, audit }) => {
        const { row, token } = await createScopedApiKey(
          deps.db,
          access,
          { name: body.name, role: body.role, organizationId: body.organizationId, createdByKeyId: principal.keyId },
          (target) => audit.target(target),
        );
        return { ...toApiKeyDto(row), key: token };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/api-keys',
      permission: 'api_keys:read',
      summary: 'List API keys',
      description: 'Newest first. Revoked keys only with includeRevoked=true.',
      tags: TAGS,
      request: {
        query: z.object({
          ...PAGE_QUERY,
          organizationId: Id.optional(),
          includeRevoked: z.enum(['true', 'false']).optional(),
        }),
      },
      response: {
        status: 200,
        schema: pageSchema(ApiKeySchema).meta({ id: 'ApiKeyPage' }),
        description: 'A page of keys',
      },
      handler: async ({ query, access }) => {
        const page = await listApiKeys(deps.db, {
          organizationId: access.filter(query.organizationId),
          includeRevoked: query.includeRevoked === 'true',
          cursor: query.cursor,
          limit: query.limit,
        });
        return { data: page.rows.map(toApiKeyDto), nextCursor: page.nextCursor };
      },
    }),
    defineRoute({
      method: 'post',
      path: '/v1/api-keys/{id}/revoke',
      permission: 'api_keys:write',
      summary: 'Revoke an API key',
      description:
        'Takes effect at once in the API process that served this call, and in every other API process within milliseconds, once the notification sent in the same transaction arrives; a process that has not proven in the last 7 s that notifications reach it reads keys from the database instead of its cache. Revoking twice keeps the first time.',
      tags: TAGS,
      auditTarget: 'api_key',
      request: { params: IdParams },
      response: { status: 200, schema: ApiKeySchema, description: 'The revoked key' },
      handler: async ({ params, access, audit, atomicAnswer }) => {
        try {
          return await atomicWrite(deps.db, atomicAnswer, async (trx) =>
            toApiKeyDto(
              await revokeScopedApiKey(trx, access, params.id, (organizationId) => audit.target({ organizationId })),
            ),
          );
        } finally {
          // Once the revocation committed (or did not): this process's cache then reads the key again.
          deps.apiKeyChanged?.();
        }
      },
    }),
  ];
}
