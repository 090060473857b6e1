import { OccurrenceCounter } from '../../src/normalization/identity.ts';
import { normalizeTransactions } from '../../src/normalization/transactions.ts';
import type { WireTransaction } from '../../src/jpm/wire.schemas.ts';
import type { SyncCounts } from '../../src/domain/types.ts';
import type { Database } from '../../src/storage/db.ts';
import { ingestTransactionPage, type AccountRef } from '../../src/sync/ingest.ts';

/**
 * J.P. Morgan-shaped transaction records for tests, stored through the real path (normalization →
 * ingestTransactionPage), so rows, versions and change events are exactly what production writes.
 */
export interface WireOptions {
  transactionId: string;
  jpmAccountId: string;
  amount?: string;
  currency?: string;
  decimalLocation?: number;
  asOfDate?: string;
  valueDate?: string | null;
  direction?: 'CREDIT' | 'DEBIT';
  postCode?: 'I' | 'P';
  baiTypeCode?: string;
  bankReference?: string;
  customerReference?: string;
  shortDescription?: string;
  remark?: string;
}

export function wireTransaction(o: WireOptions): WireTransaction {
  return {
    transactionId: o.transactionId,
    account: { accountId: o.jpmAccountId, bankId: '02100002' },
    currency: { code: o.currency ?? 'USD', decimalLocation: o.decimalLocation ?? 2 },
    asOfDate: o.asOfDate ?? '2026-11-02',
    valueDate: o.valueDate === undefined ? (o.asOfDate ?? '2026-11-02') : o.valueDate,
    debitCreditCode: o.direction ?? 'CREDIT',
    amount: o.amount ?? '100.00',
    postCode: o.postCode ?? 'P',
    baiType: { typeCode: o.baiTypeCode ?? '399', summaryTypeCode: '390' },
    bankReferenceSearchable: { standardValue: o.bankReference ?? `BR-${o.transactionId}` },
    customerReferenceSearchable: { standardValue: o.customerReference ?? '' },
    shortDescription: o.shortDescription ?? 'MISC CREDIT',
    narrativeText: o.remark === undefined ? null : { 'REMARK      ': o.remark },
  };
}

/** Normalizes and ingests one page for an account, as a sync run would (no run id). */
export async function ingestWire(
  db: Database,
  account: AccountRef,
  records: readonly WireTransaction[],
): Promise<SyncCounts> {
  const page = normalizeTransactions(records, new OccurrenceCounter());
  if (page.rejects.length > 0) {
    throw new Error(`test records rejected: ${page.rejects.map((r) => r.reason).join('; ')}`);
  }
  return ingestTransactionPage(db, account, { ...page, fetched: records.length }, null);
}

/** A deterministic pseudo-random generator (mulberry32) so data sets are reproducible from a seed. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
