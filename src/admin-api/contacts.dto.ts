import { z } from 'zod';
import { displayName } from '../http/validate.ts';
import { CONTACT_ROLES, MILESTONES, type ContactView } from '../notifications/index.ts';
import { emailAddress } from '../shared/email.ts';
import { Id, Instant, iso } from './dto.ts';
import type { MilestoneEmail, MilestoneEmailAttempt } from './contacts.service.ts';

/** DTOs of an integration's contacts and the milestone emails sent to them. */
export const ContactSchema = z
  .object({
    id: Id,
    integrationId: Id,
    role: z.enum(CONTACT_ROLES).meta({
      description: "finance_owner, security_admin, controller (the customer's people) or account_manager (ours)",
    }),
    name: z.string(),
    email: z.string(),
    createdBy: z.string(),
    createdAt: Instant,
    updatedAt: Instant,
  })
  .meta({ id: 'IntegrationContact', description: "A person told about the integration's milestones" });

export function toContactDto(c: ContactView): z.input<typeof ContactSchema> {
  return {
    id: c.id,
    integrationId: c.integrationId,
    role: c.role,
    name: c.name,
    email: c.email,
    createdBy: c.createdBy,
    createdAt: iso(c.createdAt),
    updatedAt: iso(c.updatedAt),
  };
}

const AttemptSchema = z.object({
  attempt: z.number().int(),
  startedAt: Instant,
  durationMs: z.number().int(),
  outcome: z.enum(['sent', 'failed']),
  error: z.string().nullable(),
});

export const NotificationSchema = z
  .object({
    id: Id,
    integrationId: Id,
    milestone: z.enum(MILESTONES),
    source: z.enum(['outbox', 'validation_report', 'customer_review']).meta({
      description: 'What caused the message: a milestone event, a passed validation report or a customer review',
    }),
    sourceId: z
      .string()
      .meta({ description: 'The outbox event id, report id or review id: one message per source and recipient' }),
    recipientEmail: z.string(),
    recipientRole: z.enum(CONTACT_ROLES),
    status: z.enum(['pending', 'sent', 'failed']),
    attempts: z.number().int(),
    nextAttemptAt: Instant.nullable(),
    lastError: z.string().nullable(),
    createdAt: Instant,
    completedAt: Instant.nullable(),
    attemptLog: z.array(AttemptSchema),
  })
  .meta({ id: 'MilestoneEmail', description: 'One milestone email to one person, with every SMTP attempt' });

export const CreateContactBody = z.object({
  role: z.enum(CONTACT_ROLES),
  name: displayName(200),
  email: emailAddress(),
});

export function toMilestoneEmailDto(
  r: MilestoneEmail,
  attempts: readonly MilestoneEmailAttempt[],
): z.input<typeof NotificationSchema> {
  return {
    id: r.id,
    integrationId: r.integration_id,
    milestone: r.milestone as (typeof MILESTONES)[number],
    source: r.source as 'outbox',
    sourceId: r.source_id,
    recipientEmail: r.recipient_email,
    recipientRole: r.recipient_role as (typeof CONTACT_ROLES)[number],
    status: r.status as 'pending',
    attempts: r.attempts,
    nextAttemptAt: r.status === 'pending' ? iso(r.next_attempt_at) : null,
    lastError: r.last_error,
    createdAt: iso(r.created_at),
    completedAt: r.completed_at ? iso(r.completed_at) : null,
    attemptLog: attempts.map((a) => ({
      attempt: a.attempt,
      startedAt: iso(a.started_at),
      durationMs: a.duration_ms,
      outcome: a.outcome as 'sent',
      error: a.error,
    })),
  };
}
