import type { SyncCounts } from '../domain/types.ts';
import { contentHash, isIdentityId } from '../normalization/identity.ts';
import type { NormalizedTransaction, NormalizationReject, RequestedView } from '../normalization/transactions.ts';
import { uuidv7 } from '../shared/ids.ts';
import { isIsoDate } from '../shared/time.ts';
import type { Database, Executor } from '../storage/db.ts';
import type { TransactionQuery } from './bank-client.ts';
import { addRunCounts } from '../storage/sync-runs.repo.ts';
import {
  findForMatching, insertChangeEvents, insertDecisions, insertRejects, insertTransactions, lockAccountForWrite, resolveRejectsNotSentAgain, resolveRejectsStored,
  updateTransactions, type DecisionRow, type ExistingTransaction, type RejectRow, type TransactionRow, type TransactionUpdate,
} from '../storage/transactions.repo.ts';

export interface AccountRef {
  id: string;
  organizationId: string;
}

type Column = Omit<TransactionRow, 'id' | 'organization_id' | 'account_id' | 'status'>;

function columns(t: NormalizedTransaction): Column {
  return {
    direction: t.direction,
    amount_minor: t.amountMinor.toString(),
    currency: t.currency,
    decimal_location: t.decimalLocation,
    booking_date: t.bookingDate,
    value_date: t.valueDate,
    bai_type_code: t.baiTypeCode,
    bai_summary_code: t.baiSummaryCode,
    bank_reference: t.bankReference,
    customer_reference: t.customerReference,
    description: t.description,
    jpm_transaction_id: t.jpmTransactionId,
    post_code: t.recordClass,
    fingerprint_key: t.fingerprintKey,
    content_hash: t.contentHash,
    raw: t.raw,
    narrative: t.narrative,
    data_quality: t.dataQuality,
  };
}

/** The id key of a record or row for matching, or undefined when its id is no key (`isIdentityId`). */
function idKey(postCode: string, jpmTransactionId: string): string | undefined {
  return isIdentityId(jpmTransactionId) ? `${postCode}|${jpmTransactionId}` : undefined;
}

function member(value: unknown, key: string): unknown {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>)[key] : undefined;
}

/**
 * A reject as stored: named by what can be read of it (transactionId, booking date, record class) and
 * identified by a hash of the record, so the same bad record fetched again is the same open reject.
 */
export function rejectRow(account: AccountRef, r: NormalizationReject, runId: string | null): RejectRow {
  const id = member(r.raw, 'transactionId');
  const date = member(r.raw, 'asOfDate');
  const postCode = member(r.raw, 'postCode');
  return {
    organization_id: account.organizationId, account_id: account.id, sync_run_id: runId, record_type: 'transaction', reason: r.reason, raw: r.raw,
    record_hash: contentHash(['transaction', r.raw ?? null]),
    record_index: r.index,
    jpm_transaction_id: typeof id === 'string' && id !== '' ? id : null,
    booking_date: typeof date === 'string' && isIsoDate(date) ? date : null,
    record_class: postCode === 'I' || postCode === 'P' ? postCode : null,
    fields: r.fields ?? fieldsOf(r.reason),
  };
}

/** The paths a reason names (`path: problem; path: problem`, as jpm/records.ts writes them). */
function fieldsOf(reason: string): string[] {
  return reason.split('; ').flatMap((part) => {
    const at = part.indexOf(': ');
    return at > 0 ? [part.slice(0, at)] : [];
  });
}

/** What a query asked the bank for: it decides the class of a record whose postCode is missing or odd. */
export function requestedView(query: Exclude<TransactionQuery, { empty: true }>): RequestedView {
  if ('relativeDateType' in query) {
    return query.relativeDateType === 'CURRENT_DAY' ? 'current_day' : 'prior_day';
  }
  return 'history';
}

/**
 * Called after a complete walk of the bank's posted data for `dates` (the walk ended without error):
 * open rejects of those dates that this run did not see again are resolved, since the bank no longer
 * sends them. Bad records seen again stay open (their row now names this run). Without a run id (a
 * direct call), nothing can tell "seen again" apart, so nothing is resolved.
 */
export async function resolveRejectsOfCompleteWalk(db: Database, account: AccountRef, dates: readonly string[], runId: string | null): Promise<number> {
  return runId === null ? 0 : resolveRejectsNotSentAgain(db, account.id, dates, runId);
}

interface Plan {
  inserts: TransactionRow[];
  updates: TransactionUpdate[];
  decisions: DecisionRow[];
  unchanged: number;
}

/**
 * Decides, for each record, insert / update / nothing. Match order: the bank's id for this account,
 * then the fingerprint key (same content, same occurrence) when the bank re-issued ids for a day.
 */
export function planPage(account: AccountRef, records: readonly NormalizedTransaction[], existing: readonly ExistingTransaction[], runId: string | null): Plan {
  // Ids are matched within a record class: an intraday item never becomes its posted successor by id.
  // A record or row without an id key (none sent, or too long) is matched by its fingerprint key only.
  const byId = new Map(existing.flatMap((e) => {
    const k = idKey(e.post_code, e.jpm_transaction_id);
    return k === undefined ? [] : [[k, e] as const];
  }));
  const byFingerprint = new Map(existing.map((e) => [e.fingerprint_key, e]));
  const claimed = new Set<string>();
  const plan: Plan = { inserts: [], updates: [], decisions: [], unchanged: 0 };
  const seenIds = new Set<string>();
  const pageIds = new Set(records.flatMap((r) => idKey(r.recordClass, r.jpmTransactionId) ?? []));
  for (const t of records) {
    const key = t.identityById ? `${t.recordClass}|${t.jpmTransactionId}` : undefined;
    if (key !== undefined && seenIds.has(key)) {
      // The same id twice in one walk (pages shifted under us): the first copy wins.
      plan.unchanged++;
      continue;
    }
    if (key !== undefined) {
      seenIds.add(key);
    }
    let match = key === undefined ? undefined : byId.get(key);
    let reason = 'bank_changed_record';
    if (match && claimed.has(match.id)) {
      match = undefined;
    }
    if (!match) {
      const fp = byFingerprint.get(t.fingerprintKey);
      const fpKey = fp ? idKey(fp.post_code, fp.jpm_transaction_id) : undefined;
      // Only when the row's own id is absent from this page: otherwise that record claims it by id.
      if (fp && !claimed.has(fp.id) && (fpKey === undefined || !pageIds.has(fpKey))) {
        match = fp;
        // Two id-less copies of one item are the same item: not a re-identification.
        reason = fp.jpm_transaction_id === t.jpmTransactionId ? 'bank_changed_record' : 're_identified';
      }
    }
    if (!match) {
      plan.inserts.push({ id: uuidv7(), organization_id: account.organizationId, account_id: account.id, status: t.status, ...columns(t) });
      continue;
    }
    claimed.add(match.id);
    if (match.content_hash === t.contentHash) {
      plan.unchanged++;
      continue;
    }
    plan.updates.push({ id: match.id, ...columns(t), reason, sync_run_id: runId });
    if (reason === 're_identified') {
      plan.decisions.push({
        organization_id: account.organizationId, account_id: account.id, transaction_id: match.id, related_transaction_id: null,
        decision: 're_identified', rule: 'same_fingerprint_and_occurrence', sync_run_id: runId,
        evidence: { previousJpmTransactionId: match.jpm_transaction_id, newJpmTransactionId: t.jpmTransactionId, fingerprintKey: t.fingerprintKey },
      });
    }
  }
  return plan;
}

/**
 * Writes one page of normalized records and the run's progress in ONE database transaction, under
 * the account's write lock; nothing is written for unchanged records (no row versions, no WAL).
 * Never called with a bank request in flight inside the transaction.
 */
export async function ingestTransactionPage(
  db: Database,
  account: AccountRef,
  page: { records: readonly NormalizedTransaction[]; rejects: readonly NormalizationReject[]; fetched: number },
  runId: string | null,
): Promise<SyncCounts> {
  return db.transaction().execute(async (trx) => {
    await lockAccountForWrite(trx, account.id);
    const existing = await findForMatching(
      trx, account.id, page.records.flatMap((r) => (r.identityById ? [r.jpmTransactionId] : [])), page.records.map((r) => r.fingerprintKey),
      page.records.map((r) => r.recordClass),
    );
    const plan = planPage(account, page.records, existing, runId);
    const insertedIds = await insertTransactions(trx, plan.inserts);
    const updated = await updateTransactions(trx, plan.updates, runId);
    await insertDecisions(trx, plan.decisions);
    await insertChangeEvents(trx, [
      ...insertedIds.map((id) => ({ organization_id: account.organizationId, account_id: account.id, entity_id: id, kind: 'added' as const })),
      ...plan.updates.map((u) => ({ organization_id: account.organizationId, account_id: account.id, entity_id: u.id, kind: 'modified' as const })),
    ]);
    const rejects = page.rejects.map((r) => rejectRow(account, r, runId));
    // A bad record of an earlier sync that the bank now sends usable is resolved by this page.
    await resolveRejectsStored(trx, account.id, page.records.flatMap((r) => (r.jpmTransactionId === '' ? [] : [r.jpmTransactionId])),
      rejects.flatMap((r) => r.record_hash ?? []));
    await insertRejects(trx, rejects);
    const counts: SyncCounts = {
      fetched: page.fetched,
      inserted: insertedIds.length,
      updated,
      // An insert skipped by the unique index means another writer stored it first: unchanged for us.
      unchanged: plan.unchanged + (plan.inserts.length - insertedIds.length) + (plan.updates.length - updated),
      superseded: 0,
      removed: 0,
      rejected: page.rejects.length,
      balances: 0,
    };
    if (runId) {
      await addRunCounts(trx, runId, counts);
    }
    return counts;
  });
}

export type { Executor };
