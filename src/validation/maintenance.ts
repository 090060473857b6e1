import { errorMessage } from '../shared/errors.ts';
import type { Logger } from '../shared/logger.ts';
import { addDays, type IsoDate } from '../shared/time.ts';
import type { Database } from '../storage/db.ts';
import { listSweepAccounts } from '../storage/accounts.repo.ts';
import { firstLedgerDay } from '../storage/validation-ledger.repo.ts';
import { proveAccountDays } from './balance-proof.ts';
import { lastClosedDay } from './days.ts';
import { detectDuplicateSuspicions } from './duplicates.ts';
import { DEFAULT_HEAL_OPTIONS, healAccountDays, type HealOptions } from './heal.ts';

/**
 * Continuous validation, the pieces the rest of the service calls:
 * - `onPostedDays`: after a sync window stored a day's final data, recompute that day's proof and
 *   duplicate suspicions (sync's `SyncDeps.onPostedDays` hook, wired in main/);
 * - `validateRecentDays`: the daily sweep (a maintenance hook of the worker): for every syncing
 *   account, recompute the recent days still inside J.P. Morgan's reach and heal what is open.
 */
export interface MaintenanceDeps {
  db: Database;
  refetch: (accountId: string, from: IsoDate, to: IsoDate) => Promise<unknown>;
  now: () => Date;
  logger?: Logger;
  heal?: Partial<HealOptions>;
  /** How many days back the sweep recomputes (default: the heal reach). */
  sweepDays?: number;
}

export async function onPostedDays(
  db: Database,
  accountId: string,
  dates: readonly IsoDate[],
  now: Date = new Date(),
): Promise<void> {
  if (dates.length === 0) {
    return;
  }
  const sorted = [...dates].sort();
  const from = sorted[0]!;
  const to = sorted.at(-1)!;
  await proveAccountDays(db, accountId, from, to, now);
  await detectDuplicateSuspicions(db, accountId, from, to, now);
}

export interface SweepResult {
  accounts: number;
  healedWindows: number;
  stillOpenWindows: number;
  failedAccounts: { accountId: string; error: string }[];
}

/**
 * One pass over every active account of an integration that is syncing (not paused or cancelled).
 * An account that fails is recorded and the sweep goes on; the caller decides whether that fails
 * the job (the maintenance hook throws so the failure is visible).
 */
export async function validateRecentDays(deps: MaintenanceDeps): Promise<SweepResult> {
  const opts = { ...DEFAULT_HEAL_OPTIONS, ...deps.heal };
  const sweepDays = Math.min(deps.sweepDays ?? opts.reachDays, opts.reachDays);
  const accounts = await listSweepAccounts(deps.db);
  const result: SweepResult = {
    accounts: accounts.length,
    healedWindows: 0,
    stillOpenWindows: 0,
    failedAccounts: [],
  };
  for (const a of accounts) {
    try {
      const now = deps.now();
      const to = lastClosedDay(now, a.time_zone, a);
      const from = addDays(to, -(sweepDays - 1));
      // Only days since the account's first stored data: before that there is nothing to prove.
      const first = await firstLedgerDay(deps.db, a.id);
      const start = first && first > from ? first : from;
      await proveAccountDays(deps.db, a.id, start, to, now);
      await detectDuplicateSuspicions(deps.db, a.id, start, to, now);
      const healed = await healAccountDays(
        {
          db: deps.db,
          refetch: deps.refetch,
          now: deps.now,
          options: opts,
          ...(deps.logger ? { logger: deps.logger } : {}),
        },
        { accountId: a.id },
      );
      result.healedWindows += healed.windows.filter((w) => w.outcome === 'healed').length;
      result.stillOpenWindows += healed.windows.filter((w) => w.outcome !== 'healed').length;
    } catch (err) {
      deps.logger?.warn({ err, accountId: a.id }, 'validation sweep failed for an account');
      result.failedAccounts.push({ accountId: a.id, error: errorMessage(err) });
    }
  }
  deps.logger?.info({ ...result, failedAccounts: result.failedAccounts.length }, 'validation sweep done');
  return result;
}
