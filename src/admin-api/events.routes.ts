import { z } from 'zod';
import { PAGE_QUERY, pageSchema } from '../http/pagination.ts';
import { defineRoute, type Route } from '../http/routes.ts';
import type { Database } from '../storage/db.ts';
import { listOutboxEvents, type OutboxEventRow } from '../storage/outbox.repo.ts';
import { decodeCursor, pageOf } from '../storage/pagination.ts';
import { Id, Instant, iso } from './dto.ts';

/**
 * Milestone events (the onboarding outbox): integration created and stage changes, live, overdue,
 * CSRs generated, certificates installed, retired, expiring. Oldest first, keyset by the event's
 * sequence number, so a poller can keep its `nextCursor` and read only what is new.
 */
export const MilestoneEventSchema = z
  .object({
    id: z.string().meta({ description: 'Sequence number (string: a 64-bit integer); events are ordered by it' }),
    organizationId: Id,
    integrationId: Id.nullable(),
    type: z.string().meta({ example: 'integration.stage_changed' }),
    payload: z.record(z.string(), z.unknown()),
    createdAt: Instant,
  })
  .meta({ id: 'MilestoneEvent', description: 'A milestone of an integration (onboarding, certificates)' });

export const MilestoneEventPageSchema = pageSchema(MilestoneEventSchema).meta({ id: 'MilestoneEventPage' });

export function toMilestoneEventDto(row: OutboxEventRow): z.input<typeof MilestoneEventSchema> {
  return {
    id: String(row.id),
    organizationId: row.organization_id,
    integrationId: row.integration_id,
    type: row.type,
    payload: (row.payload ?? {}) as Record<string, unknown>,
    createdAt: iso(row.created_at),
  };
}

/** One keyset page of milestone events; `fetch` reads rows after an event id (listMilestones, listOutboxEvents). */
export async function milestonePage(
  page: { cursor?: string | undefined; limit: number },
  fetch: (p: { afterId?: string; limit: number }) => Promise<OutboxEventRow[]>,
): Promise<z.input<typeof MilestoneEventPageSchema>> {
  const afterId = page.cursor === undefined ? undefined : decodeCursor(page.cursor, ['int'])[0];
  const rows = await fetch({ ...(afterId !== undefined ? { afterId } : {}), limit: page.limit + 1 });
  const result = pageOf(rows, page.limit, (r) => [String(r.id)]);
  return { data: result.rows.map(toMilestoneEventDto), nextCursor: result.nextCursor };
}

export function eventRoutes(deps: { db: Database }): Route[] {
  return [
    defineRoute({
      method: 'get',
      path: '/v1/events',
      permission: 'events:read',
      summary: 'List milestone events',
      description: 'Milestones of every integration the key may see, oldest first (by sequence number).',
      tags: ['Events'],
      request: {
        query: z.object({
          ...PAGE_QUERY,
          organizationId: Id.optional(),
          integrationId: Id.optional(),
          type: z
            .string()
            .min(1)
            .max(100)
            .optional()
            .meta({ description: 'Exact event type, e.g. certificate.installed' }),
        }),
      },
      response: { status: 200, schema: MilestoneEventPageSchema, description: 'A page of events' },
      handler: ({ query, access }) => {
        const organizationId = access.filter(query.organizationId);
        return milestonePage(query, (p) =>
          listOutboxEvents(deps.db, {
            ...p,
            ...(organizationId !== undefined ? { organizationId } : {}),
            ...(query.integrationId !== undefined ? { integrationId: query.integrationId } : {}),
            ...(query.type !== undefined ? { type: query.type } : {}),
          }),
        );
      },
    }),
  ];
}
