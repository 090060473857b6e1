import type { SyncCounts } from '../domain/types.ts';
import type { NormalizedTransaction, NormalizationReject } from '../normalization/transactions.ts';
import { uuidv7 } from '../shared/ids.ts';
import type { Database, Executor } from '../storage/db.ts';
import { addRunCounts } from '../storage/sync-runs.repo.ts';
import {
  findForMatching, insertChangeEvents, insertDecisions, insertRejects, insertTransactions, lockAccountForWrite,
  updateTransactions, type DecisionRow, type ExistingTransaction, type TransactionRow, type TransactionUpdate,
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
  };
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
  const byId = new Map(existing.map((e) => [`${e.post_code}|${e.jpm_transaction_id}`, e]));
  const byFingerprint = new Map(existing.map((e) => [e.fingerprint_key, e]));
  const claimed = new Set<string>();
  const plan: Plan = { inserts: [], updates: [], decisions: [], unchanged: 0 };
  const seenIds = new Set<string>();
  const pageIds = new Set(records.map((r) => `${r.recordClass}|${r.jpmTransactionId}`));
  for (const t of records) {
    if (seenIds.has(`${t.recordClass}|${t.jpmTransactionId}`)) {
      // The same id twice in one walk (pages shifted under us): the first copy wins.
      plan.unchanged++;
      continue;
    }
    seenIds.add(`${t.recordClass}|${t.jpmTransactionId}`);
    let match = byId.get(`${t.recordClass}|${t.jpmTransactionId}`);
    let reason = 'bank_changed_record';
    if (match && claimed.has(match.id)) {
      match = undefined;
    }
    if (!match) {
      const fp = byFingerprint.get(t.fingerprintKey);
      // Only when the row's own id is absent from this page: otherwise that record claims it by id.
      if (fp && !claimed.has(fp.id) && !pageIds.has(`${fp.post_code}|${fp.jpm_transaction_id}`)) {
        match = fp;
        reason = 're_identified';
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
      trx, account.id, page.records.map((r) => r.jpmTransactionId), page.records.map((r) => r.fingerprintKey), page.records.map((r) => r.recordClass),
    );
    const plan = planPage(account, page.records, existing, runId);
    const insertedIds = await insertTransactions(trx, plan.inserts);
    const updated = await updateTransactions(trx, plan.updates, runId);
    await insertDecisions(trx, plan.decisions);
    await insertChangeEvents(trx, [
      ...insertedIds.map((id) => ({ organization_id: account.organizationId, account_id: account.id, entity_id: id, kind: 'added' as const })),
      ...plan.updates.map((u) => ({ organization_id: account.organizationId, account_id: account.id, entity_id: u.id, kind: 'modified' as const })),
    ]);
    await insertRejects(trx, page.rejects.map((r) => ({
      organization_id: account.organizationId, account_id: account.id, sync_run_id: runId, record_type: 'transaction' as const, reason: r.reason, raw: r.raw,
    })));
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
