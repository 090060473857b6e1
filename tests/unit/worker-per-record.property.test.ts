import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseTransactionRecords } from '../../src/jpm/records.ts';
import { isIdentityId, MAX_IDENTITY_ID_CHARS, OccurrenceCounter } from '../../src/normalization/identity.ts';
import { normalizeTransactions, type NormalizedTransaction } from '../../src/normalization/transactions.ts';
import { parseJsonLossless } from '../../src/shared/json.ts';
import { encodePgText } from '../../src/shared/pg-text.ts';
import { rowsJsonText } from '../../src/storage/transactions.repo.ts';
import { planPage } from '../../src/sync/ingest.ts';

/**
 * The worker's per-record code written for less CPU must give exactly what the definitions before it gave: the same
 * identity decisions, the same normalized record (keys in the same order) and the same insert rows, hence the same
 * insert document. The old definitions are kept here as oracles.
 */

/** `isIdentityId` as it was: the stored (escaped) id counted code point by code point. */
function isIdentityIdAsBefore(id: string): boolean {
  // No id: none sent, or only spaces (a fixed-width field left empty).
  if (/^ *$/.test(id)) {
    return false;
  }
  let n = 0;
  for (const _ of encodePgText(id)) {
    if (++n > MAX_IDENTITY_ID_CHARS) {
      return false;
    }
  }
  return true;
}

/** The insert row as it was built: the record's columns spread after id, organization, account and status. */
function insertRowAsBefore(
  account: { id: string; organizationId: string },
  id: string,
  t: NormalizedTransaction,
): Record<string, unknown> {
  return {
    id,
    organization_id: account.organizationId,
    account_id: account.id,
    status: t.status,
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
    ...(t.rawJson === undefined ? {} : { raw_json: t.rawJson }),
    narrative: t.narrative,
    data_quality: t.dataQuality,
    source: t.source,
  };
}

/** The keys of a normalized record in the order they were always made. */
const NORMALIZED_KEYS = [
  'jpmAccountId',
  'bookingDate',
  'direction',
  'amountMinor',
  'currency',
  'baiTypeCode',
  'bankReference',
  'customerReference',
  'jpmTransactionId',
  'identityById',
  'recordClass',
  'status',
  'decimalLocation',
  'valueDate',
  'baiSummaryCode',
  'description',
  'narrative',
  'dataQuality',
  'fingerprintKey',
  'contentHash',
  'rawJson',
  'source',
  'raw',
];

const FIXTURES = join(import.meta.dirname, '../fixtures/jpm');
const readJson = (file: string): unknown => parseJsonLossless(readFileSync(join(FIXTURES, file), 'utf8'));
const wireRecords = [
  ...['unicorn-finance/uf-transactions.json', 'jpmorganchase-payments/uf-transactions.json'].flatMap(
    (file) => (readJson(file) as { data: unknown[] }).data,
  ),
  ...['ok', 'reject'].flatMap((dir) =>
    readdirSync(join(FIXTURES, dir))
      .filter((f) => f.endsWith('.json'))
      .map((f) => (readJson(`${dir}/${f}`) as { record: unknown }).record),
  ),
];

describe("the worker's per-record code, made cheaper, gives what it gave (property)", () => {
  it('decides whether an id is an identity key exactly as the code-point count did', () => {
    const unit = fc.constantFrom('a', '0', ' ', '\u0000', '\u2400', '\u241b', '\ud800', '\udc00', '😀', 'é');
    const near = (n: number) => fc.string({ unit, minLength: Math.max(0, n - 8), maxLength: n + 8 });
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit }), near(40), near(100), near(200), near(400)), (id) => {
        expect(isIdentityId(id)).toBe(isIdentityIdAsBefore(id));
      }),
      { numRuns: 5000 },
    );
    for (const id of ['x'.repeat(200), 'x'.repeat(201), '😀'.repeat(100), '😀'.repeat(101), '\u2400'.repeat(101)]) {
      expect(isIdentityId(id)).toBe(isIdentityIdAsBefore(id));
    }
  });

  it('normalizes every sample and scenario record to its keys in the same order, and plans the same insert rows', () => {
    const { records } = parseTransactionRecords(wireRecords);
    const page = normalizeTransactions(records, new OccurrenceCounter(), 0, { requested: 'history' });
    expect(page.records.length).toBeGreaterThan(20);
    for (const t of page.records) {
      expect(Object.keys(t)).toEqual(NORMALIZED_KEYS);
    }
    const account = {
      id: '0190f3a0-0000-7000-8000-000000000001',
      organizationId: '0190f3a0-0000-7000-8000-000000000002',
    };
    // With the raw record's JSON, and without it (a record built another way): the row keeps or leaves out raw_json.
    for (const normalized of [page.records, page.records.map(({ rawJson: _omitted, ...t }) => t)]) {
      const plan = planPage(account, normalized, [], null);
      expect(plan.inserts.length).toBeGreaterThan(20);
      const before = plan.inserts.map((row, i) => insertRowAsBefore(account, row.id, plan.insertRecords[i]!));
      for (const [i, row] of plan.inserts.entries()) {
        // Without the raw record's JSON the row says `raw_json: undefined`, which the insert document leaves out.
        const present = Object.entries(row).filter(([, v]) => v !== undefined);
        expect(present.map(([k]) => k)).toEqual(Object.keys(before[i]!));
        expect(Object.fromEntries(present)).toStrictEqual(before[i]);
      }
      expect(rowsJsonText(plan.inserts)).toBe(rowsJsonText(before as never[]));
    }
  });
});
