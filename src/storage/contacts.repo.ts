import { sql } from 'kysely';
import type { Executor } from './db.ts';

/** The people of an integration who get milestone messages (integration_contacts). */
export const CONTACT_COLUMNS = [
  'id',
  'organization_id',
  'integration_id',
  'role',
  'name',
  'email',
  'created_by',
  'created_at',
  'updated_at',
  'removed_at',
] as const;

export interface ContactRow {
  id: string;
  organization_id: string;
  integration_id: string;
  role: string;
  name: string;
  email: string;
  created_by: string;
  created_at: Date;
  updated_at: Date;
  removed_at: Date | null;
}

/** Current (not removed) contacts of an integration, oldest first. */
export async function listContacts(ex: Executor, integrationId: string): Promise<ContactRow[]> {
  return ex
    .selectFrom('integration_contacts')
    .select(CONTACT_COLUMNS)
    .where('integration_id', '=', integrationId)
    .where('removed_at', 'is', null)
    .orderBy('id')
    .execute();
}

/**
 * Adds a contact, or updates the name of the current one with the same role and address (the
 * partial unique index makes the pair unique among current contacts).
 */
export async function upsertContact(
  ex: Executor,
  c: {
    id: string;
    organizationId: string;
    integrationId: string;
    role: string;
    name: string;
    email: string;
    createdBy: string;
  },
): Promise<ContactRow> {
  const r = await sql<ContactRow>`
    insert into integration_contacts (id, organization_id, integration_id, role, name, email, created_by)
    values (${c.id}, ${c.organizationId}, ${c.integrationId}, ${c.role}, ${c.name}, ${c.email}, ${c.createdBy})
    on conflict (integration_id, role, lower(email)) where removed_at is null
    do update set name = excluded.name, updated_at = now()
    returning ${sql.join(CONTACT_COLUMNS.map((col) => sql.ref(col)))}`.execute(ex);
  const row = r.rows[0];
  if (!row) {
    throw new Error('contact upsert returned no row');
  }
  return row;
}

export async function removeContact(ex: Executor, integrationId: string, id: string): Promise<ContactRow | undefined> {
  return ex
    .updateTable('integration_contacts')
    .set({ removed_at: sql<Date>`now()`, updated_at: sql<Date>`now()` })
    .where('id', '=', id)
    .where('integration_id', '=', integrationId)
    .where('removed_at', 'is', null)
    .returning(CONTACT_COLUMNS)
    .executeTakeFirst();
}

/** Current contacts of several integrations at once (the notification producer's batch). */
export async function contactsOfIntegrations(ex: Executor, integrationIds: readonly string[]): Promise<ContactRow[]> {
  if (integrationIds.length === 0) {
    return [];
  }
  return ex
    .selectFrom('integration_contacts')
    .select(CONTACT_COLUMNS)
    .where('integration_id', 'in', integrationIds)
    .where('removed_at', 'is', null)
    .orderBy('id')
    .execute();
}
