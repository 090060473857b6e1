import { accountDays, onScrape } from '../shared/metrics.ts';
import { countAccountDaysByState } from '../storage/account-days.repo.ts';
import type { Executor } from '../storage/db.ts';
import { ACCOUNT_DAY_STATES } from './balance-proof.ts';

/** Sets `jpm_account_days{state}` from the stored proofs (every state gets a value, zero included). */
export async function refreshAccountDayMetrics(ex: Executor): Promise<Record<string, number>> {
  const rows = await countAccountDaysByState(ex);
  const counts: Record<string, number> = Object.fromEntries(ACCOUNT_DAY_STATES.map((s) => [s, 0]));
  for (const r of rows) {
    counts[r.state] = Number(r.n);
  }
  for (const [state, n] of Object.entries(counts)) {
    accountDays.set({ state }, n);
  }
  return counts;
}

/**
 * Refreshes the gauge on every Prometheus scrape (the api role calls this once at start). Returns
 * the unregister function, for shutdown and tests.
 */
export function registerAccountDayMetrics(ex: Executor): () => void {
  return onScrape(async () => {
    await refreshAccountDayMetrics(ex);
  });
}
