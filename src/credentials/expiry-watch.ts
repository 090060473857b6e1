import { createLogger } from '../shared/logger.ts';
import * as certificatesRepo from '../storage/certificates.repo.ts';
import type { Database } from '../storage/db.ts';
import { insertOutboxEvents, type OutboxEventInput } from '../storage/outbox.repo.ts';

// Resolved per call: the root logger is configured by main/ after modules are imported.
const log = () => createLogger('credentials');

/** Days before `not_after` at which a `certificate.expiring` event goes out, once each. */
export const EXPIRY_WARNING_DAYS = [60, 30, 7] as const;
const DAY_MS = 86_400_000;

export interface ExpiryWatchResult {
  warned: { certificateId: string; integrationId: string; thresholdDays: number; daysLeft: number }[];
  expired: { certificateId: string; integrationId: string }[];
  /** Integrations left with no usable certificate for their environment (sync status set to certificate_expired). */
  integrationsWithoutCertificate: string[];
}

/**
 * The smallest threshold the certificate has crossed, and every threshold it makes moot: a
 * certificate installed with 20 days left gets the 30-day warning once, not the 60- and 30-day ones.
 */
export function dueWarning(
  daysLeft: number,
  alreadySent: readonly number[],
): { threshold: number; covers: number[] } | undefined {
  const crossed = EXPIRY_WARNING_DAYS.filter((t) => daysLeft <= t);
  if (crossed.length === 0) {
    return undefined;
  }
  const threshold = Math.min(...crossed);
  return alreadySent.includes(threshold) ? undefined : { threshold, covers: crossed };
}

/**
 * The daily expiry job: warns at 60, 30 and 7 days (outbox `certificate.expiring`, once per
 * threshold), marks certificates past `not_after` as expired (`certificate.expired`), and sets an
 * integration's sync status to `certificate_expired` when none of its certificates is usable any
 * more. Idempotent: warnings already sent are recorded on the certificate, under a row lock.
 */
export async function watchCertificateExpiry(db: Database, now: Date = new Date()): Promise<ExpiryWatchResult> {
  return db.transaction().execute(async (trx) => {
    const result: ExpiryWatchResult = { warned: [], expired: [], integrationsWithoutCertificate: [] };
    const events: OutboxEventInput[] = [];

    for (const cert of await certificatesRepo.markExpiredCertificates(trx, now)) {
      result.expired.push({ certificateId: cert.id, integrationId: cert.integration_id });
      events.push({
        organizationId: cert.organization_id,
        integrationId: cert.integration_id,
        type: 'certificate.expired',
        payload: {
          integrationId: cert.integration_id,
          certificateId: cert.id,
          commonName: cert.subject_cn,
          environment: cert.environment,
          notAfter: cert.not_after.toISOString(),
        },
      });
    }

    const maxDays = Math.max(...EXPIRY_WARNING_DAYS);
    for (const cert of await certificatesRepo.listExpiringCertificates(trx, now, maxDays * DAY_MS)) {
      const daysLeft = Math.floor((cert.not_after.getTime() - now.getTime()) / DAY_MS);
      const due = dueWarning(daysLeft, cert.expiry_warnings_sent);
      if (!due) {
        continue;
      }
      await certificatesRepo.recordExpiryWarnings(trx, cert.id, due.covers);
      result.warned.push({
        certificateId: cert.id,
        integrationId: cert.integration_id,
        thresholdDays: due.threshold,
        daysLeft,
      });
      events.push({
        organizationId: cert.organization_id,
        integrationId: cert.integration_id,
        type: 'certificate.expiring',
        payload: {
          integrationId: cert.integration_id,
          certificateId: cert.id,
          commonName: cert.subject_cn,
          environment: cert.environment,
          thresholdDays: due.threshold,
          daysLeft,
          notAfter: cert.not_after.toISOString(),
        },
      });
    }

    const affected = [...new Set(result.expired.map((e) => e.integrationId))];
    if (affected.length > 0) {
      // Integrations whose current environment has no usable certificate left: syncs will fail with
      // `certificate_expired`, so say so on the integration too.
      result.integrationsWithoutCertificate = await certificatesRepo.markIntegrationsWithoutUsableCertificate(
        trx,
        affected,
        now,
      );
    }

    await insertOutboxEvents(trx, events);
    log().info(
      {
        warned: result.warned.length,
        expired: result.expired.length,
        stranded: result.integrationsWithoutCertificate.length,
      },
      'certificate expiry watch done',
    );
    return result;
  });
}
