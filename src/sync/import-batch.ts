import type { RecordSource, SyncCounts, SyncTrigger } from '../domain/types.ts';
import { ZERO_COUNTS } from '../domain/types.ts';
import type { NormalizedBalance } from '../normalization/balances.ts';
import {
  accountCurrencyProblem,
  type AccountCurrency,
  type NormalizationReject,
  type NormalizedTransaction,
} from '../normalization/transactions.ts';
import type { Logger } from '../shared/logger.ts';
import type { IsoDate } from '../shared/time.ts';
import { getAccount } from '../storage/accounts.repo.ts';
import { bankDayFetchesOn, upsertBankDayFetches } from '../storage/bank-day-fetches.repo.ts';
import { balancesOn, upsertBalances, type BalanceRow, type StoredBalance } from '../storage/balances.repo.ts';
import { databaseClock } from '../storage/intraday.repo.ts';
import { endPostedWalks, markPostedWalk } from '../storage/posted-day-walks.repo.ts';
import { insertRejects, openRejectDates } from '../storage/transactions.repo.ts';
import type { Database, Executor } from '../storage/db.ts';
import { AppError, NotFoundError } from '../shared/errors.ts';
import { balanceRow } from './balance-rows.ts';
import { PostedDayTally } from './day-tally.ts';
import {
  ingestTransactionPage,
  storeHeldRecords,
  type AccountRef,
  type HeldRecords,
  type LandedOn,
  type WalkClaims,
} from './ingest.ts';
import { noteUnreadable, resolvePending } from './supersede.ts';
import { countOnRun, finishStandaloneRun, startStandaloneRun } from './sync-run.ts';

/**
 * The source port: one account's normalized records and balances from any channel, ready for
 * ingestion. A statement file's adapter (src/statements) produces it; the J.P. Morgan API's walk
 * feeds the same `ingestTransactionPage` page by page. Nothing here depends on which channel it was:
 * `source` is only written down with what is stored.
 */
export interface SourceBatch {
  source: RecordSource;
  records: readonly NormalizedTransaction[];
  rejects: readonly NormalizationReject[];
  balances: readonly NormalizedBalance[];
  /** Balance entries that could not be read (stored as balance rejects, as an API window's are). */
  balanceRejects: readonly NormalizationReject[];
  /** Days whose posted items the batch holds in full (the proof may count them as fetched). */
  postedDates: readonly IsoDate[];
  /**
   * Days whose posted items the batch holds only in part (an interim report): stored, but never taken as the
   * day's complete report (no pending item of them resolved or removed, no fetch evidence written).
   */
  interimDates: readonly IsoDate[];
  intradayDates: readonly IsoDate[];
}

export interface ImportDeps {
  db: Database;
  now(): Date;
  logger: Logger;
  /** As for a sync window: validation recomputes the proofs of the days stored (wired in main/). */
  onPostedDays?: (accountId: string, dates: readonly IsoDate[]) => Promise<void>;
}

export interface ImportResult {
  runId: string;
  counts: SyncCounts;
  status: 'succeeded' | 'partial';
}

const PAGE = 1_000;

/**
 * Whether a balance confirms the stored one: every amount it reports equals the stored amount. An
 * amount it leaves out (a file with ledger figures only) says nothing either way (see `keepLeftOut`).
 */
function confirmsAmounts(b: NormalizedBalance, stored: StoredBalance): boolean {
  const same = (v: bigint | null, s: string | null) => v === null || v.toString() === s;
  return (
    same(b.openingLedgerMinor, stored.opening_ledger_minor) &&
    same(b.openingAvailableMinor, stored.opening_available_minor) &&
    same(b.endingLedgerMinor, stored.ending_ledger_minor) &&
    same(b.endingAvailableMinor, stored.ending_available_minor)
  );
}

/**
 * Stores a batch as a sync run of its own (mode `range` over its posted days, or `intraday`): records
 * through the same identity and page writes as an API walk, then pending items of its posted days
 * resolved, the per-day evidence the proof reads, and balances. Every write is idempotent and skips
 * what is already there: a batch stored again changes no data row (only its own run is recorded).
 * A balance whose amounts equal the stored ones is not rewritten, whichever channel reported it.
 */
export async function importBatch(
  deps: ImportDeps,
  input: {
    accountId: string;
    trigger: SyncTrigger;
    batch: SourceBatch;
    onProgress?: (stored: number, total: number) => void;
    /**
     * A check of what the account holds, run under the account's write lock in the transaction of the batch's first
     * page, before that page writes: no other writer of the account (an API sync's page) can store anything between
     * the check and the write. The records of `dates` all go into that first page, so a check about those days that
     * throws refuses the batch before any of its records is stored.
     */
    firstPage?: { dates: readonly IsoDate[]; check: (ex: Executor) => Promise<void> };
  },
): Promise<ImportResult> {
  const row = await getAccount(deps.db, input.accountId);
  if (!row) {
    throw new NotFoundError('account', input.accountId, 'account_not_found');
  }
  const account: AccountRef = { id: row.id, organizationId: row.organization_id };
  const batch = inAccountCurrency(input.batch, { currency: row.currency, decimalLocation: row.decimal_location });
  const posted = [...batch.postedDates].sort();
  const reported = [...new Set([...posted, ...batch.interimDates])].sort();
  const intradayOnly = batch.intradayDates.filter((d) => !posted.includes(d));
  const dates = reported.length > 0 ? reported : [...batch.intradayDates].sort();
  const runId = await startStandaloneRun(deps.db, {
    organizationId: row.organization_id,
    integrationId: row.integration_id,
    accountId: row.id,
    trigger: input.trigger,
    mode: reported.length > 0 ? 'range' : 'intraday',
    windowFrom: dates[0] ?? null,
    windowTo: dates.at(-1) ?? null,
    source: batch.source,
  });
  const log = deps.logger.child({ accountId: row.id, runId, source: batch.source });
  const counts: SyncCounts = { ...ZERO_COUNTS };
  const add = (c: Partial<SyncCounts>) => {
    for (const k of Object.keys(c) as (keyof SyncCounts)[]) {
      counts[k] += c[k] ?? 0;
    }
  };
  try {
    // The file's day counts are a reading of the bank as of now: a walk of those days that began earlier is older.
    const readAt = await databaseClock(deps.db);
    // The batch is one walk: identical items of a day may fall on two pages (ingest.ts, WalkClaims).
    const claims: WalkClaims = new Set();
    const held: HeldRecords = [];
    const landed: LandedOn = new Map();
    // The batch's complete days are marked with its first page, under the account's write lock, until their evidence is
    // written (`posted_day_walks`, as an API walk marks its days): an interim statement import would otherwise see rows
    // of a day this batch stored in full, with nothing yet saying so, and write its items beside them.
    const firstCheck = async (ex: Executor) => {
      await input.firstPage?.check(ex);
      if (posted.length > 0) {
        await markPostedWalk(ex, {
          accountId: account.id,
          readAt,
          from: posted[0]!,
          to: posted.at(-1)!,
          days: posted,
          runId,
        });
      }
    };
    // The first page's days first (each day's records keep their order, which is all their identity depends on).
    const leadDates = new Set<string>(input.firstPage?.dates ?? []);
    const lead = batch.records.filter((r) => leadDates.has(r.bookingDate));
    const ordered =
      lead.length === 0 ? batch.records : [...lead, ...batch.records.filter((r) => !leadDates.has(r.bookingDate))];
    for (let i = 0; i < Math.max(ordered.length, 1);) {
      const size = i === 0 ? Math.max(PAGE, lead.length) : PAGE;
      const records = ordered.slice(i, i + size);
      const rejects = i === 0 ? [...batch.rejects] : [];
      if (records.length === 0 && rejects.length === 0) {
        break;
      }
      add(
        await ingestTransactionPage(
          deps.db,
          account,
          { records, rejects, fetched: records.length + rejects.length },
          runId,
          claims,
          landed,
          held,
          i === 0 ? firstCheck : undefined,
        ),
      );
      input.onProgress?.(i + records.length, ordered.length);
      i += size;
    }
    add(await storeHeldRecords(deps.db, account, held, runId, claims, landed));
    // A record that confirmed another channel's row with a field left out counts as that row's look-alike.
    const tally = new PostedDayTally();
    tally.add(
      { walk: 1, slice: 0, readAt },
      batch.records.map((r) => {
        const key = landed.get(r);
        return key === undefined ? r : { ...r, fingerprintKey: key };
      }),
    );
    // resolvePending counts on the run itself. A day of the file holding an unreadable record removes nothing.
    const unreadable = { dates: new Set<IsoDate>(), undated: false };
    noteUnreadable(
      unreadable,
      batch.rejects.map((r) => r.raw),
    );
    add(await resolvePending(deps.db, account, posted, runId, unreadable));
    // Pending items of a day whose complete report is stored already (its fetch evidence: a final report or a complete
    // walk came first) are resolved against it now, as they would have been had they come first: otherwise a pending
    // item would stay live beside its posted row, or pending for ever on a closed day. A day of which the account holds
    // an unreadable record of the bank's removes nothing. (A day being stored at this moment refuses the batch: the
    // caller's first page check.)
    const closed = [...(await bankDayFetchesOn(deps.db, account.id, intradayOnly)).keys()].sort();
    if (closed.length > 0) {
      const open = await openRejectDates(deps.db, account.id, closed);
      add(
        await resolvePending(deps.db, account, closed, runId, {
          dates: new Set([...unreadable.dates, ...open.dates]),
          undated: unreadable.undated || open.undated,
        }),
      );
    }
    // The file is the bank's complete report of these days: the same evidence a complete walk leaves.
    const evidence = await bankDayFetchesOn(deps.db, account.id, posted);
    const fetchRows = tally.rows(account, posted, runId, deps.now(), readAt).filter((r) => {
      const s = evidence.get(r.booking_date);
      return (
        !s ||
        s.record_count !== r.record_count ||
        s.credits_minor !== r.credits_minor ||
        s.debits_minor !== r.debits_minor ||
        JSON.stringify(s.repeated_fingerprints) !== JSON.stringify(r.repeated_fingerprints)
      );
    });
    // Committed with the end of the batch's marker: an interim import under the account's write lock that reads the
    // marker, then the evidence, sees the days by the one or the other, never neither.
    await deps.db.transaction().execute(async (trx) => {
      await upsertBankDayFetches(trx, fetchRows);
      if (posted.length > 0) {
        await endPostedWalks(trx, { accountId: account.id, readAt });
      }
    });
    add(await storeBalances(deps.db, account, batch, runId));
    const status = counts.rejected > 0 ? 'partial' : 'succeeded';
    await finishStandaloneRun(
      deps.db,
      runId,
      status,
      status === 'partial'
        ? { code: 'records_rejected', message: `${counts.rejected} record(s) of the file could not be stored` }
        : undefined,
    );
    // A batch that changed nothing leaves the proofs as they stand (recomputing would only restamp their evidence).
    const changed =
      counts.inserted +
        counts.updated +
        counts.superseded +
        counts.removed +
        counts.balances +
        counts.rejected +
        fetchRows.length >
      0;
    if (deps.onPostedDays && reported.length > 0 && changed) {
      await deps.onPostedDays(row.id, reported).catch((err: unknown) => log.warn({ err }, 'posted-days hook failed'));
    }
    log.info({ counts }, 'statement imported');
    return { runId, counts, status };
  } catch (err) {
    await finishStandaloneRun(
      deps.db,
      runId,
      'failed',
      // The first page's check refused the batch: nothing of it was stored, and importing it again is refused again.
      err instanceof AppError && err.httpStatus < 500 && counts.fetched === 0
        ? { code: err.code, message: err.message }
        : { code: 'import_failed', message: 'the import stopped part-way; importing the same file again completes it' },
    );
    throw err;
  }
}

/**
 * A file's balance that disagrees with the stored one replaces the amounts it carries; an amount it leaves out
 * (a BAI2 file with ledger figures only) keeps the stored value, never blanked. The row then states the file's
 * channel and raw record, as any replaced balance does.
 */
function keepLeftOut(row: BalanceRow, stored: StoredBalance | undefined): BalanceRow {
  if (!stored) {
    return row;
  }
  return {
    ...row,
    opening_ledger_minor: row.opening_ledger_minor ?? stored.opening_ledger_minor,
    opening_available_minor: row.opening_available_minor ?? stored.opening_available_minor,
    ending_ledger_minor: row.ending_ledger_minor ?? stored.ending_ledger_minor,
    ending_available_minor: row.ending_available_minor ?? stored.ending_available_minor,
  };
}

/**
 * The batch with every record and balance in another currency or scale than the account's turned into a reject naming
 * both (`accountCurrencyProblem`), as the API's walk does: the account's proofs count in its own scale, so none is
 * stored and summed as the account's. A record's reject keeps its place (the file's line) and its booking date, so its
 * day is unproved as `rejected_record`.
 */
function inAccountCurrency(batch: SourceBatch, account: AccountCurrency): SourceBatch {
  const foreign = new Map<NormalizedTransaction, string>();
  for (const r of batch.records) {
    const problem = accountCurrencyProblem(r, account);
    if (problem !== undefined) {
      foreign.set(r, problem);
    }
  }
  const foreignBalances = batch.balances.flatMap((b) => {
    const problem = accountCurrencyProblem(b, account);
    return problem === undefined ? [] : [{ b, problem }];
  });
  if (foreign.size === 0 && foreignBalances.length === 0) {
    return batch;
  }
  return {
    ...batch,
    records: batch.records.filter((r) => !foreign.has(r)),
    rejects: [
      ...batch.rejects,
      ...[...foreign].map(([r, reason]) => ({
        index: lineOf(r.raw) ?? 0,
        reason,
        raw: r.raw,
        fields: ['currency'],
      })),
    ],
    balances: batch.balances.filter((b) => !foreignBalances.some((f) => f.b === b)),
    balanceRejects: [
      ...batch.balanceRejects,
      ...foreignBalances.map(({ b, problem }) => ({ index: -1, reason: problem, raw: b.raw, fields: ['currency'] })),
    ],
  };
}

/** The statement line a record came from, when its channel names one. */
function lineOf(raw: unknown): number | undefined {
  const line = (raw as { statement?: { line?: unknown } } | null)?.statement?.line;
  return typeof line === 'number' && line >= 0 ? line : undefined;
}

async function storeBalances(
  db: Database,
  account: AccountRef,
  batch: SourceBatch,
  runId: string,
): Promise<Partial<SyncCounts>> {
  if (batch.balances.length === 0 && batch.balanceRejects.length === 0) {
    return {};
  }
  return db.transaction().execute(async (trx) => {
    const stored = await balancesOn(
      trx,
      account.id,
      batch.balances.map((b) => b.asOfDate),
    );
    const changed = batch.balances.filter((b) => {
      const s = stored.get(`${b.asOfDate}|${b.kind}`);
      return (
        !s || (s.content_hash !== b.contentHash && s.content_hash !== b.formerContentHash && !confirmsAmounts(b, s))
      );
    });
    const written = await upsertBalances(
      trx,
      changed.map((b) =>
        keepLeftOut(
          balanceRow(account, b, stored.get(`${b.asOfDate}|${b.kind}`)?.id),
          stored.get(`${b.asOfDate}|${b.kind}`),
        ),
      ),
    );
    await insertRejects(
      trx,
      batch.balanceRejects.map((r) => ({
        organization_id: account.organizationId,
        account_id: account.id,
        sync_run_id: runId,
        record_type: 'balance' as const,
        reason: r.reason,
        raw: r.raw,
      })),
    );
    const c: Partial<SyncCounts> = { balances: written.length, rejected: batch.balanceRejects.length };
    if (written.length + batch.balanceRejects.length > 0) {
      await countOnRun(trx, runId, c);
    }
    return c;
  });
}
