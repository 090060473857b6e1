import type { SyncCounts, SyncTrigger } from '../domain/types.ts';
import { errorMessage, isAppError } from '../shared/errors.ts';
import type { IsoDate } from '../shared/time.ts';
import { getAccount } from '../storage/accounts.repo.ts';
import type { Database } from '../storage/db.ts';
import { syncAccountWindow, type SyncDeps } from './sync-account.ts';
import { finishStandaloneRun, startStandaloneRun } from './sync-run.ts';

/**
 * One range window of an account (transactions and balances) through the normal sync unit of work,
 * run in the caller's process and recorded as a standalone run of its own (sync-run.ts) with the
 * given trigger, so coverage and the run list show it. It does not take the scheduler's per-account
 * single-flight lock: overlapping a scheduled window is safe because every page write takes the
 * account's write lock and matches rows by identity (idempotent). Validation's heals use it.
 */
export async function refetchRange(
  db: Database,
  sync: SyncDeps,
  input: { accountId: string; from: IsoDate; to: IsoDate; trigger: SyncTrigger },
): Promise<SyncCounts> {
  const { accountId, from, to } = input;
  const account = await getAccount(db, accountId);
  if (!account) {
    throw new Error(`account ${accountId} is gone`);
  }
  const runId = await startStandaloneRun(db, {
    organizationId: account.organization_id,
    integrationId: account.integration_id,
    accountId,
    trigger: input.trigger,
    mode: 'range',
    windowFrom: from,
    windowTo: to,
    windowsTotal: 1,
  });
  try {
    const counts = await syncAccountWindow(sync, {
      runId,
      accountId,
      mode: 'range',
      from,
      to,
      kinds: ['transactions', 'balances'],
    });
    // Records or balances it could not store (unusable money facts, `sync_rejects`) make it partial, as they make a
    // run tree (sync-run.ts) and a statement import: a `succeeded` re-fetch would mark earlier failures recovered.
    if (counts.rejected > 0) {
      await finishStandaloneRun(db, runId, 'partial', {
        code: 'records_rejected',
        message: `${counts.rejected} record(s) rejected (unusable money facts); they are retried on the next sync`,
      });
    } else {
      await finishStandaloneRun(db, runId, 'succeeded');
    }
    return counts;
  } catch (err) {
    await finishStandaloneRun(db, runId, 'failed', {
      code: isAppError(err) ? err.code : 'internal_error',
      message: errorMessage(err),
    });
    throw err;
  }
}
