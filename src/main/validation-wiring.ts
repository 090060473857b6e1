import type { MaintenanceHook } from '../scheduler/index.ts';
import { createLogger } from '../shared/logger.ts';
import type { IsoDate } from '../shared/time.ts';
import type { Database } from '../storage/db.ts';
import { refetchRange } from '../sync/refetch.ts';
import type { SyncDeps } from '../sync/sync-account.ts';
import { onPostedDays, validateRecentDays } from '../validation/index.ts';

/**
 * How validation plugs into the rest of the service (composition only):
 * - sync calls `onPostedDays` after storing a day's final data → the day's proof is recomputed;
 * - the worker's daily maintenance runs the sweep: recompute recent days, heal open ones;
 * (onboarding's `live` guard, `validationReportPassed`, is wired in admin-wiring.ts.)
 */
export function withValidationHook(deps: Omit<SyncDeps, 'onPostedDays'>): SyncDeps {
  return { ...deps, onPostedDays: (accountId, dates) => onPostedDays(deps.db, accountId, dates, deps.now()) };
}

/**
 * A heal's re-fetch: one range window of the account through the normal sync unit of work, run in
 * the maintenance job itself (a heal needs the data stored before it can compare), and recorded as
 * a sync run with trigger `validation` (sync/refetch.ts).
 */
export function validationRefetch(
  db: Database,
  sync: SyncDeps,
): (accountId: string, from: IsoDate, to: IsoDate) => Promise<unknown> {
  return (accountId, from, to) => refetchRange(db, sync, { accountId, from, to, trigger: 'validation' });
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
