import { canonicalEmail } from '../shared/email.ts';
import { NotFoundError, ValidationError } from '../shared/errors.ts';
import { uuidv7 } from '../shared/ids.ts';
import { createLogger } from '../shared/logger.ts';
import * as repo from '../storage/contacts.repo.ts';
import { inTransaction, type Database, type Executor } from '../storage/db.ts';
import { findIntegrationStage } from '../storage/integrations.repo.ts';
import { insertNotifications } from '../storage/notifications.repo.ts';
import { listOutboxEvents } from '../storage/outbox.repo.ts';
import { DEFAULT_MAX_AGE_SECONDS, notificationsForEvents, type ContactRole } from './produce.ts';

/**
 * The people of an integration: the customer's finance owner, security administrators and
 * controller, and our account manager. A role may have several people; the same role and address
 * is one contact (adding it again updates the name).
 */
export interface ContactView {
  id: string;
  organizationId: string;
  integrationId: string;
  role: ContactRole;
  name: string;
  email: string;
  createdBy: string;
  createdAt: Date;
  updatedAt: Date;
}

const log = () => createLogger('notifications');

export function contactView(r: repo.ContactRow): ContactView {
  return {
    id: r.id,
    organizationId: r.organization_id,
    integrationId: r.integration_id,
    role: r.role as ContactRole,
    name: r.name,
    email: r.email,
    createdBy: r.created_by,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

async function integrationOf(ex: Executor, integrationId: string) {
  const row = await findIntegrationStage(ex, integrationId);
  if (!row) {
    throw new NotFoundError('integration', integrationId);
  }
  return row;
}

export async function listContacts(ex: Executor, integrationId: string): Promise<ContactView[]> {
  await integrationOf(ex, integrationId);
  return (await repo.listContacts(ex, integrationId)).map(contactView);
}

/**
 * Adds (or renames) a contact. A customer contact added while the request is still being reviewed
 * also gets the "request received" message: contacts are usually named just after the integration
 * is created, after its milestone was already produced. Idempotent like every delivery.
 */
export async function addContact(
  db: Executor,
  input: { integrationId: string; role: ContactRole; name: string; email: string; actor: string },
  now: Date = new Date(),
): Promise<ContactView> {
  const email = canonicalEmail(input.email);
  if (!email.ok) {
    throw new ValidationError("The contact's email address is invalid; see errors.", [
      { path: 'email', message: email.message },
    ]);
  }
  const contact = await inTransaction(db, async (trx) => {
    const integration = await integrationOf(trx, input.integrationId);
    const row = await repo.upsertContact(trx, {
      id: uuidv7(),
      organizationId: integration.organization_id,
      integrationId: integration.id,
      role: input.role,
      name: input.name.trim(),
      email: email.address,
      createdBy: input.actor,
    });
    if (integration.stage === 'requested') {
      const created = await listOutboxEvents(trx, {
        integrationId: integration.id,
        type: 'integration.created',
        limit: 1,
      });
      const welcome = (await notificationsForEvents(trx, created, now, DEFAULT_MAX_AGE_SECONDS)).filter(
        (n) => n.contactId === row.id,
      );
      await insertNotifications(trx, welcome, DEFAULT_MAX_AGE_SECONDS);
    }
    return row;
  });
  log().info({ integrationId: input.integrationId, contactId: contact.id, role: contact.role }, 'contact recorded');
  return contactView(contact);
}

export async function removeContact(
  db: Database,
  input: { integrationId: string; contactId: string; actor: string },
): Promise<ContactView> {
  await integrationOf(db, input.integrationId);
  const row = await repo.removeContact(db, input.integrationId, input.contactId);
  if (!row) {
    throw new NotFoundError('contact', input.contactId);
  }
  log().info({ integrationId: input.integrationId, contactId: row.id, actor: input.actor }, 'contact removed');
  return contactView(row);
}
