import { z } from 'zod';
import { PAGE_QUERY, pageSchema } from '../http/pagination.ts';
import { defineRoute, type Route } from '../http/routes.ts';
import {
  addContact,
  CONTACT_ROLES,
  listContacts,
  MILESTONES,
  removeContact,
  type ContactView,
} from '../notifications/index.ts';
import type { Database } from '../storage/db.ts';
import { listNotificationAttempts, listNotifications } from '../storage/notifications.repo.ts';
import { decodeCursor, pageOf } from '../storage/pagination.ts';
import { Id, IdParams, Instant, iso } from './dto.ts';
import { actorOf, integrationOrganization, pageInMemory } from './lookup.ts';

/**
 * The people of an integration who are told about its milestones (the customer's finance owner,
 * security administrators and controller; our account manager), and the log of the emails sent
 * to them.
 */
const TAGS = ['Integration contacts'];

const ContactSchema = z
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

function toContactDto(c: ContactView): z.input<typeof ContactSchema> {
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

const NotificationSchema = z
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

const CreateContactBody = z.object({
  role: z.enum(CONTACT_ROLES),
  name: z.string().trim().min(1).max(200),
  email: z.email().max(320),
});

export function contactRoutes(deps: { db: Database }): Route[] {
  return [
    defineRoute({
      method: 'post',
      path: '/v1/integrations/{id}/contacts',
      permission: 'integrations:write',
      tags: TAGS,
      auditTarget: 'integration_contact',
      summary: 'Add a contact',
      description:
        'The same role and email (case-insensitive) updates the name of the existing contact. A customer contact added while the integration is `requested` also gets the "request received" message.',
      request: { params: IdParams, body: CreateContactBody },
      response: { status: 201, schema: ContactSchema, description: 'The recorded contact' },
      handler: async ({ params, body, access, audit, principal }) => {
        audit.target({ organizationId: await integrationOrganization(deps.db, access, params.id) });
        const contact = await addContact(deps.db, { integrationId: params.id, ...body, actor: actorOf(principal) });
        audit.target({ id: contact.id });
        return toContactDto(contact);
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/integrations/{id}/contacts',
      permission: 'integrations:read',
      tags: TAGS,
      summary: 'List contacts',
      description: 'Current contacts, oldest first.',
      request: { params: IdParams, query: z.object(PAGE_QUERY) },
      response: {
        status: 200,
        schema: pageSchema(ContactSchema).meta({ id: 'IntegrationContactPage' }),
        description: 'A page of contacts',
      },
      handler: async ({ params, query, access }) => {
        await integrationOrganization(deps.db, access, params.id);
        const page = pageInMemory(await listContacts(deps.db, params.id), query, (c) => c.id, 'uuid');
        return { data: page.rows.map(toContactDto), nextCursor: page.nextCursor };
      },
    }),
    defineRoute({
      method: 'delete',
      path: '/v1/integrations/{id}/contacts/{contactId}',
      permission: 'integrations:write',
      tags: TAGS,
      auditTarget: 'integration_contact',
      summary: 'Remove a contact',
      description: 'The contact gets no further messages; the delivery log keeps what was sent to them.',
      request: { params: z.object({ id: Id, contactId: Id }) },
      response: { status: 200, schema: ContactSchema, description: 'The removed contact' },
      handler: async ({ params, access, audit, principal }) => {
        audit.target({
          id: params.contactId,
          organizationId: await integrationOrganization(deps.db, access, params.id),
        });
        return toContactDto(
          await removeContact(deps.db, {
            integrationId: params.id,
            contactId: params.contactId,
            actor: actorOf(principal),
          }),
        );
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/integrations/{id}/milestone-emails',
      permission: 'integrations:read',
      tags: TAGS,
      summary: 'Milestone emails of an integration',
      description:
        'Newest first: every message to every contact, its status (pending, sent, failed) and each SMTP attempt. Message bodies are not stored (they are rendered at send time).',
      request: { params: IdParams, query: z.object(PAGE_QUERY) },
      response: {
        status: 200,
        schema: pageSchema(NotificationSchema).meta({ id: 'MilestoneEmailPage' }),
        description: 'A page of emails',
      },
      handler: async ({ params, query, access }) => {
        await integrationOrganization(deps.db, access, params.id);
        const beforeId = query.cursor === undefined ? undefined : decodeCursor(query.cursor, ['uuid'])[0];
        const page = pageOf(
          await listNotifications(deps.db, params.id, { limit: query.limit + 1, beforeId }),
          query.limit,
          (r) => [r.id],
        );
        const attempts = await listNotificationAttempts(
          deps.db,
          page.rows.map((r) => r.id),
        );
        return {
          data: page.rows.map((r) => ({
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
            attemptLog: attempts
              .filter((a) => a.delivery_id === r.id)
              .map((a) => ({
                attempt: a.attempt,
                startedAt: iso(a.started_at),
                durationMs: a.duration_ms,
                outcome: a.outcome as 'sent',
                error: a.error,
              })),
          })),
          nextCursor: page.nextCursor,
        };
      },
    }),
  ];
}
