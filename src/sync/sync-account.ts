import type { SyncCounts, SyncMode } from '../domain/types.ts';
import { ZERO_COUNTS } from '../domain/types.ts';
import { OccurrenceCounter } from '../normalization/identity.ts';
import { JpmUnavailableError, RETRYABLE_BANK_ERROR_CODES } from '../jpm/errors.ts';
import { pageIndexOf } from '../jpm/records.ts';
import { BALANCE_NUMBERS, normalizeBalances } from '../normalization/balances.ts';
import { normalizeTransactions } from '../normalization/transactions.ts';
import { NotFoundError, UpstreamRejectedError } from '../shared/errors.ts';
import { hasBankId } from '../shared/ids.ts';
import type { Logger } from '../shared/logger.ts';
import { addDays, diffDays, eachDay, isIsoDate, type IsoDate } from '../shared/time.ts';
import { getAccount, touchAccountSynced, type AccountRow } from '../storage/accounts.repo.ts';
import { balanceHashes, upsertBalances } from '../storage/balances.repo.ts';
import type { Database, Executor } from '../storage/db.ts';
import { upsertBankDayFetches } from '../storage/bank-day-fetches.repo.ts';
import { endPostedWalks, markPostedWalk } from '../storage/posted-day-walks.repo.ts';
import { databaseClock } from '../storage/intraday.repo.ts';
import { insertRejects, lockAccountForWrite, rejectHash } from '../storage/transactions.repo.ts';
import { withSignal, type BankClient, type BalanceQuery, type TransactionQuery } from './bank-client.ts';
import { bankDaysFor, classifyPostedDays, type BankDays } from './bank-days.ts';
import { warningOf } from './business-calendar.ts';
import { balanceRow } from './balance-rows.ts';
import { PostedDayTally } from './day-tally.ts';
import {
  ingestTransactionPage,
  requestedView,
  resolveRejectsOfCompleteWalk,
  storeHeldRecords,
  type AccountRef,
  type HeldRecords,
  type LandedOn,
  type WalkClaims,
} from './ingest.ts';
import { reconcileCurrentDay, startIntradayWalk, type IntradayWalk } from './intraday.ts';
import { withRespelledRejectHashes } from './reject-respellings.ts';
import { noteUnreadable, resolvePending } from './supersede.ts';
import { countOnRun, noteRun, type RunNotes } from './sync-run.ts';
import type { WriteFence } from './write-fence.ts';

export type { BankDays } from './bank-days.ts';

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
  /**
   * Aborts the window's bank calls (the worker is stopping). Pages already stored stay; the call in flight and
   * every later one fail with `jpm_aborted`, so the window ends at once and runs again from its start elsewhere.
   */
  signal?: AbortSignal;
  /**
   * The account's sync lock the window runs under, checked in its write transactions (`WriteFence`): a window that
   * lost it while it ran writes nothing more and fails with the retryable `account_lock_lost`.
   */
  lock?: WriteFence;
}

interface Plan {
  transactions: TransactionQuery;
  balances: BalanceQuery;
  /** Business days whose posted (prior-day/history) data this window fetches in full. */
  postedDates: IsoDate[];
  /**
   * Days of a range window that the bank has not closed yet (its current business day or later, our clock being
   * ahead of it): not fetched, and said so on the run (`day_not_closed`) rather than a bare success over them.
   */
  notClosed?: IsoDate[];
}

/**
 * What to ask the bank for. The bank's business days decide the dates, never the machine's clock.
 * History never includes the current business day: it is only ever a snapshot (intraday mode).
 */
export function planWindow(job: WindowJob, bank: BankDays, lookbackDays: number): Plan {
  if (job.mode === 'intraday') {
    return {
      transactions: { relativeDateType: 'CURRENT_DAY' },
      balances: { relativeDateType: 'CURRENT_DAY' },
      postedDates: [],
    };
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
    // The run's plan cut the range at the day before our estimate of the current business day; when the
    // bank's answer shows the estimate lagged, the days it closed since belong to the range too.
    const reach = bank.aheadOfEstimate ? addDays(job.to, bank.aheadOfEstimate) : job.to;
    // A range never reaches the bank's current business day (only ever a snapshot).
    to = diffDays(reach, lastClosed) < 0 ? lastClosed : reach;
  }
  // The window's own days the bank has not closed (a range planned by a clock ahead of the bank).
  const openFrom = job.from && diffDays(job.from, bank.currentDay) < 0 ? job.from : bank.currentDay;
  const notClosed =
    job.mode === 'range' && job.to && diffDays(openFrom, job.to) >= 0 ? { notClosed: eachDay(openFrom, job.to) } : {};
  if (diffDays(from, to) < 0) {
    // The whole range is the current business day or later: nothing final exists yet.
    return { transactions: { empty: true }, balances: { empty: true }, postedDates: [], ...notClosed };
  }
  return {
    transactions: { startDate: from, endDate: to },
    balances: { startDate: from, endDate: to },
    postedDates: eachDay(from, to),
    ...notClosed,
  };
}

function add(total: SyncCounts, c: Partial<SyncCounts>): void {
  for (const k of Object.keys(c) as (keyof SyncCounts)[]) {
    total[k] += c[k] ?? 0;
  }
}

/**
 * Syncs one account for one window: fetch page → normalize → write page and progress in one
 * transaction → next page; then resolve pending items of fully-fetched days (or, after a complete
 * current-day walk, reconcile the day's pending items with it); then balances, and what the bank
 * said about each day's business-day status. No database transaction is open while a bank request
 * is in flight. Safe to re-run at any point (every write is idempotent), which is what retries and
 * crash recovery rely on.
 */
/** The window's write check (its lock's `assertHeld`), for a write transaction's `beforeWrite`; none without a lock. */
function fenceOf(job: WindowJob): ((trx: Executor) => Promise<void>) | undefined {
  const lock = job.lock;
  return lock === undefined ? undefined : (trx) => lock.assertHeld(trx);
}

export async function syncAccountWindow(deps: SyncDeps, job: WindowJob): Promise<SyncCounts> {
  const row = await getAccount(deps.db, job.accountId);
  if (!row) {
    throw new NotFoundError('account', job.accountId, 'account_not_found');
  }
  const account: AccountRef = { id: row.id, organizationId: row.organization_id };
  const client = withSignal(await deps.clientFor(row.integration_id), job.signal);
  const notes: RunNotes = { warnings: [] };
  const plan = planWindow(
    job,
    await bankDaysFor({ db: deps.db, now: deps.now(), client, row, mode: job.mode, to: job.to }, notes),
    deps.lookbackDays,
  );
  const counts: SyncCounts = { ...ZERO_COUNTS };
  const log = deps.logger.child({ accountId: row.id, runId: job.runId, mode: job.mode });
  if (plan.notClosed) {
    notes.warnings.push(warningOf('day_not_closed', plan.notClosed));
  }
  const [first, last] = [plan.postedDates[0], plan.postedDates.at(-1)];
  if (first && last && job.mode === 'prior_day') {
    notes.window = { from: first, to: last };
  }

  let snapshot: IntradayWalk | undefined;
  let tally: PostedDayTally | undefined;
  // A walk of the window's transactions; intraday reconciliation may ask for another (intraday.ts).
  let walk: () => Promise<void> = () => Promise.resolve();
  if (job.kinds.includes('transactions') && !('empty' in plan.transactions)) {
    tally = new PostedDayTally();
    // Noted before the first request: rows written after it were written by someone who may know more, and an
    // overlapping walk of the same days that began after it read the bank later (its day counts win).
    const readAt = await databaseClock(deps.db);
    snapshot = job.mode === 'intraday' ? startIntradayWalk(readAt) : undefined;
    // The account's unreadable records by date: a day holding one proves no pending item absent (supersede.ts).
    const unreadable = { dates: new Set<IsoDate>(), undated: false, held: new Set<IsoDate>() };
    const query = plan.transactions;
    const dayTally = tally;
    walk = () =>
      walkTransactions(deps, client, row, account, job, query, counts, dayTally, snapshot, unreadable, readAt);
    await walk();
    add(counts, await resolvePending(deps.db, account, plan.postedDates, job.runId, unreadable, fenceOf(job)));
    if (unreadable.held.size > 0) {
      notes.warnings.push(warningOf('pending_held_unreadable', [...unreadable.held].sort()));
    }
    // What the bank reported per fetched day: validation's evidence for coverage and duplicates. Not fenced: a window
    // that lost its account lock reads older than the lock's new holder (who began reading after taking it), and a
    // day's tally never replaces one that began reading later (`read_at`); a day no one read since keeps its newest.
    // Committed with the end of the walk's marker (walkTransactions), so a statement import holding the account's write
    // lock that reads the marker, then the evidence, sees the days stored in full by the one or the other, never neither
    // (the marker is only ever added under that lock).
    const evidence = tally.rows(account, plan.postedDates, job.runId, deps.now(), readAt);
    await deps.db.transaction().execute(async (trx) => {
      await upsertBankDayFetches(trx, evidence);
      if ('startDate' in query) {
        await endPostedWalks(trx, { accountId: account.id, readAt });
      }
    });
    await resolveRejectsOfCompleteWalk(deps.db, account, plan.postedDates, job.runId, fenceOf(job));
  }

  let balanceDays: ReadonlySet<IsoDate> | undefined;
  let balancesReadAt: string | undefined;
  if (job.kinds.includes('balances') && !('empty' in plan.balances)) {
    const b = await syncBalances(deps, job, row, account, plan.balances);
    add(counts, b.counts);
    balanceDays = b.days;
    balancesReadAt = b.readAt;
  }
  if (job.mode === 'intraday') {
    add(
      counts,
      await reconcileCurrentDay(
        { db: deps.db, now: deps.now(), client, row, account, runId: job.runId, log, beforeWrite: fenceOf(job) },
        snapshot,
        balanceDays,
        notes,
        walk,
      ),
    );
  } else if (balanceDays && balancesReadAt && plan.postedDates.length > 0) {
    // Not fenced: a window that lost its account lock asked for its balances before the lock's new holder began
    // reading, so it states no day that holder walked anew (the day's walk is newer than its answer).
    notes.warnings.push(
      ...(await classifyPostedDays(deps.db, account, plan.postedDates, { days: balanceDays, readAt: balancesReadAt })),
    );
  }
  if (job.runId && (notes.warnings.length > 0 || notes.bankBusinessDay || notes.window)) {
    await noteRun(deps.db, job.runId, notes);
  }
  await touchAccountSynced(deps.db, row.id, deps.now());
  if (deps.onPostedDays && plan.postedDates.length > 0) {
    await deps
      .onPostedDays(row.id, plan.postedDates)
      .catch((err: unknown) => log.warn({ err }, 'posted-days hook failed'));
  }
  log.debug({ counts, warnings: notes.warnings.map((w) => w.code) }, 'window synced');
  return counts;
}

async function walkTransactions(
  deps: SyncDeps,
  client: BankClient,
  row: AccountRow,
  account: AccountRef,
  job: WindowJob,
  query: Exclude<TransactionQuery, { empty: true }>,
  counts: SyncCounts,
  tally: PostedDayTally,
  snapshot: IntradayWalk | undefined,
  unreadable: { dates: Set<IsoDate>; undated: boolean },
  readAt: string,
): Promise<void> {
  const occurrences = new OccurrenceCounter();
  // A walk of posted days marks them with its first page, under the account's write lock, until its days' evidence is
  // written (`posted_day_walks`): an interim statement import would otherwise see rows of a day the walk stored in
  // full, with nothing yet saying so, and write its items beside them.
  let marked = !('startDate' in query);
  const beforeWrite = async (trx: Executor) => {
    await fenceOf(job)?.(trx);
    if (!marked && 'startDate' in query) {
      await markPostedWalk(trx, {
        accountId: account.id,
        readAt,
        from: query.startDate,
        to: query.endDate,
        runId: job.runId,
      });
    }
  };
  // Rows earlier pages of the walk took: id-less look-alikes of a day may span two pages (ingest.ts).
  const claims: WalkClaims = new Set();
  // Records that would re-identify a row whose id a later page of the walk may still send (ingest.ts).
  const held: HeldRecords = [];
  let walk: number | undefined;
  let slice: number | undefined;
  // A confirming walk of the current day (intraday.ts) numbers its walks after the ones already collected.
  const base = snapshot?.walk.lastWalk ?? 0;
  for await (const { page: bankPage, before } of clockedPages(
    deps.db,
    client.transactionPages({ ...query, accounts: [{ accountId: row.jpm_account_id, bankId: row.bank_id }] }),
    readAt,
  )) {
    const page = base === 0 ? bankPage : { ...bankPage, walk: base + bankPage.walk };
    if (page.walk !== walk) {
      // A new walk: occurrence numbers and claims count from its start again. After the client moved to the next
      // sub-range, the finished walk's held records are stored (every id it sent is known). After a restart (the data
      // shifted) they are dropped: the stopped walk never reached the pages that may send the ids of the rows they
      // would take, and the new walk sends them again from page 1.
      if (page.slice === slice) {
        held.length = 0;
      } else {
        add(counts, await storeHeldRecords(deps.db, account, held, job.runId, claims, undefined, fenceOf(job)));
      }
      occurrences.reset();
      claims.clear();
      walk = page.walk;
      slice = page.slice;
      if (snapshot) {
        // A restarted walk re-reads the whole snapshot: what earlier walks wrote is older than it.
        snapshot.walkClock.set(page.walk, snapshot.walkClock.size === 0 ? snapshot.firstClock : before);
      }
    }
    const ours = page.records.filter((r) => r.account.accountId === row.jpm_account_id);
    const normalized = normalizeTransactions(ours, occurrences, 0, {
      requested: requestedView(query),
      account: { currency: row.currency, decimalLocation: row.decimal_location },
    });
    const pageRejects = page.rejects.map((r) => ({ index: r.index, reason: r.reason, raw: r.raw }));
    snapshot?.walk.add(
      page.walk,
      {
        pageNumber: page.pageNumber,
        totalPages: page.totalPages,
        totalRecords: page.totalRecords,
        fetched: page.records.length + page.rejects.length,
      },
      normalized.records,
      [...pageRejects.filter((r) => rejectOfAccount(r.raw, row.jpm_account_id)), ...normalized.rejects],
      [
        ...page.records.filter((r) => r.account.accountId !== row.jpm_account_id).map((r) => r as unknown),
        ...pageRejects.filter((r) => !rejectOfAccount(r.raw, row.jpm_account_id)).map((r) => r.raw),
      ].map(otherItemKey),
    );
    const rejects = [
      ...pageRejects,
      ...page.records
        .filter((r) => r.account.accountId !== row.jpm_account_id)
        .map((r) => ({
          index: pageIndexOf(r) ?? -1,
          reason: `record of another account (****${r.account.accountId.slice(-4)}) in this account's response`,
          raw: r,
        })),
      ...normalized.rejects,
    ];
    noteUnreadable(unreadable, [
      ...pageRejects.filter((x) => rejectOfAccount(x.raw, row.jpm_account_id)).map((x) => x.raw),
      ...normalized.rejects.map((x) => x.raw),
    ]);
    const landed: LandedOn = new Map();
    add(
      counts,
      await ingestTransactionPage(
        deps.db,
        account,
        { records: normalized.records, rejects, fetched: page.records.length + page.rejects.length },
        job.runId,
        claims,
        landed,
        held,
        beforeWrite,
      ),
    );
    marked = true;
    // A record without the bank's id that confirmed another channel's row with a field left out counts as
    // that row's look-alike (as in import-batch.ts), so the bank's reported look-alikes are the rows stored.
    tally.add(
      { walk: page.walk, slice: page.slice, readAt: before },
      normalized.records.map((r) => {
        const key = landed.get(r);
        return key === undefined ? r : { ...r, fingerprintKey: key };
      }),
    );
  }
  // The walk's ids are all known. A walk that threw stores none of its held records: the run fails and is retried.
  add(counts, await storeHeldRecords(deps.db, account, held, job.runId, claims, undefined, fenceOf(job)));
}

/**
 * Each page of `pages` with the database clock noted before it was asked for (`first`, noted by the caller, for the
 * first): when a page begins a walk (the data shifted and the client walks again, or the next sub-range), the clock
 * before it is the walk's start, by which the walk's reading is dated. The pages are asked for one at a time, only
 * once the consumer wants the next, so the clock is read after the previous page was stored.
 */
async function* clockedPages<T>(
  db: SyncDeps['db'],
  pages: AsyncIterable<T>,
  first: string,
): AsyncGenerator<{ page: T; before: string }> {
  let before = first;
  for await (const page of pages) {
    yield { page, before };
    before = await databaseClock(db);
  }
}

/** A record or reject of another account, as the current-day snapshot counts it: its account and id. */
function otherItemKey(raw: unknown): string | undefined {
  const r =
    typeof raw === 'object' && raw !== null
      ? (raw as { account?: { accountId?: unknown }; transactionId?: unknown })
      : {};
  return hasBankId(r.transactionId) ? `${String(r.account?.accountId)} ${r.transactionId}` : undefined;
}

/** A wire reject belongs to the account unless it names another one. */
function rejectOfAccount(raw: unknown, jpmAccountId: string): boolean {
  const acct =
    typeof raw === 'object' && raw !== null
      ? (raw as { account?: { accountId?: unknown } }).account?.accountId
      : undefined;
  return typeof acct !== 'string' || acct === jpmAccountId;
}

async function syncBalances(
  deps: SyncDeps,
  job: WindowJob,
  row: { integration_id: string; jpm_account_id: string; bank_id: string; currency: string; decimal_location: number },
  account: AccountRef,
  query: Exclude<BalanceQuery, { empty: true }>,
): Promise<{ counts: Partial<SyncCounts>; days: ReadonlySet<IsoDate>; readAt: string }> {
  const client = withSignal(await deps.clientFor(row.integration_id), job.signal);
  // Noted before the request: a day walked after it was read by someone who may know more (`classifyPostedDays`).
  const readAt = await databaseClock(deps.db);
  const response = await client.getBalances({
    ...query,
    accounts: [{ accountId: row.jpm_account_id, bankId: row.bank_id }],
  });
  const ours = response.accounts.filter((a) => a.accountId === row.jpm_account_id);
  // The business days the bank answered with a balance: its calendar (see business-calendar.ts).
  const days = new Set(
    ours
      .flatMap((a) => (a.errorCode ? [] : (a.balanceList ?? []).map((b) => b.asOfDate)))
      .filter((d): d is string => typeof d === 'string' && isIsoDate(d)),
  );
  const normalized = normalizeBalances(ours);
  const { accountErrors } = normalized;
  // The account's proofs count in its own currency and scale: a balance the bank gave in another (one window of a
  // long range answering with another code or decimal location) is a reject naming the mismatch, never stored.
  const balances = normalized.balances.filter(
    (b) => b.currency === row.currency && b.decimalLocation === row.decimal_location,
  );
  const rejects = [
    ...normalized.rejects,
    ...normalized.balances
      .filter((b) => !balances.includes(b))
      .map((b) => ({
        jpmAccountId: b.jpmAccountId,
        reason:
          `currency: the answer gives this balance in ${b.currency} with ${b.decimalLocation} decimal places, ` +
          `the account is in ${row.currency} with ${row.decimal_location}; its amounts cannot be stored as the account's`,
        raw: b.raw,
      })),
  ];
  for (const e of accountErrors) {
    // A code that means "try later" (GCA-099 System is Unavailable) is the bank's outage for this account, whether it
    // comes for the whole request or in the account's entry: retryable, never the account's permanent failure.
    if (RETRYABLE_BANK_ERROR_CODES.has(e.errorCode)) {
      throw new JpmUnavailableError(
        `J.P. Morgan is unavailable for the balances of account ****${e.jpmAccountId.slice(-4)}: ${e.errorCode} ${e.errorMsg}`,
        'jpm_unavailable',
        { bankErrorCode: e.errorCode, endpoint: 'POST /accessapi/balance' },
      );
    }
    // GCA-024 "no transaction was found … on the requested day" is an answer (no data), not a failure.
    if (e.errorCode !== 'GCA-024') {
      throw new UpstreamRejectedError(
        `J.P. Morgan refused balances for account ****${e.jpmAccountId.slice(-4)}: ${e.errorCode} ${e.errorMsg}`,
        'jpm_account_error',
        { details: { bankErrorCode: e.errorCode } },
      );
    }
  }
  const counts = await deps.db.transaction().execute(async (trx) => {
    await lockAccountForWrite(trx, account.id);
    await fenceOf(job)?.(trx);
    const existing = await balanceHashes(
      trx,
      account.id,
      balances.map((b) => b.asOfDate),
    );
    // A row stored before balance hashes read the raw record by meaning holds the former hash: the same text again
    // is unchanged too.
    const changed = balances.filter((b) => {
      const hash = existing.get(`${b.asOfDate}|${b.kind}`)?.hash;
      return hash !== b.contentHash && (b.formerContentHash === undefined || hash !== b.formerContentHash);
    });
    const written = await upsertBalances(
      trx,
      changed.map((b) => balanceRow(account, b, existing.get(`${b.asOfDate}|${b.kind}`)?.id)),
    );
    // A bad balance the bank sends again spelled another way is its open reject seen again (reject-respellings.ts).
    await insertRejects(
      trx,
      await withRespelledRejectHashes(
        trx,
        account.id,
        'balance',
        rejects.map((r) => ({
          organization_id: account.organizationId,
          account_id: account.id,
          sync_run_id: job.runId,
          record_type: 'balance' as const,
          reason: r.reason,
          raw: r.raw,
          record_hash: rejectHash('balance', r.raw),
        })),
        BALANCE_NUMBERS,
      ),
    );
    const c: Partial<SyncCounts> = { balances: written.length, rejected: rejects.length };
    if (job.runId) {
      await countOnRun(trx, job.runId, c);
    }
    return c;
  });
  return { counts, days, readAt };
}
