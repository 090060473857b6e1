import type { Executor } from './db.ts';

/**
 * Small reads of one integration for callers that need a column or two of it (the onboarding lifecycle's own
 * view is `integration-lifecycle.repo.ts`).
 */

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
