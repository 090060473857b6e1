import type { MaintenanceHook } from '../scheduler/index.ts';
import { errorMessage, isAppError } from '../shared/errors.ts';
import { createLogger } from '../shared/logger.ts';
import type { IsoDate } from '../shared/time.ts';
import { getAccount } from '../storage/accounts.repo.ts';
import type { Database } from '../storage/db.ts';
import { createSyncRun, finishRun, markRunStarted } from '../storage/sync-runs.repo.ts';
import { syncAccountWindow, type SyncDeps } from '../sync/sync-account.ts';
import {
  createValidationReportProvider,
  onPostedDays,
  validateRecentDays,
  type ValidationVerdict,
} from '../validation/index.ts';

/**
 * How validation plugs into the rest of the service (composition only):
 * - sync calls `onPostedDays` after storing a day's final data → the day's proof is recomputed;
 * - the worker's daily maintenance runs the sweep: recompute recent days, heal open ones;
 * - onboarding's `live` guard asks `validationReportPassed`.
 */
export function withValidationHook(deps: Omit<SyncDeps, 'onPostedDays'>): SyncDeps {
  return { ...deps, onPostedDays: (accountId, dates) => onPostedDays(deps.db, accountId, dates, deps.now()) };
}

/**
 * A heal's re-fetch: one range window of the account through the normal sync unit of work, run in
 * the maintenance job itself (a heal needs the data stored before it can compare), and recorded as
 * a sync run with trigger `validation` so coverage and the run list show it. It does not take the
 * scheduler's per-account single-flight lock; overlapping with a scheduled window is safe because
 * every page write takes the account's write lock and matches rows by identity (idempotent).
 */
export function validationRefetch(
  db: Database,
  sync: SyncDeps,
): (accountId: string, from: IsoDate, to: IsoDate) => Promise<unknown> {
  return async (accountId, from, to) => {
    const account = await getAccount(db, accountId);
    if (!account) {
      throw new Error(`account ${accountId} is gone`);
    }
    const runId = await createSyncRun(db, {
      organizationId: account.organization_id,
      integrationId: account.integration_id,
      accountId,
      trigger: 'validation',
      mode: 'range',
      windowFrom: from,
      windowTo: to,
      windowsTotal: 1,
    });
    await markRunStarted(db, runId);
    try {
      const counts = await syncAccountWindow(sync, {
        runId,
        accountId,
        mode: 'range',
        from,
        to,
        kinds: ['transactions', 'balances'],
      });
      await finishRun(db, runId, 'succeeded');
      return counts;
    } catch (err) {
      await finishRun(db, runId, 'failed', {
        code: isAppError(err) ? err.code : 'internal_error',
        message: errorMessage(err),
      });
      throw err;
    }
  };
}

export function validationMaintenanceHook(db: Database, sync: SyncDeps): MaintenanceHook {
  return {
    name: 'validation',
    run: async () => {
      const r = await validateRecentDays({
        db,
        refetch: validationRefetch(db, sync),
        now: () => new Date(),
        logger: createLogger('validation'),
      });
      if (r.failedAccounts.length > 0) {
        throw new Error(`validation sweep failed for ${r.failedAccounts.length} account(s)`);
      }
    },
  };
}

/** What onboarding's `OnboardingOptions.validationReportPassed` takes. */
export function validationGuard(db: Database): (integrationId: string) => Promise<ValidationVerdict> {
  return createValidationReportProvider(db);
}
