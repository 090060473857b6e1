import type { SyncCounts, SyncMode } from '../domain/types.ts';
import { ZERO_COUNTS } from '../domain/types.ts';
import { OccurrenceCounter } from '../normalization/identity.ts';
import { normalizeBalances } from '../normalization/balances.ts';
import { normalizeTransactions } from '../normalization/transactions.ts';
import { NotFoundError, UpstreamRejectedError } from '../shared/errors.ts';
import { uuidv7 } from '../shared/ids.ts';
import type { Logger } from '../shared/logger.ts';
import { addDays, diffDays, eachDay, localDate, type IsoDate } from '../shared/time.ts';
import { getAccount, touchAccountSynced } from '../storage/accounts.repo.ts';
import { balanceHashes, upsertBalances } from '../storage/balances.repo.ts';
import type { Database } from '../storage/db.ts';
import { upsertBankDayFetches } from '../storage/bank-day-fetches.repo.ts';
import { addRunCounts } from '../storage/sync-runs.repo.ts';
import { insertRejects } from '../storage/transactions.repo.ts';
import type { BankClient, BalanceQuery, TransactionQuery } from './bank-client.ts';
import { PostedDayTally } from './day-tally.ts';
import { ingestTransactionPage, type AccountRef } from './ingest.ts';
import { resolvePending } from './supersede.ts';

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

interface Plan {
  transactions: TransactionQuery;
  balances: BalanceQuery;
  /** Business days whose posted (prior-day) data this window fetches in full. */
  postedDates: IsoDate[];
}

/**
 * What to ask the bank for. "Today" is the account's business day in its own time zone, never the
 * machine's. History never includes today: the current day is only ever a snapshot (intraday mode).
 */
export function planWindow(job: WindowJob, today: IsoDate, lookbackDays: number): Plan {
  if (job.mode === 'intraday') {
    return { transactions: { relativeDateType: 'CURRENT_DAY' }, balances: { relativeDateType: 'CURRENT_DAY' }, postedDates: [] };
  }
  const yesterday = addDays(today, -1);
  let from: IsoDate;
  let to: IsoDate;
  if (job.mode === 'prior_day') {
    from = addDays(yesterday, -lookbackDays);
    to = yesterday;
  } else {
    if (!job.from || !job.to) {
      throw new Error('range window needs from and to');
    }
    from = job.from;
    // A range never reaches today: clip its end to yesterday (today is only ever a snapshot).
    to = diffDays(job.to, yesterday) < 0 ? yesterday : job.to;
  }
  if (diffDays(from, to) < 0) {
    // The whole range is today or later: nothing final exists yet.
    return { transactions: { empty: true }, balances: { empty: true }, postedDates: [] };
  }
  return { transactions: { startDate: from, endDate: to }, balances: { startDate: from, endDate: to }, postedDates: eachDay(from, to) };
}

function add(total: SyncCounts, c: Partial<SyncCounts>): void {
  for (const k of Object.keys(c) as (keyof SyncCounts)[]) {
    total[k] += c[k] ?? 0;
  }
}

/**
 * Syncs one account for one window: fetch page → normalize → write page and progress in one
 * transaction → next page; then resolve pending items of fully-fetched days; then balances.
 * No database transaction is open while a bank request is in flight. Safe to re-run at any point
 * (every write is idempotent), which is what retries and crash recovery rely on.
 */
export async function syncAccountWindow(deps: SyncDeps, job: WindowJob): Promise<SyncCounts> {
  const row = await getAccount(deps.db, job.accountId);
  if (!row) {
    throw new NotFoundError('account', job.accountId, 'account_not_found');
  }
  const account: AccountRef = { id: row.id, organizationId: row.organization_id };
  const client = await deps.clientFor(row.integration_id);
  const plan = planWindow(job, localDate(deps.now(), row.time_zone), deps.lookbackDays);
  const counts: SyncCounts = { ...ZERO_COUNTS };
  const log = deps.logger.child({ accountId: row.id, runId: job.runId, mode: job.mode });

  if (job.kinds.includes('transactions') && !('empty' in plan.transactions)) {
    const occurrences = new OccurrenceCounter();
    const tally = new PostedDayTally();
    let walk: number | undefined;
    for await (const page of client.transactionPages({ ...plan.transactions, accounts: [{ accountId: row.jpm_account_id, bankId: row.bank_id }] })) {
      if (page.walk !== walk) {
        // A new walk (the client restarted because the data shifted, or moved to the next sub-range):
        // occurrence numbers count from the start of the walk again.
        occurrences.reset();
        walk = page.walk;
      }
      const ours = page.records.filter((r) => r.account.accountId === row.jpm_account_id);
      const normalized = normalizeTransactions(ours, occurrences);
      tally.add(page.walk, page.pageNumber, page.totalPages, normalized.records);
      const rejects = [
        ...page.rejects.map((r) => ({ index: r.index, reason: r.reason, raw: r.raw })),
        ...page.records.filter((r) => r.account.accountId !== row.jpm_account_id).map((r) => ({ index: -1, reason: `record of another account (****${r.account.accountId.slice(-4)}) in this account's response`, raw: r })),
        ...normalized.rejects,
      ];
      add(counts, await ingestTransactionPage(deps.db, account, { records: normalized.records, rejects, fetched: page.records.length + page.rejects.length }, job.runId));
    }
    add(counts, await resolvePending(deps.db, account, plan.postedDates, job.runId));
    // What the bank reported per fetched day: validation's evidence for coverage and duplicates.
    await upsertBankDayFetches(deps.db, tally.rows(account, plan.postedDates, job.runId, deps.now()));
  }

  if (job.kinds.includes('balances') && !('empty' in plan.balances)) {
    add(counts, await syncBalances(deps, job, row, account, plan.balances));
  }
  await touchAccountSynced(deps.db, row.id, deps.now());
  if (deps.onPostedDays && plan.postedDates.length > 0) {
    await deps.onPostedDays(row.id, plan.postedDates).catch((err: unknown) => log.warn({ err }, 'posted-days hook failed'));
  }
  log.debug({ counts }, 'window synced');
  return counts;
}

async function syncBalances(
  deps: SyncDeps, job: WindowJob, row: { integration_id: string; jpm_account_id: string; bank_id: string }, account: AccountRef, query: Exclude<BalanceQuery, { empty: true }>,
): Promise<Partial<SyncCounts>> {
  const client = await deps.clientFor(row.integration_id);
  const response = await client.getBalances({ ...query, accounts: [{ accountId: row.jpm_account_id, bankId: row.bank_id }] });
  const ours = response.accounts.filter((a) => a.accountId === row.jpm_account_id);
  const { balances, rejects, accountErrors } = normalizeBalances(ours);
  for (const e of accountErrors) {
    // GCA-024 "no transaction was found … on the requested day" is an answer (no data), not a failure.
    if (e.errorCode !== 'GCA-024') {
      throw new UpstreamRejectedError(`J.P. Morgan refused balances for account ****${e.jpmAccountId.slice(-4)}: ${e.errorCode} ${e.errorMsg}`, 'jpm_account_error', { details: { bankErrorCode: e.errorCode } });
    }
  }
  return deps.db.transaction().execute(async (trx) => {
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
}
