import { z } from 'zod';
import { pageSchema } from '../http/pagination.ts';
import { PAGE_QUERY } from '../http/pagination.ts';
import type { OutboxFeedRow } from '../storage/outbox.repo.ts';
import { encodeCursor, type Page } from '../storage/pagination.ts';
import { Id, Instant, iso } from './dto.ts';
import { milestoneCursorKey } from './events.service.ts';

/**
 * Milestone events (the onboarding outbox): integration created and stage changes, live, overdue,
 * CSRs generated, certificates installed, retired, expiring. In commit order (as the change feed), keyset by
 * the event's (transaction, sequence number), so a poller can keep a cursor and read only what is new: an event
 * appears once its transaction and every older write transaction have ended, and never behind a cursor already
 * handed out.
 */
export const MilestoneEventSchema = z
  .object({
    id: z.string().meta({
      description:
        'Sequence number (string: a 64-bit integer), unique; not the feed order (an event with a lower id can come later)',
    }),
    organizationId: Id,
    integrationId: Id.nullable(),
    type: z.string().meta({ example: 'integration.stage_changed' }),
    payload: z.record(z.string(), z.unknown()),
    createdAt: Instant,
    cursor: z.string().meta({
      description:
        'A cursor just after this event: store the last one you processed and pass it as `cursor` to read only what is new',
    }),
  })
  .meta({ id: 'MilestoneEvent', description: 'A milestone of an integration (onboarding, certificates)' });

export const MilestoneEventPageSchema = pageSchema(MilestoneEventSchema).meta({ id: 'MilestoneEventPage' });

/** `?cursor=` of the milestone lists: a page's nextCursor or an event's cursor. */
export const MILESTONE_CURSOR = PAGE_QUERY.cursor.meta({
  description: 'The nextCursor of the previous page, or the cursor of the last event you processed, unchanged',
});

function toMilestoneEventDto(row: OutboxFeedRow): z.input<typeof MilestoneEventSchema> {
  return {
    id: String(row.id),
    organizationId: row.organization_id,
    integrationId: row.integration_id,
    type: row.type,
    payload: (row.payload ?? {}) as Record<string, unknown>,
    createdAt: iso(row.created_at),
    cursor: encodeCursor(milestoneCursorKey(row)),
  };
}

export function toMilestoneEventPageDto(page: Page<OutboxFeedRow>): z.input<typeof MilestoneEventPageSchema> {
  return { data: page.rows.map(toMilestoneEventDto), nextCursor: page.nextCursor };
}
