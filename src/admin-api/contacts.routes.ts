import { z } from 'zod';
import { PAGE_QUERY, pageSchema } from '../http/pagination.ts';
import { defineRoute, type Route } from '../http/routes.ts';
import { addContact, listContacts, removeContact } from '../notifications/index.ts';
import { Id, IdParams } from './dto.ts';
import {
  ContactSchema,
  CreateContactBody,
  NotificationSchema,
  toContactDto,
  toMilestoneEmailDto,
} from './contacts.dto.ts';
import { pageMilestoneEmails } from './contacts.service.ts';
import { atomicWrite, type Database } from '../storage/db.ts';
import { actorOf, integrationOrganization, pageInMemory } from './lookup.ts';

/**
 * The people of an integration who are told about its milestones (the customer's finance owner,
 * security administrators and controller; our account manager), and the log of the emails sent
 * to them.
 */
const TAGS = ['Integration contacts'];

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
      handler: async ({ params, body, access, audit, principal, atomicAnswer }) => {
        audit.target({ organizationId: await integrationOrganization(deps.db, access, params.id) });
        return atomicWrite(deps.db, atomicAnswer, async (trx) => {
          const contact = await addContact(trx, { integrationId: params.id, ...body, actor: actorOf(principal) });
          audit.target({ id: contact.id });
          return toContactDto(contact);
        });
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
        const page = await pageMilestoneEmails(deps.db, params.id, query);
        return { data: page.rows.map((e) => toMilestoneEmailDto(e.email, e.attempts)), nextCursor: page.nextCursor };
      },
    }),
  ];
}
