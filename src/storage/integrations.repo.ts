import type { IntegrationSyncStatus } from '../domain/sync-rules.ts';
import type { Executor } from './db.ts';

/**
 * Small reads of one integration for callers that need a column or two of it (the onboarding lifecycle's own
 * view is `integration-lifecycle.repo.ts`), and its sync status as the sync sees it (ok, degraded while the
 * bank circuit is open, stopped by a permanent failure).
 */
export type { IntegrationSyncStatus } from '../domain/sync-rules.ts';

/** The integration's organization and stage (what a change to its contacts checks first). */
export async function findIntegrationStage(
  ex: Executor,
  id: string,
): Promise<{ id: string; organization_id: string; stage: string } | undefined> {
  return ex
    .selectFrom('integrations')
    .select(['id', 'organization_id', 'stage'])
    .where('id', '=', id)
    .executeTakeFirst();
}

/** The bank base URL the integration's client connects to. */
export async function findIntegrationBaseUrl(ex: Executor, id: string): Promise<{ base_url: string } | undefined> {
  return ex.selectFrom('integrations').select(['base_url']).where('id', '=', id).executeTakeFirst();
}

/** Moves an integration's sync status from one of `from` to `to`; true when this call changed it. */
export async function setIntegrationSyncStatus(
  ex: Executor,
  integrationId: string,
  to: IntegrationSyncStatus,
  reason: string | null,
  from: readonly IntegrationSyncStatus[],
): Promise<boolean> {
  const r = await ex
    .updateTable('integrations')
    .set({ sync_status: to, sync_status_reason: reason, updated_at: new Date() })
    .where('id', '=', integrationId)
    .where('sync_status', 'in', [...from])
    .executeTakeFirst();
  return r.numUpdatedRows > 0n;
}

/** What a trigger or a schedule tick checks before it syncs: the stage and sync status. */
export async function getIntegrationSyncState(ex: Executor, integrationId: string) {
  return ex
    .selectFrom('integrations')
    .select(['id', 'organization_id', 'stage', 'sync_status', 'sync_status_reason', 'intraday_runs_per_day'])
    .where('id', '=', integrationId)
    .executeTakeFirst();
}
