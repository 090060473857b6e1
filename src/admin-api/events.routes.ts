import { z } from 'zod';
import { PAGE_QUERY } from '../http/pagination.ts';
import { defineRoute, type Route } from '../http/routes.ts';
import type { Database } from '../storage/db.ts';
import { committedOutboxEventsAfter, OUTBOX_FEED_START, outboxEventAt } from '../storage/outbox.repo.ts';
import { Id } from './dto.ts';
import { MILESTONE_CURSOR, MilestoneEventPageSchema, toMilestoneEventPageDto } from './events.dto.ts';
import { pageMilestoneEvents } from './events.service.ts';

/**
 * Milestone events (the onboarding outbox) in commit order, keyset by the event's (transaction, sequence number),
 * so a poller can keep a cursor (a page's `nextCursor`, or the last event's `cursor`) and read only what is new.
 */
export function eventRoutes(deps: { db: Database; feedDatabase?: { assertOpen(): Promise<void> } }): Route[] {
  return [
    defineRoute({
      method: 'get',
      path: '/v1/events',
      permission: 'events:read',
      summary: 'List milestone events',
      description:
        'Milestones of every integration the key may see, in commit order: an event appears once its transaction and ' +
        'every older write transaction have ended, and never behind a cursor already handed out, so a poller that ' +
        'keeps a cursor (nextCursor, or the cursor of the last event read) misses nothing and reads nothing twice. A cursor of ' +
        'the former format (before the feed was commit-ordered), or one naming no event of the feed (issued before a ' +
        'database restore), is a 400 invalid_cursor: read again without a cursor.',
      tags: ['Events'],
      request: {
        query: z.object({
          ...PAGE_QUERY,
          cursor: MILESTONE_CURSOR,
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
        await deps.feedDatabase?.assertOpen();
        const page = toMilestoneEventPageDto(
          await pageMilestoneEvents(
            query,
            (p) =>
              committedOutboxEventsAfter(deps.db, p.after ?? OUTBOX_FEED_START, p.limit, {
                organizationId,
                integrationId: query.integrationId,
                type: query.type,
              }),
            (p) => outboxEventAt(deps.db, p),
          ),
        );
        await deps.feedDatabase?.assertOpen();
        return page;
      },
    }),
  ];
}
