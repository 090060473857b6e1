import { NotFoundError, errorMessage } from '../shared/errors.ts';
import { uuidv7 } from '../shared/ids.ts';
import type { Logger } from '../shared/logger.ts';
import { addDays, diffDays, type IsoDate } from '../shared/time.ts';
import {
  accountDayStates,
  claimDaysForHeal,
  finishHeal,
  insertHeal,
  listOpenDays,
} from '../storage/account-days.repo.ts';
import { getAccount } from '../storage/accounts.repo.ts';
import type { Database } from '../storage/db.ts';
import { proveAccountDays, type AccountDayState } from './balance-proof.ts';
import { lastClosedDay } from './days.ts';
import { diffSnapshots, snapshotRows, type HealDiff } from './heal-diff.ts';

/**
 * Self-healing. A broken or unproved day inside J.P. Morgan's reach (history is served for a limited
 * number of days) is fetched again, a bounded number of times, spaced out: a late posting only
 * appears in history days after its booking date, so an immediate retry would mostly see the same
 * data. Every attempt is recorded in `account_day_heals` with the diff of the stored rows before
 * and after it. Nothing is deleted: an extra row stays and shows as a broken day and a suspicion.
 */
export interface HealOptions {
  /** Days back from today that J.P. Morgan still serves history for. */
  reachDays: number;
  /** Re-fetches per day before giving up until the day is proved (which resets the budget). */
  maxAttempts: number;
  /** Minimum time between two attempts on the same day. */
  retryAfterMinutes: number;
  /** Candidate days closer than this are fetched in one window. */
  maxGapDays: number;
  /** Longest window handed to `refetch` at once. */
  maxWindowDays: number;
}

export const DEFAULT_HEAL_OPTIONS: Readonly<HealOptions> = Object.freeze({
  reachDays: 90,
  maxAttempts: 5,
  retryAfterMinutes: 12 * 60,
  maxGapDays: 5,
  maxWindowDays: 31,
});

export interface HealDeps {
  db: Database;
  /** Re-fetches the account's posted transactions and final balances for [from, to] and stores them. */
  refetch: (accountId: string, from: IsoDate, to: IsoDate) => Promise<unknown>;
  now: () => Date;
  logger?: Logger;
  options?: Partial<HealOptions>;
}

export interface HealWindowResult {
  healId: string;
  from: IsoDate;
  to: IsoDate;
  days: { day: IsoDate; attempt: number; before: AccountDayState; after: AccountDayState | null }[];
  outcome: 'healed' | 'still_open' | 'refetch_failed';
  error?: string;
  diff: HealDiff;
}

export interface HealSummary {
  accountId: string;
  windows: HealWindowResult[];
  /** Open days older than J.P. Morgan's reach: only a person can resolve them. */
  outOfReach: number;
  /** Open days whose attempt budget is used up. */
  exhausted: number;
}

/** Groups sorted days into windows: a new window starts after a gap or at the length limit. */
export function windowsOf(
  days: readonly IsoDate[],
  maxGapDays: number,
  maxWindowDays: number,
): { from: IsoDate; to: IsoDate; days: IsoDate[] }[] {
  const out: { from: IsoDate; to: IsoDate; days: IsoDate[] }[] = [];
  for (const day of [...days].sort()) {
    const last = out.at(-1);
    if (last && diffDays(last.to, day) <= maxGapDays && diffDays(last.from, day) < maxWindowDays) {
      last.to = day;
      last.days.push(day);
    } else {
      out.push({ from: day, to: day, days: [day] });
    }
  }
  return out;
}

export async function healAccountDays(deps: HealDeps, params: { accountId: string }): Promise<HealSummary> {
  const opts = { ...DEFAULT_HEAL_OPTIONS, ...deps.options };
  const account = await getAccount(deps.db, params.accountId);
  if (!account) {
    throw new NotFoundError('account', params.accountId, 'account_not_found');
  }
  const now = deps.now();
  const yesterday = lastClosedDay(now, account.time_zone, account);
  const reachStart = addDays(yesterday, -(opts.reachDays - 1));
  const retryBefore = new Date(now.getTime() - opts.retryAfterMinutes * 60_000).toISOString();
  const open = await listOpenDays(deps.db, account.id, {
    reachStart,
    upTo: yesterday,
    maxAttempts: opts.maxAttempts,
    retryBefore,
  });
  const summary: HealSummary = {
    accountId: account.id,
    windows: [],
    outOfReach: open.filter((r) => !r.in_reach).length,
    exhausted: open.filter((r) => r.in_reach && r.exhausted).length,
  };
  const candidates = open.filter((r) => r.in_reach && !r.exhausted && r.due).map((r) => r.day);
  for (const w of windowsOf(candidates, opts.maxGapDays, opts.maxWindowDays)) {
    const result = await healWindow(
      deps,
      { id: account.id, organizationId: account.organization_id },
      w,
      opts,
      retryBefore,
    );
    if (result) {
      summary.windows.push(result);
    }
  }
  deps.logger?.info(
    {
      accountId: account.id,
      windows: summary.windows.length,
      outOfReach: summary.outOfReach,
      exhausted: summary.exhausted,
    },
    'account days healed',
  );
  return summary;
}

async function healWindow(
  deps: HealDeps,
  account: { id: string; organizationId: string },
  w: { from: IsoDate; to: IsoDate; days: IsoDate[] },
  opts: HealOptions,
  retryBefore: string,
): Promise<HealWindowResult | undefined> {
  const now = deps.now();
  // Claim the days (counting the attempt before the bank call, so a crash still uses it up). The
  // conditions make a concurrent healer claim nothing.
  const claimed = await claimDaysForHeal(deps.db, account.id, {
    days: w.days,
    maxAttempts: opts.maxAttempts,
    retryBefore,
    now,
  });
  if (claimed.length === 0) {
    return undefined;
  }
  const before = await snapshotRows(deps.db, account.id, w.from, w.to);
  const healId = uuidv7();
  const statesBefore = Object.fromEntries(claimed.map((r) => [r.day, r.state]));
  await insertHeal(deps.db, {
    id: healId,
    organizationId: account.organizationId,
    accountId: account.id,
    windowFrom: w.from,
    windowTo: w.to,
    days: JSON.stringify(claimed.map((r) => ({ day: r.day, attempt: r.heal_attempts }))),
    statesBefore: JSON.stringify(statesBefore),
    startedAt: now,
  });
  let error: string | undefined;
  try {
    await deps.refetch(account.id, w.from, w.to);
  } catch (err) {
    error = errorMessage(err);
    deps.logger?.warn({ err, accountId: account.id, from: w.from, to: w.to }, 'heal re-fetch failed');
  }
  // Whatever landed (all of it, or the pages before a failure) is new data for these days.
  await proveAccountDays(deps.db, account.id, w.from, w.to, deps.now());
  const after = await snapshotRows(deps.db, account.id, w.from, w.to);
  const diff = diffSnapshots(before, after);
  const states = await accountDayStates(
    deps.db,
    account.id,
    claimed.map((r) => r.day),
  );
  const stateAfter = new Map(states.map((s) => [s.day, s.state as AccountDayState]));
  const outcome =
    error !== undefined
      ? 'refetch_failed'
      : // A day with no proof left is owed none (the re-fetch learned it is no business day): settled too.
        claimed.every((r) => !stateAfter.has(r.day) || stateAfter.get(r.day) === 'proved')
        ? 'healed'
        : 'still_open';
  await finishHeal(deps.db, healId, {
    outcome,
    errorMessage: error ?? null,
    diff: JSON.stringify(diff),
    statesAfter: JSON.stringify(Object.fromEntries(stateAfter)),
    finishedAt: deps.now(),
  });
  return {
    healId,
    from: w.from,
    to: w.to,
    outcome,
    diff,
    ...(error === undefined ? {} : { error }),
    days: claimed.map((r) => ({
      day: r.day,
      attempt: r.heal_attempts,
      before: r.state as AccountDayState,
      after: stateAfter.get(r.day) ?? null,
    })),
  };
}
