import type { OrgAccess } from '../http/auth.ts';
import { NotFoundError } from '../shared/errors.ts';
import { uuidv7 } from '../shared/ids.ts';
import type { Database, Executor } from '../storage/db.ts';
import { findOrganization, insertOrganization, type OrganizationRow } from '../storage/organizations.repo.ts';

/**
 * Organizations (tenants) for the admin API, under the key's organization scope: only a key valid for all
 * organizations creates one; a scoped key sees its own only (another organization's → 404).
 */

/** Creates an organization; `scoped` is told its id, which is also its organization, before it is stored (the route's audit target). */
export async function createOrganization(
  db: Executor,
  access: OrgAccess,
  name: string,
  scoped: (target: { id: string; organizationId: string }) => void,
): Promise<OrganizationRow> {
  access.requireAllOrgs('create organizations');
  const id = uuidv7();
  scoped({ id, organizationId: id });
  return insertOrganization(db, { id, name });
}

/** An organization the key may see; 404 when unknown or another organization. */
export async function getOrganization(db: Database, access: OrgAccess, id: string): Promise<OrganizationRow> {
  access.assert(id, 'organization', id);
  const org = await findOrganization(db, id);
  if (!org) {
    throw new NotFoundError('organization', id);
  }
  return org;
}
