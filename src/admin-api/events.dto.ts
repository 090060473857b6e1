import { z } from 'zod';
import { pageSchema } from '../http/pagination.ts';
import type { OutboxEventRow } from '../storage/outbox.repo.ts';
import type { Page } from '../storage/pagination.ts';
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

function toMilestoneEventDto(row: OutboxEventRow): z.input<typeof MilestoneEventSchema> {
  return {
    id: String(row.id),
    organizationId: row.organization_id,
    integrationId: row.integration_id,
    type: row.type,
    payload: (row.payload ?? {}) as Record<string, unknown>,
    createdAt: iso(row.created_at),
  };
}

export function toMilestoneEventPageDto(page: Page<OutboxEventRow>): z.input<typeof MilestoneEventPageSchema> {
  return { data: page.rows.map(toMilestoneEventDto), nextCursor: page.nextCursor };
}
