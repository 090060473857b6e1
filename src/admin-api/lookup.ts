import type { Principal } from '../domain/access.ts';
import type { OrgAccess } from '../http/auth.ts';
import { NotFoundError } from '../shared/errors.ts';
import { getAccount, type AccountRow } from '../storage/accounts.repo.ts';
import type { Executor } from '../storage/db.ts';
import { integrationOrganizationId } from '../storage/integration-lifecycle.repo.ts';
import { decodeCursor, pageOf, type Page } from '../storage/pagination.ts';
import { suspicionOrganization } from '../storage/validation-duplicate-suspicions.repo.ts';
import { getValidationReport, type StoredReport } from '../storage/validation-reports.repo.ts';

/**
 * Helpers shared by the integration, account, sync and validation routes: who the actor is in histories and
 * logs, and loading a resource under the key's organization scope (another organization's → 404).
 */

/** How an API caller is named in onboarding history, certificates and logs: never the secret. */
export function actorOf(principal: Principal): string {
  return `api-key:${principal.keyPrefix} (${principal.name})`;
}

/** The integration's organization, after the scope check; 404 when unknown or another organization's. */
export async function integrationOrganization(ex: Executor, access: OrgAccess, integrationId: string): Promise<string> {
  const organizationId = await integrationOrganizationId(ex, integrationId);
  if (organizationId === undefined) {
    throw new NotFoundError('integration', integrationId);
  }
  access.assert(organizationId, 'integration', integrationId);
  return organizationId;
}

/** A validation report, after the scope check; 404 when unknown or another organization's. */
export async function scopedValidationReport(ex: Executor, access: OrgAccess, id: string): Promise<StoredReport> {
  const row = await getValidationReport(ex, id);
  if (!row) {
    throw new NotFoundError('validation report', id);
  }
  access.assert(row.organization_id, 'validation report', id);
  return row;
}

/** A duplicate suspicion's organization, after the scope check; 404 when unknown or another organization's. */
export async function duplicateSuspicionOrganization(ex: Executor, access: OrgAccess, id: string): Promise<string> {
  const organizationId = await suspicionOrganization(ex, id);
  if (organizationId === undefined) {
    throw new NotFoundError('duplicate suspicion', id);
  }
  access.assert(organizationId, 'duplicate suspicion', id);
  return organizationId;
}

export async function scopedAccount(ex: Executor, access: OrgAccess, accountId: string): Promise<AccountRow> {
  const account = await getAccount(ex, accountId);
  if (!account) {
    throw new NotFoundError('account', accountId);
  }
  access.assert(account.organization_id, 'account', accountId);
  return account;
}

/**
 * Keyset paging over a small, bounded sub-collection that a service returns whole (an integration's
 * history, security administrators, key pairs, certificates: tens of rows at most). The order is the
 * key's (uuidv7 ids sort by creation; `int` keys are bigserial ids), so a page stays correct while
 * rows are added or removed, exactly as with SQL keyset pages.
 */
export function pageInMemory<T>(
  rows: readonly T[],
  query: { cursor?: string | undefined; limit: number },
  key: (row: T) => string,
  kind: 'uuid' | 'int',
): Page<T> {
  const compare =
    kind === 'int'
      ? (a: string, b: string) => (BigInt(a) < BigInt(b) ? -1 : BigInt(a) > BigInt(b) ? 1 : 0)
      : (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  const sorted = [...rows].sort((a, b) => compare(key(a), key(b)));
  const after = query.cursor === undefined ? undefined : decodeCursor(query.cursor, [kind])[0];
  const rest = after === undefined ? sorted : sorted.filter((r) => compare(key(r), after) > 0);
  return pageOf(rest.slice(0, query.limit + 1), query.limit, (r) => [key(r)]);
}
