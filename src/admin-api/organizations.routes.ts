import { z } from 'zod';
import { displayName } from '../http/validate.ts';
import { defineRoute, type Route } from '../http/routes.ts';
import { PAGE_QUERY, pageSchema } from '../http/pagination.ts';
import { atomicWrite, type Database } from '../storage/db.ts';
import { listOrganizations, type OrganizationRow } from '../storage/organizations.repo.ts';
import { Id, IdParams, Instant, iso } from './dto.ts';
import { createOrganization, getOrganization } from './organizations.service.ts';

export const OrganizationSchema = z
  .object({ id: Id, name: z.string(), createdAt: Instant, updatedAt: Instant })
  .meta({ id: 'Organization', description: 'A corporate customer (tenant)' });

export function toOrganizationDto(row: OrganizationRow): z.input<typeof OrganizationSchema> {
  return { id: row.id, name: row.name, createdAt: iso(row.created_at), updatedAt: iso(row.updated_at) };
}

const TAGS = ['Organizations'];

export function organizationRoutes(deps: { db: Database }): Route[] {
  return [
    defineRoute({
      method: 'post',
      path: '/v1/organizations',
      permission: 'organizations:write',
      summary: 'Create an organization',
      description: 'Only a key valid for all organizations may create one.',
      tags: TAGS,
      auditTarget: 'organization',
      request: { body: z.object({ name: displayName(200) }) },
      response: { status: 201, schema: OrganizationSchema, description: 'The new organization' },
      handler: ({ body, access, audit, atomicAnswer }) =>
        atomicWrite(deps.db, atomicAnswer, async (trx) =>
          toOrganizationDto(await createOrganization(trx, access, body.name, (target) => audit.target(target))),
        ),
    }),
    defineRoute({
      method: 'get',
      path: '/v1/organizations/{id}',
      permission: 'organizations:read',
      summary: 'Get an organization',
      tags: TAGS,
      request: { params: IdParams },
      response: { status: 200, schema: OrganizationSchema, description: 'The organization' },
      handler: async ({ params, access }) => toOrganizationDto(await getOrganization(deps.db, access, params.id)),
    }),
    defineRoute({
      method: 'get',
      path: '/v1/organizations',
      permission: 'organizations:read',
      summary: 'List organizations',
      description: 'Oldest first. A key scoped to one organization sees only that one.',
      tags: TAGS,
      request: { query: z.object(PAGE_QUERY) },
      response: {
        status: 200,
        schema: pageSchema(OrganizationSchema).meta({ id: 'OrganizationPage' }),
        description: 'A page of organizations',
      },
      handler: async ({ query, access }) => {
        const page = await listOrganizations(deps.db, {
          onlyId: access.filter(),
          cursor: query.cursor,
          limit: query.limit,
        });
        return { data: page.rows.map(toOrganizationDto), nextCursor: page.nextCursor };
      },
    }),
  ];
}
