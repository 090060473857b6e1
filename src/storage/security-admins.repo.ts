import { sql } from 'kysely';
import type { Executor } from './db.ts';

export interface SecurityAdminRow {
  id: string;
  organization_id: string;
  integration_id: string;
  side: string;
  name: string;
  email: string;
  role: string;
  created_at: Date;
  updated_at: Date;
}

const COLUMNS = [
  'id',
  'organization_id',
  'integration_id',
  'side',
  'name',
  'email',
  'role',
  'created_at',
  'updated_at',
] as const;

/** Inserts or updates (by integration, side and case-insensitive email) one security administrator. */
export async function upsertSecurityAdmin(
  ex: Executor,
  row: {
    id: string;
    organizationId: string;
    integrationId: string;
    side: string;
    name: string;
    email: string;
    role: string;
  },
): Promise<SecurityAdminRow> {
  return ex
    .insertInto('security_admins')
    .values({
      id: row.id,
      organization_id: row.organizationId,
      integration_id: row.integrationId,
      side: row.side,
      name: row.name,
      email: row.email,
      role: row.role,
    })
    .onConflict((oc) =>
      oc.expression(sql`integration_id, side, lower(email)`).doUpdateSet((eb) => ({
        name: eb.ref('excluded.name'),
        email: eb.ref('excluded.email'),
        role: eb.ref('excluded.role'),
        updated_at: sql<Date>`now()`,
      })),
    )
    .returning(COLUMNS)
    .executeTakeFirstOrThrow();
}

export async function listSecurityAdmins(ex: Executor, integrationId: string): Promise<SecurityAdminRow[]> {
  return ex
    .selectFrom('security_admins')
    .select(COLUMNS)
    .where('integration_id', '=', integrationId)
    .orderBy('side', 'asc')
    .orderBy('created_at', 'asc')
    .execute();
}

export async function deleteSecurityAdmin(ex: Executor, integrationId: string, id: string): Promise<boolean> {
  const result = await ex
    .deleteFrom('security_admins')
    .where('integration_id', '=', integrationId)
    .where('id', '=', id)
    .executeTakeFirst();
  return result.numDeletedRows > 0n;
}

export async function countSecurityAdminsBySide(
  ex: Executor,
  integrationId: string,
): Promise<{ customer: number; ours: number }> {
  const rows = await ex
    .selectFrom('security_admins')
    .select(['side', (eb) => eb.fn.countAll<string>().as('n')])
    .where('integration_id', '=', integrationId)
    .groupBy('side')
    .execute();
  const count = (side: string) => Number(rows.find((r) => r.side === side)?.n ?? 0);
  return { customer: count('customer'), ours: count('ours') };
}
