import { integrationsOverdue } from '../shared/metrics.ts';
import type { Executor } from '../storage/db.ts';
import { listOverdueIntegrations } from '../storage/integration-lifecycle.repo.ts';

/** Refreshes `jpm_integrations_overdue`; for a scrape hook: `onScrape(() => refreshOverdueMetric(ctx.db))`. */
export async function refreshOverdueMetric(ex: Executor, now: Date = new Date()): Promise<number> {
  const overdue = (await listOverdueIntegrations(ex, now)).length;
  integrationsOverdue.set(overdue);
  return overdue;
}
