import { z } from 'zod';
import { currentFeedCursor, readChanges } from '../events/change-feed.ts';
import { defineRoute, type Route } from '../http/routes.ts';
import { countParam } from '../http/pagination.ts';
import type { Database } from '../storage/db.ts';
import { ChangePageSchema, Id, toChangeEventDto } from './dto.ts';

const TAGS = ['Change feed'];

export interface ChangesDeps {
  db: Database;
  /** config.changeFeed.retentionDays, quoted in the 410 answer. */
  retentionDays: number;
  /**
   * While the database differs from the one the feed was recorded on (a failover under the running service), both
   * routes answer 503 feed_database_changed (src/events/feed-database-guard.ts). Asked before and after the read.
   */
  feedDatabase?: { assertOpen(): Promise<void> };
}

export function changeRoutes(deps: ChangesDeps): Route[] {
  return [
    defineRoute({
      method: 'get',
      path: '/v1/changes',
      permission: 'data:read',
      summary: 'Read the change feed',
      description: [
        "Events (`added`, `modified`, `removed`) in commit order after `cursor`; each carries the transaction's current state.",
        'Store `nextCursor` after applying a page and pass it back: a consumer that does so never misses an event and never sees one twice, also while many writers commit concurrently.',
        'Without a cursor the feed starts at the oldest retained event; `from=now` starts at the current end.',
        `Events are kept for the configured retention (${deps.retentionDays} days); an older cursor, or one from before a reset of the feed, gets 410 \`cursor_expired\`; a cursor this feed never issued gets 400 \`invalid_cursor\`.`,
      ].join(' '),
      tags: TAGS,
      errors: [410, 503],
      request: {
        query: z.object({
          cursor: z
            .string()
            .min(1)
            .max(256)
            .optional()
            .meta({ description: 'The nextCursor of the previous page (or an event cursor), unchanged' }),
          from: z
            .enum(['now'])
            .optional()
            .meta({ description: '`now`: start at the end of the feed (ignored with a cursor)' }),
          organizationId: Id.optional().meta({
            description: 'Only this organization (for keys valid for all organizations)',
          }),
          limit: countParam(1, 1000).default(100).meta({ description: 'Events per page, 1 to 1000 (default 100)' }),
        }),
      },
      response: { status: 200, schema: ChangePageSchema, description: 'A page of events' },
      handler: async ({ query, access }) => {
        const organizationId = access.filter(query.organizationId) ?? null;
        await deps.feedDatabase?.assertOpen();
        const cursor = query.cursor ?? (query.from === 'now' ? await currentFeedCursor(deps.db) : null);
        const page = await readChanges(deps.db, {
          organizationId,
          cursor,
          limit: query.limit,
          retentionDays: deps.retentionDays,
        });
        // The read may have run on a session opened just now, on a promoted node: its check decides.
        await deps.feedDatabase?.assertOpen();
        return {
          data: page.events.map(toChangeEventDto),
          nextCursor: page.nextCursor,
          hasMore: page.hasMore,
        };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/changes/cursor',
      permission: 'data:read',
      summary: 'A cursor at the current end of the change feed',
      description:
        'To (re)synchronise: take this cursor FIRST, then read the full state with GET /v1/transactions, then poll GET /v1/changes from this cursor. Changes made during the full read arrive again; apply events as upserts by id.',
      tags: TAGS,
      response: {
        status: 200,
        schema: z.object({ cursor: z.string(), retentionDays: z.number().int() }).meta({ id: 'ChangeFeedCursor' }),
        description: 'The cursor',
      },
      handler: async () => {
        await deps.feedDatabase?.assertOpen();
        const cursor = await currentFeedCursor(deps.db);
        await deps.feedDatabase?.assertOpen();
        return { cursor, retentionDays: deps.retentionDays };
      },
    }),
  ];
}
