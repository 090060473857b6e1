import { z } from 'zod';
import { PAGE_QUERY } from '../http/pagination.ts';
import { defineRoute, type Route } from '../http/routes.ts';
import type { Database } from '../storage/db.ts';
import { listOutboxEvents } from '../storage/outbox.repo.ts';
import { Id } from './dto.ts';
import { MilestoneEventPageSchema, toMilestoneEventPageDto } from './events.dto.ts';
import { pageMilestoneEvents } from './events.service.ts';

/**
 * Milestone events (the onboarding outbox), oldest first, keyset by the event's sequence number, so
 * a poller can keep its `nextCursor` and read only what is new.
 */
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
      handler: async ({ query, access }) => {
        const organizationId = access.filter(query.organizationId);
        return toMilestoneEventPageDto(
          await pageMilestoneEvents(query, (p) =>
            listOutboxEvents(deps.db, {
              ...p,
              ...(organizationId !== undefined ? { organizationId } : {}),
              ...(query.integrationId !== undefined ? { integrationId: query.integrationId } : {}),
              ...(query.type !== undefined ? { type: query.type } : {}),
            }),
          ),
        );
      },
    }),
  ];
}
