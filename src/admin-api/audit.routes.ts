import { z } from 'zod';
import { PAGE_QUERY, pageSchema } from '../http/pagination.ts';
import { defineRoute, type Route } from '../http/routes.ts';
import { assertQueryRanges, compareInstants } from '../http/validate.ts';
import { listAuditEntries, type AuditRow } from '../storage/audit.repo.ts';
import type { Database } from '../storage/db.ts';
import { Id, Instant, iso } from './dto.ts';

export const AuditEntrySchema = z
  .object({
    id: z.string().meta({ description: 'Sequence number (string: a 64-bit integer)' }),
    occurredAt: Instant,
    requestId: z.string(),
    apiKeyId: Id.nullable(),
    apiKeyPrefix: z.string().nullable(),
    organizationId: Id.nullable(),
    method: z.string(),
    route: z.string().meta({ description: 'Route template, e.g. /v1/api-keys/{id}/revoke' }),
    targetType: z.string().nullable(),
    targetId: z.string().nullable(),
    statusCode: z.number().int(),
  })
  .meta({ id: 'AuditEntry', description: 'One authenticated mutating API call' });

function toDto(r: AuditRow): z.input<typeof AuditEntrySchema> {
  return {
    id: r.id,
    occurredAt: iso(r.occurred_at),
    requestId: r.request_id,
    apiKeyId: r.api_key_id,
    apiKeyPrefix: r.api_key_prefix,
    organizationId: r.organization_id,
    method: r.method,
    route: r.route,
    targetType: r.target_type,
    targetId: r.target_id,
    statusCode: r.status_code,
  };
}

export function auditRoutes(deps: { db: Database }): Route[] {
  return [
    defineRoute({
      method: 'get',
      path: '/v1/audit',
      permission: 'audit:read',
      summary: 'List audit entries',
      description:
        'Newest first. Every authenticated mutating call (including refused ones) is recorded. A key scoped to one organization sees that organization only.',
      tags: ['Audit'],
      request: {
        query: z.object({
          ...PAGE_QUERY,
          organizationId: Id.optional(),
          apiKeyId: Id.optional(),
          targetId: z.string().max(200).optional(),
          method: z
            .enum(['POST', 'PUT', 'PATCH', 'DELETE', 'CLI'])
            .optional()
            .meta({ description: 'CLI: changes made with the jpm-sync CLI' }),
          route: z.string().max(300).optional().meta({ description: 'Route template, e.g. /v1/organizations' }),
          outcome: z.enum(['success', 'failure']).optional().meta({ description: 'success: status < 400' }),
          from: Instant.optional().meta({ description: 'Entries at or after this instant' }),
          to: Instant.optional().meta({ description: 'Entries before this instant' }),
        }),
      },
      response: {
        status: 200,
        schema: pageSchema(AuditEntrySchema).meta({ id: 'AuditEntryPage' }),
        description: 'A page of audit entries',
      },
      handler: async ({ query, access }) => {
        assertQueryRanges([{ from: ['from', query.from], to: ['to', query.to], compare: compareInstants }]);
        const page = await listAuditEntries(deps.db, {
          organizationId: access.filter(query.organizationId),
          apiKeyId: query.apiKeyId,
          targetId: query.targetId,
          method: query.method,
          route: query.route,
          outcome: query.outcome,
          from: query.from === undefined ? undefined : new Date(query.from),
          to: query.to === undefined ? undefined : new Date(query.to),
          cursor: query.cursor,
          limit: query.limit,
        });
        return { data: page.rows.map(toDto), nextCursor: page.nextCursor };
      },
    }),
  ];
}
