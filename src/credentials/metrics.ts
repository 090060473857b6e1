import { certificateDaysToExpiry, certificateDaysToExpiryMin } from '../shared/metrics.ts';
import { latestCertificateExpiryPerIntegration } from '../storage/certificates.repo.ts';
import type { Executor } from '../storage/db.ts';

const DAY_MS = 86_400_000;

/**
 * Refreshes `jpm_certificate_days_to_expiry{integration}` from Postgres: for each integration, the
 * days left on the active certificate of its current environment that lasts longest (0 when every
 * one has expired; integrations without certificates are left out), and the id-free
 * `jpm_certificate_days_to_expiry_min` (the fewest of them) that an open /metrics serves. Meant for a scrape hook:
 * `onScrape(() => refreshCertificateExpiryMetric(ctx.db))`.
 */
export async function refreshCertificateExpiryMetric(ex: Executor, now: Date = new Date()): Promise<void> {
  const rows = await latestCertificateExpiryPerIntegration(ex);
  certificateDaysToExpiry.reset();
  certificateDaysToExpiryMin.reset();
  let min: number | undefined;
  for (const row of rows) {
    const days = Math.max(0, Math.floor((new Date(row.not_after).getTime() - now.getTime()) / DAY_MS));
    certificateDaysToExpiry.set({ integration: row.integration_id }, days);
    min = Math.min(min ?? days, days);
  }
  if (min !== undefined) {
    certificateDaysToExpiryMin.set(min);
  }
}
