import type { Logger } from '../shared/logger.ts';
import type { Database } from '../storage/db.ts';
import { markAccountFailedOnce } from '../storage/accounts.repo.ts';
import { setIntegrationSyncStatus } from '../storage/integrations.repo.ts';
import { insertOutboxEvents } from '../storage/outbox.repo.ts';
import { failRun } from '../sync/sync-run.ts';
import type { Failure } from './retry-policy.ts';

export interface PermanentlyFailedWindow {
  organizationId: string;
  integrationId: string;
  accountId: string;
  parentRunId: string;
}

/**
 * A permanent failure: ends the run at once, and marks what is broken so schedules stop calling the
 * bank for it until a person fixes it: the integration (`sync_status = failed`, reason) for its
 * certificate or credentials, the account (`status = failed`, reason) for an entitlement. The mark,
 * the run's end and the outbox event commit together; the alert (an error log line plus the
 * `sync.integration_failed` / `sync.account_failed` outbox event) goes out only from the call that
 * changed the status, so a failure that every account of an integration hits alerts once.
 */
export async function recordPermanentFailure(
  db: Database,
  log: Logger,
  w: PermanentlyFailedWindow,
  failure: Extract<Failure, { kind: 'permanent' }>,
): Promise<void> {
  const reason = `${failure.code}: ${failure.message}`;
  const alerted = await db.transaction().execute(async (trx) => {
    await failRun(trx, w.parentRunId, { code: failure.code, message: failure.message });
    let changed = false;
    if (failure.scope === 'integration') {
      // An expired certificate gets its own status: it needs a renewal, not an investigation.
      changed = await setIntegrationSyncStatus(
        trx,
        w.integrationId,
        failure.code === 'certificate_expired' ? 'certificate_expired' : 'failed',
        reason,
        ['ok', 'degraded'],
      );
    } else if (failure.scope === 'account') {
      changed = await markAccountFailedOnce(trx, w.accountId, reason);
    }
    if (changed) {
      await insertOutboxEvents(trx, [
        {
          organizationId: w.organizationId,
          integrationId: w.integrationId,
          type: failure.scope === 'integration' ? 'sync.integration_failed' : 'sync.account_failed',
          payload: {
            integrationId: w.integrationId,
            accountId: w.accountId,
            runId: w.parentRunId,
            code: failure.code,
            reason: failure.message,
          },
        },
      ]);
    }
    return changed;
  });
  const fields = {
    integrationId: w.integrationId,
    accountId: w.accountId,
    runId: w.parentRunId,
    code: failure.code,
    scope: failure.scope,
  };
  if (alerted || failure.scope === 'run') {
    // An error-level line is the alert (one per status change; per run for run-scoped failures).
    log.error({ ...fields, reason: failure.message }, 'sync stopped by a permanent failure');
  } else {
    log.warn(fields, 'sync stopped by a permanent failure already reported');
  }
}
