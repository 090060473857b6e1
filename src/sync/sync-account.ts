import type { SyncCounts, SyncMode } from '../domain/types.ts';
import { ZERO_COUNTS } from '../domain/types.ts';
import { OccurrenceCounter } from '../normalization/identity.ts';
import { normalizeBalances } from '../normalization/balances.ts';
import { normalizeTransactions } from '../normalization/transactions.ts';
import { NotFoundError, UpstreamRejectedError } from '../shared/errors.ts';
import { uuidv7 } from '../shared/ids.ts';
import type { Logger } from '../shared/logger.ts';
import { addDays, diffDays, eachDay, isIsoDate, isWeekend, localDate, type IsoDate } from '../shared/time.ts';
import { getAccount, recordBankCalendar, touchAccountSynced, type AccountRow } from '../storage/accounts.repo.ts';
import { balanceHashes, upsertBalances } from '../storage/balances.repo.ts';
import type { Database } from '../storage/db.ts';
import { emptyFetchedDays, recentActivity, setEmptyDayState, upsertBankDayFetches } from '../storage/bank-day-fetches.repo.ts';
import { databaseClock } from '../storage/intraday.repo.ts';
import { addRunCounts, lockRunAndParent, writeRunNotes, type RunWarning } from '../storage/sync-runs.repo.ts';
import { insertRejects } from '../storage/transactions.repo.ts';
import type { BankClient, BalanceQuery, TransactionQuery } from './bank-client.ts';
import { askBankDay, estimateBusinessDay, mergeWarnings, warningOf } from './business-calendar.ts';
import { CurrentDaySnapshot, PostedDayTally } from './day-tally.ts';
import { ingestTransactionPage, requestedView, resolveRejectsOfCompleteWalk, type AccountRef } from './ingest.ts';
import { reconcileIntraday, resolvePending } from './supersede.ts';

export interface SyncDeps {
  db: Database;
  clientFor(integrationId: string): Promise<BankClient>;
  now(): Date;
  logger: Logger;
  lookbackDays: number;
  /**
   * Called after a window stored the final (prior-day/history) data of `dates`, so validation can
   * recompute those days' balance proofs (wired in main/; sync does not know validation). A failure
   * here is logged, never fails the window: the data is stored, only its proof is late.
   */
  onPostedDays?: (accountId: string, dates: readonly IsoDate[]) => Promise<void>;
}

export type SyncKind = 'transactions' | 'balances';

export interface WindowJob {
  /** The sync_runs row that counts this window's work (page writes and counts commit together). */
  runId: string | null;
  accountId: string;
  mode: SyncMode;
  from?: IsoDate;
  to?: IsoDate;
  kinds: readonly SyncKind[];
}

/** What a window learned about the bank's business days, noted on its run. */
interface RunNotes {
  warnings: RunWarning[];
  bankBusinessDay?: IsoDate;
  window?: { from: IsoDate; to: IsoDate };
}

/** The current-day walk of an intraday window, and the database clock when each of its walks began. */
interface IntradayWalk {
  walk: CurrentDaySnapshot;
  firstClock: string;
  walkClock: Map<number, string>;
}

interface Plan {
  transactions: TransactionQuery;
  balances: BalanceQuery;
  /** Business days whose posted (prior-day/history) data this window fetches in full. */
  postedDates: IsoDate[];
}

/**
 * The account's business days as the bank reported them for this window (see business-calendar.ts):
 * `currentDay` is its CURRENT_DAY (or our estimate where the window did not need to ask), `priorDay`
 * the `asOfDate` of its PRIOR_DAY answer (prior-day windows only).
 */
export interface BankDays {
  currentDay: IsoDate;
  priorDay?: IsoDate;
}

/**
 * What to ask the bank for. The bank's business days decide the dates, never the machine's clock.
 * History never includes the current business day: it is only ever a snapshot (intraday mode).
 */
export function planWindow(job: WindowJob, bank: BankDays, lookbackDays: number): Plan {
  if (job.mode === 'intraday') {
    return { transactions: { relativeDateType: 'CURRENT_DAY' }, balances: { relativeDateType: 'CURRENT_DAY' }, postedDates: [] };
  }
  const lastClosed = addDays(bank.currentDay, -1);
  let from: IsoDate;
  let to: IsoDate;
  if (job.mode === 'prior_day') {
    // The prior business day the bank named (a Monday's is the Friday before; after a holiday, the
    // day before it), plus the look-back for late postings and corrections.
    to = bank.priorDay ?? lastClosed;
    from = addDays(to, -lookbackDays);
  } else {
    if (!job.from || !job.to) {
      throw new Error('range window needs from and to');
    }
    from = job.from;
    // A range never reaches the bank's current business day (only ever a snapshot).
    to = diffDays(job.to, lastClosed) < 0 ? lastClosed : job.to;
  }
  if (diffDays(from, to) < 0) {
    // The whole range is the current business day or later: nothing final exists yet.
    return { transactions: { empty: true }, balances: { empty: true }, postedDates: [] };
  }
  return { transactions: { startDate: from, endDate: to }, balances: { startDate: from, endDate: to }, postedDates: eachDay(from, to) };
}

function add(total: SyncCounts, c: Partial<SyncCounts>): void {
  for (const k of Object.keys(c) as (keyof SyncCounts)[]) {
    total[k] += c[k] ?? 0;
  }
}

/** A range window this close to our estimate of the current business day asks the bank where its day is. */
const RANGE_CHECK_DAYS = 3;

/**
 * Learns the business days this window's dates depend on. Prior-day windows ask the bank for its
 * PRIOR_DAY; range windows ending near the current business day ask for its CURRENT_DAY; older range
 * windows and intraday windows need no extra call (intraday learns its day from its own answers).
 */
async function bankDaysFor(deps: SyncDeps, client: BankClient, row: AccountRow, job: WindowJob, notes: RunNotes): Promise<BankDays> {
  const estimate = estimateBusinessDay(row, deps.now());
  if (job.mode === 'prior_day') {
    const answer = await askBankDay(client, row, 'PRIOR_DAY');
    if (answer.day) {
      await recordBankCalendar(deps.db, row.id, { priorBusinessDay: answer.day }, deps.now());
      notes.bankBusinessDay = answer.day;
      return { currentDay: estimate, priorDay: answer.day };
    }
    notes.warnings.push(warningOf('bank_business_day_unknown', []));
    return { currentDay: estimate, ...(row.bank_prior_business_day ? { priorDay: row.bank_prior_business_day } : {}) };
  }
  const earliest = diffDays(estimate, localDate(deps.now(), row.time_zone)) < 0 ? localDate(deps.now(), row.time_zone) : estimate;
  if (job.mode === 'range' && job.to && diffDays(addDays(earliest, -RANGE_CHECK_DAYS), job.to) >= 0) {
    const answer = await askBankDay(client, row, 'CURRENT_DAY');
    if (answer.day) {
      await recordBankCalendar(deps.db, row.id, { businessDay: answer.day }, deps.now());
      return { currentDay: answer.day };
    }
  }
  return { currentDay: estimate };
}

/**
 * Syncs one account for one window: fetch page → normalize → write page and progress in one
 * transaction → next page; then resolve pending items of fully-fetched days (or, after a complete
 * current-day walk, reconcile the day's pending items with it); then balances, and what the bank
 * said about each day's business-day status. No database transaction is open while a bank request
 * is in flight. Safe to re-run at any point (every write is idempotent), which is what retries and
 * crash recovery rely on.
 */
export async function syncAccountWindow(deps: SyncDeps, job: WindowJob): Promise<SyncCounts> {
  const row = await getAccount(deps.db, job.accountId);
  if (!row) {
    throw new NotFoundError('account', job.accountId, 'account_not_found');
  }
  const account: AccountRef = { id: row.id, organizationId: row.organization_id };
  const client = await deps.clientFor(row.integration_id);
  const notes: RunNotes = { warnings: [] };
  const plan = planWindow(job, await bankDaysFor(deps, client, row, job, notes), deps.lookbackDays);
  const counts: SyncCounts = { ...ZERO_COUNTS };
  const log = deps.logger.child({ accountId: row.id, runId: job.runId, mode: job.mode });
  const [first, last] = [plan.postedDates[0], plan.postedDates.at(-1)];
  if (first && last && job.mode === 'prior_day') {
    notes.window = { from: first, to: last };
  }

  let snapshot: IntradayWalk | undefined;
  let tally: PostedDayTally | undefined;
  if (job.kinds.includes('transactions') && !('empty' in plan.transactions)) {
    tally = new PostedDayTally();
    // Noted before the first request: rows written after it were written by someone who may know more.
    snapshot = job.mode === 'intraday' ? { walk: new CurrentDaySnapshot(), firstClock: await databaseClock(deps.db), walkClock: new Map() } : undefined;
    await walkTransactions(deps, client, row, account, job, plan.transactions, counts, tally, snapshot);
    add(counts, await resolvePending(deps.db, account, plan.postedDates, job.runId));
    // What the bank reported per fetched day: validation's evidence for coverage and duplicates.
    await upsertBankDayFetches(deps.db, tally.rows(account, plan.postedDates, job.runId, deps.now()));
    await resolveRejectsOfCompleteWalk(deps.db, account, plan.postedDates, job.runId);
  }

  let balanceDays: ReadonlySet<IsoDate> | undefined;
  if (job.kinds.includes('balances') && !('empty' in plan.balances)) {
    const b = await syncBalances(deps, job, row, account, plan.balances);
    add(counts, b.counts);
    balanceDays = b.days;
  }
  if (job.mode === 'intraday') {
    add(counts, await reconcileCurrentDay(deps, client, row, account, job, snapshot, balanceDays, notes, log));
  } else if (balanceDays && plan.postedDates.length > 0) {
    notes.warnings.push(...(await classifyPostedDays(deps.db, account, plan.postedDates, balanceDays)));
  }
  if (job.runId && (notes.warnings.length > 0 || notes.bankBusinessDay || notes.window)) {
    await noteRun(deps.db, job.runId, notes);
  }
  await touchAccountSynced(deps.db, row.id, deps.now());
  if (deps.onPostedDays && plan.postedDates.length > 0) {
    await deps.onPostedDays(row.id, plan.postedDates).catch((err: unknown) => log.warn({ err }, 'posted-days hook failed'));
  }
  log.debug({ counts, warnings: notes.warnings.map((w) => w.code) }, 'window synced');
  return counts;
}

async function walkTransactions(
  deps: SyncDeps, client: BankClient, row: AccountRow, account: AccountRef, job: WindowJob, query: Exclude<TransactionQuery, { empty: true }>,
  counts: SyncCounts, tally: PostedDayTally, snapshot: IntradayWalk | undefined,
): Promise<void> {
  const occurrences = new OccurrenceCounter();
  let walk: number | undefined;
  for await (const page of client.transactionPages({ ...query, accounts: [{ accountId: row.jpm_account_id, bankId: row.bank_id }] })) {
    if (page.walk !== walk) {
      // A new walk (the client restarted because the data shifted, or moved to the next sub-range):
      // occurrence numbers count from the start of the walk again.
      occurrences.reset();
      walk = page.walk;
      if (snapshot) {
        // A restarted walk re-reads the whole snapshot: what earlier walks wrote is older than it.
        snapshot.walkClock.set(page.walk, snapshot.walkClock.size === 0 ? snapshot.firstClock : await databaseClock(deps.db));
      }
    }
    const ours = page.records.filter((r) => r.account.accountId === row.jpm_account_id);
    const normalized = normalizeTransactions(ours, occurrences, 0, { requested: requestedView(query) });
    tally.add(page.walk, page.pageNumber, page.totalPages, normalized.records);
    const pageRejects = page.rejects.map((r) => ({ index: r.index, reason: r.reason, raw: r.raw }));
    snapshot?.walk.add(
      page.walk, { pageNumber: page.pageNumber, totalPages: page.totalPages, totalRecords: page.totalRecords, fetched: page.records.length + page.rejects.length },
      normalized.records, [...pageRejects.filter((r) => rejectOfAccount(r.raw, row.jpm_account_id)), ...normalized.rejects],
    );
    const rejects = [
      ...pageRejects,
      ...page.records.filter((r) => r.account.accountId !== row.jpm_account_id).map((r) => ({ index: -1, reason: `record of another account (****${r.account.accountId.slice(-4)}) in this account's response`, raw: r })),
      ...normalized.rejects,
    ];
    add(counts, await ingestTransactionPage(deps.db, account, { records: normalized.records, rejects, fetched: page.records.length + page.rejects.length }, job.runId));
  }
}

/** A wire reject belongs to the account unless it names another one. */
function rejectOfAccount(raw: unknown, jpmAccountId: string): boolean {
  const acct = typeof raw === 'object' && raw !== null ? (raw as { account?: { accountId?: unknown } }).account?.accountId : undefined;
  return typeof acct !== 'string' || acct === jpmAccountId;
}

/**
 * After an intraday window: the bank's current business day is the `asOfDate` of its CURRENT_DAY
 * balance answer (asked AFTER the walk, so a day that rolled over during the walk is never taken for
 * the walk's day), or, when it named none, the one booking date of the walk's records. A complete
 * walk then reconciles that day's pending rows (supersede.ts `reconcileIntraday`).
 */
async function reconcileCurrentDay(
  deps: SyncDeps, client: BankClient, row: AccountRow, account: AccountRef, job: WindowJob,
  snapshot: IntradayWalk | undefined, balanceDays: ReadonlySet<IsoDate> | undefined,
  notes: RunNotes, log: Logger,
): Promise<Partial<SyncCounts>> {
  const complete = snapshot?.walk.complete();
  let day: IsoDate | undefined;
  let source = 'current_day_balance';
  if (balanceDays) {
    day = [...balanceDays].sort().at(-1);
  } else if (complete) {
    day = (await askBankDay(client, row, 'CURRENT_DAY')).day;
  }
  if (day) {
    await recordBankCalendar(deps.db, row.id, { businessDay: day }, deps.now());
    notes.bankBusinessDay = day;
    notes.window = { from: day, to: day };
  } else if (complete && complete.dates.length === 1) {
    day = complete.dates[0];
    source = 'intraday_records';
  }
  if (!day) {
    if (complete && complete.ids.size === 0) {
      notes.warnings.push(warningOf('no_current_business_day', []));
    }
    return {};
  }
  if (!complete || !snapshot) {
    // Restarted to the limit, failed or not walked: such a walk removes nothing.
    return {};
  }
  const sameDay = complete.dates.every((d) => d === day);
  if (!sameDay) {
    log.warn({ day, dates: complete.dates }, 'intraday walk held records of another business day; nothing removed');
  }
  const r = await reconcileIntraday(deps.db, account, {
    day, ids: complete.ids, provesAbsence: complete.provesAbsence && sameDay,
    walkStartedAt: snapshot.walkClock.get(complete.walk) ?? snapshot.firstClock,
    evidence: { totalRecords: complete.totalRecords, totalPages: complete.totalPages, businessDaySource: source },
  }, job.runId);
  return { removed: r.removed, updated: r.restored };
}

/** Adds a window's notes to its run and to the run's parent (warnings merged by code, dates united). */
async function noteRun(db: Database, runId: string, notes: RunNotes): Promise<void> {
  await db.transaction().execute(async (trx) => {
    for (const row of await lockRunAndParent(trx, runId)) {
      await writeRunNotes(trx, row.id, { ...notes, warnings: mergeWarnings(row.warnings, notes.warnings) });
    }
  });
}

/**
 * After a posted (prior-day or range) window with balances: a date the bank gave neither a balance
 * nor a transaction for is `no_business_day` (weekend, bank holiday: nothing was owed, and the run
 * says so); a business day with a balance but no transaction on an account that normally has
 * activity is `unexpectedly_empty` (a warning on the run and in coverage).
 */
async function classifyPostedDays(db: Database, account: AccountRef, dates: readonly IsoDate[], balanceDays: ReadonlySet<IsoDate>): Promise<RunWarning[]> {
  const warnings: RunWarning[] = [];
  const noBusiness = dates.filter((d) => !balanceDays.has(d));
  await setEmptyDayState(db, account.id, noBusiness, 'no_business_day');
  // Weekends are recorded but expected; a weekday without a business day (a bank holiday) is worth saying.
  const holidays = noBusiness.filter((d) => !isWeekend(d));
  if (holidays.length > 0) {
    warnings.push(warningOf('no_business_day', holidays));
  }
  const open = dates.filter((d) => balanceDays.has(d));
  await setEmptyDayState(db, account.id, open, 'fetched');
  const empty = await emptyFetchedDays(db, account.id, open);
  if (empty.length > 0) {
    const activity = await recentActivity(db, account.id, empty);
    if (activity.days >= 3 && activity.active * 2 > activity.days) {
      await setEmptyDayState(db, account.id, empty, 'unexpectedly_empty');
      warnings.push(warningOf('fetched_nothing', empty));
    }
  }
  return warnings;
}

async function syncBalances(
  deps: SyncDeps, job: WindowJob, row: { integration_id: string; jpm_account_id: string; bank_id: string }, account: AccountRef, query: Exclude<BalanceQuery, { empty: true }>,
): Promise<{ counts: Partial<SyncCounts>; days: ReadonlySet<IsoDate> }> {
  const client = await deps.clientFor(row.integration_id);
  const response = await client.getBalances({ ...query, accounts: [{ accountId: row.jpm_account_id, bankId: row.bank_id }] });
  const ours = response.accounts.filter((a) => a.accountId === row.jpm_account_id);
  // The business days the bank answered with a balance: its calendar (see business-calendar.ts).
  const days = new Set(ours.flatMap((a) => (a.errorCode ? [] : (a.balanceList ?? []).map((b) => b.asOfDate))).filter((d) => isIsoDate(d)));
  const { balances, rejects, accountErrors } = normalizeBalances(ours);
  for (const e of accountErrors) {
    // GCA-024 "no transaction was found … on the requested day" is an answer (no data), not a failure.
    if (e.errorCode !== 'GCA-024') {
      throw new UpstreamRejectedError(`J.P. Morgan refused balances for account ****${e.jpmAccountId.slice(-4)}: ${e.errorCode} ${e.errorMsg}`, 'jpm_account_error', { details: { bankErrorCode: e.errorCode } });
    }
  }
  const counts = await deps.db.transaction().execute(async (trx) => {
    const existing = await balanceHashes(trx, account.id, balances.map((b) => b.asOfDate));
    const changed = balances.filter((b) => existing.get(`${b.asOfDate}|${b.kind}`)?.hash !== b.contentHash);
    const written = await upsertBalances(trx, changed.map((b) => ({
      id: existing.get(`${b.asOfDate}|${b.kind}`)?.id ?? uuidv7(),
      organization_id: account.organizationId,
      account_id: account.id,
      as_of_date: b.asOfDate,
      kind: b.kind,
      currency: b.currency,
      decimal_location: b.decimalLocation,
      opening_ledger_minor: b.openingLedgerMinor?.toString() ?? null,
      opening_available_minor: b.openingAvailableMinor?.toString() ?? null,
      ending_ledger_minor: b.endingLedgerMinor?.toString() ?? null,
      ending_available_minor: b.endingAvailableMinor?.toString() ?? null,
      record_timestamp: b.recordTimestamp,
      content_hash: b.contentHash,
      raw: b.raw,
    })));
    await insertRejects(trx, rejects.map((r) => ({ organization_id: account.organizationId, account_id: account.id, sync_run_id: job.runId, record_type: 'balance' as const, reason: r.reason, raw: r.raw })));
    const c: Partial<SyncCounts> = { balances: written.length, rejected: rejects.length };
    if (job.runId) {
      await addRunCounts(trx, job.runId, c);
    }
    return c;
  });
  return { counts, days };
}
