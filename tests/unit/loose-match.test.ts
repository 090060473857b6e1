import { describe, expect, it } from 'vitest';
import { OccurrenceCounter } from '../../src/normalization/identity.ts';
import { normalizeTransactions, type NormalizedTransaction } from '../../src/normalization/transactions.ts';
import type { LooseCandidate } from '../../src/storage/transactions.repo.ts';
import { takeOverColumns } from '../../src/sync/ingest.ts';
import { compareFields, looseMatches } from '../../src/sync/loose-match.ts';
import { wireTransaction, type WireOptions } from '../factories/transactions.ts';

/**
 * The match of records to rows of another channel with a field left out on one side: never two different
 * values, never two ids, and only where the mapping is unambiguous (README, "One identity across channels").
 */
const ACCOUNT = '000000012345';
const FEE = {
  jpmAccountId: ACCOUNT,
  asOfDate: '2026-11-02',
  direction: 'DEBIT',
  amount: '25.00',
  baiTypeCode: '698',
  bankReference: 'FEE1',
} as const;

/** Records of one walk from a channel (`id` false: a file's lines, without the bank's id). */
function records(
  source: 'jpm_api' | 'bai2',
  items: Partial<WireOptions>[],
  id = source === 'jpm_api',
): NormalizedTransaction[] {
  const wire = items.map((o, i) => wireTransaction({ ...FEE, transactionId: id ? `T${i + 1}` : '', ...o }));
  return normalizeTransactions(wire, new OccurrenceCounter()).records.map((r) => ({ ...r, source }));
}

/** The rows such records would be stored as. */
function rows(stored: NormalizedTransaction[]): LooseCandidate[] {
  return stored.map((r, i) => ({
    id: `00000000-0000-7000-8000-${String(i + 1).padStart(12, '0')}`,
    post_code: r.recordClass,
    jpm_transaction_id: r.jpmTransactionId,
    fingerprint_key: r.fingerprintKey,
    content_hash: r.contentHash,
    status: r.status,
    source: r.source,
    booking_date: r.bookingDate,
    direction: r.direction,
    amount_minor: r.amountMinor.toString(),
    currency: r.currency,
    bai_type_code: r.baiTypeCode,
    bank_reference: r.bankReference,
    customer_reference: r.customerReference,
  }));
}

const pairs = (m: ReturnType<typeof looseMatches>) =>
  m.map((x) => `${x.record.customerReference || '-'}>${x.row.customer_reference || '-'}`);

describe('looseMatches', () => {
  it('pairs one item a channel reports without its customer reference, naming the missing field', () => {
    const m = looseMatches(
      records('jpm_api', [{ customerReference: '' }]),
      rows(records('bai2', [{ customerReference: 'INV-1' }])),
      new Set(),
      new Set(),
    );
    expect(m).toHaveLength(1);
    expect(m[0]).toMatchObject({
      missing: [{ field: 'customerReference', missingIn: 'jpm_api', value: 'INV-1' }],
      matched: ['baiTypeCode', 'bankReference'],
    });
  });

  it('never pairs two different values, nor two rows of one channel, nor two J.P. Morgan ids', () => {
    expect(
      looseMatches(
        records('jpm_api', [{ customerReference: 'A', bankReference: '' }]),
        rows(records('bai2', [{ customerReference: 'B' }])),
        new Set(),
        new Set(),
      ),
    ).toEqual([]);
    expect(
      looseMatches(
        records('jpm_api', [{ baiTypeCode: '699', customerReference: '' }]),
        rows(records('bai2', [{ customerReference: 'A' }])),
        new Set(),
        new Set(),
      ),
    ).toEqual([]);
    expect(
      looseMatches(
        records('bai2', [{ customerReference: '' }]),
        rows(records('bai2', [{ customerReference: 'A' }])),
        new Set(),
        new Set(),
      ),
    ).toEqual([]);
    const api = rows(records('jpm_api', [{ customerReference: 'A' }]));
    expect(
      looseMatches(
        records('jpm_api', [{ customerReference: '', transactionId: 'OTHER' }]),
        api.map((r) => ({ ...r, source: 'camt053' })),
        new Set(),
        new Set(),
      ),
    ).toEqual([]);
  });

  it('three fees with references A, B, C against three without: one to one in occurrence order, from either side', () => {
    const withRefs = records('bai2', [
      { customerReference: 'A' },
      { customerReference: 'B' },
      { customerReference: 'C' },
    ]);
    const without = records('jpm_api', [
      { customerReference: '' },
      { customerReference: '' },
      { customerReference: '' },
    ]);
    expect(pairs(looseMatches(without, rows(withRefs), new Set(), new Set()))).toEqual(['->A', '->B', '->C']);
    const m = looseMatches(withRefs, rows(without), new Set(), new Set());
    expect(pairs(m)).toEqual(['A>-', 'B>-', 'C>-']);
    expect(m.map((x) => x.row.fingerprint_key.split(':')[2])).toEqual(['1', '2', '3']);
    expect(m.every((x) => x.group.records === 3 && x.group.rows === 3)).toBe(true);
  });

  it('leaves a group apart when the counts differ, when both sides are told apart by their fields, or when an earlier page took part of it', () => {
    const three = records('jpm_api', [{ customerReference: '' }, { customerReference: '' }, { customerReference: '' }]);
    expect(
      looseMatches(
        three,
        rows(records('bai2', [{ customerReference: 'A' }, { customerReference: 'B' }])),
        new Set(),
        new Set(),
      ),
    ).toEqual([]);
    // The file tells them apart by customer reference, the API by BAI code: which is which cannot be known.
    const file = records('bai2', [{ customerReference: 'A', baiTypeCode: undefined }, { customerReference: 'B' }]).map(
      (r) => ({ ...r, baiTypeCode: null }),
    );
    const api = records('jpm_api', [
      { customerReference: '', baiTypeCode: '698' },
      { customerReference: '', baiTypeCode: '699' },
    ]);
    expect(looseMatches(api, rows(file), new Set(), new Set())).toEqual([]);
    const stored = rows(records('bai2', [{ customerReference: 'A' }]));
    expect(
      looseMatches(records('jpm_api', [{ customerReference: '' }]), stored, new Set(), new Set([stored[0]!.id])),
    ).toEqual([]);
    expect(
      looseMatches(records('jpm_api', [{ customerReference: '' }]), stored, new Set([stored[0]!.id]), new Set()),
    ).toEqual([]);
  });

  it('matches each connected set of a group on its own: a fee and a check of the same amount', () => {
    const file = records('bai2', [
      { customerReference: 'A' },
      { baiTypeCode: '475', bankReference: 'CHK', customerReference: 'C' },
    ]);
    const api = records('jpm_api', [
      { customerReference: '' },
      { baiTypeCode: '475', bankReference: 'CHK', customerReference: '' },
    ]);
    const m = looseMatches(api, rows(file), new Set(), new Set());
    expect(m.map((x) => `${x.record.baiTypeCode}>${x.row.customer_reference}`)).toEqual(['698>A', '475>C']);
  });

  it('never matches intraday items: a camt.052 line does not confirm a pending row of the same amount without references', () => {
    const pending = rows(
      records('jpm_api', [
        { postCode: 'I', direction: 'CREDIT', amount: '500.00', customerReference: '', bankReference: '' },
      ]),
    );
    const line = records('bai2', [
      { postCode: 'I', direction: 'CREDIT', amount: '500.00', customerReference: 'INV-2', bankReference: '' },
    ]);
    expect(looseMatches(line, pending, new Set(), new Set())).toEqual([]);
    // The same two as posted items are matched.
    const posted = rows(
      records('jpm_api', [{ direction: 'CREDIT', amount: '500.00', customerReference: '', bankReference: '' }]),
    );
    expect(
      looseMatches(
        records('bai2', [{ direction: 'CREDIT', amount: '500.00', customerReference: 'INV-2', bankReference: '' }]),
        posted,
        new Set(),
        new Set(),
      ),
    ).toHaveLength(1);
  });

  it('a dense group of 1000 records against 1000 rows takes work in proportion to its pairs (union-find by size with path compression)', () => {
    const n = 1000;
    const file = records(
      'bai2',
      Array.from({ length: n }, (_, i) => ({ customerReference: `REF-${i}` })),
    );
    const api = records(
      'jpm_api',
      Array.from({ length: n }, () => ({ customerReference: '' })),
    );
    const work = { steps: 0 };
    const m = looseMatches(api, rows(file), new Set(), new Set(), work);
    expect(m).toHaveLength(n);
    expect(m.map((x) => x.row.customer_reference)).toEqual(file.map((r) => r.customerReference));
    // Each pair compared once, plus a link or two followed per union (3,000,000 here): a constant per pair.
    expect(work.steps).toBeGreaterThanOrEqual(n * n);
    expect(work.steps).toBeLessThan(4 * n * n);
  });
});

/** A look-alike group of one record against one row: the pairing cannot be arbitrary. */
const ONE = { records: 1, rows: 1, sources: ['bai2'], fields: ['baiTypeCode', 'bankReference', 'customerReference'] };

describe('takeOverColumns', () => {
  it("never keeps the row's value of a field the record left out, even one record against one row, whatever the channels are called", () => {
    // The record with the bank's id carries the customer reference; the row of the same channel name lacks it
    // (compareFields names that row's channel, equal to the record's, as the one that left it out).
    const [record] = records('jpm_api', [{ customerReference: 'INV-1' }]);
    const [row] = rows(records('jpm_api', [{ customerReference: '' }], false));
    const fit = compareFields(record!, row!);
    expect(fit?.missing).toEqual([{ field: 'customerReference', missingIn: 'jpm_api', value: 'INV-1' }]);
    const out = takeOverColumns(record!, row!, fit!.missing, ONE);
    expect([out.customer_reference, out.data_quality]).toEqual(['INV-1', null]);
    // The record leaving it out: the record's empty value, noted as not kept (the file's value stays in the row's versions).
    const [bare] = records('jpm_api', [{ customerReference: '' }]);
    const [file] = rows(records('bai2', [{ customerReference: 'INV-1' }]));
    const out1 = takeOverColumns(bare!, file!, compareFields(bare!, file!)!.missing, ONE);
    expect([out1.customer_reference, out1.data_quality]).toEqual([
      '',
      [{ field: 'customerReference', problem: 'left out by jpm_api; not kept from bai2' }],
    ]);
  });
  it('keeps no value when the look-alike group is more than one record against one row, alike or not, with one short note on every row', () => {
    const note = (field: string) => ({ field, problem: 'left out by jpm_api; not kept from bai2' });
    const api = records('jpm_api', [
      { customerReference: '', bankReference: '' },
      { customerReference: '', bankReference: '' },
    ]);
    const cases: [Partial<WireOptions>[], ReturnType<typeof note>[]][] = [
      [
        [{ customerReference: 'FEE-B' }, { customerReference: 'FEE-A' }],
        [note('bankReference'), note('customerReference')],
      ],
      [
        [{ customerReference: 'FEE-A' }, { customerReference: 'FEE-A' }],
        [note('bankReference'), note('customerReference')],
      ],
      // Each row lacks a field the other carries: both rows are noted for both fields, not only for the one their own pair missed.
      [
        [
          { customerReference: 'FEE-A', bankReference: '' },
          { customerReference: '', bankReference: 'B' },
        ],
        [note('bankReference'), note('customerReference')],
      ],
    ];
    for (const [file, notes] of cases) {
      const matches = looseMatches(api, rows(records('bai2', file)), new Set(), new Set());
      expect(matches).toHaveLength(2);
      expect(
        matches
          .map((m) => takeOverColumns(m.record, m.row, m.missing, m.lookAlikes))
          .map((out) => [out.bank_reference, out.customer_reference, out.data_quality]),
      ).toEqual([
        ['', '', notes],
        ['', '', notes],
      ]);
    }
  });
  it("counts the group's rows another match of the page took: one record left against one free row of two keeps nothing", () => {
    const file = rows(records('bai2', [{ customerReference: 'FEE-A' }, { customerReference: '' }]));
    // The row without a reference was taken by the page's other record (its exact fingerprint key).
    const [m, ...more] = looseMatches(
      records('jpm_api', [{ customerReference: '' }]),
      file,
      new Set([file[1]!.id]),
      new Set(),
    );
    expect(more).toEqual([]);
    expect(m!.row.customer_reference).toBe('FEE-A');
    expect(m!.lookAlikes).toEqual({
      records: 1,
      rows: 2,
      sources: ['bai2'],
      fields: ['baiTypeCode', 'bankReference', 'customerReference'],
    });
    const out = takeOverColumns(m!.record, m!.row, m!.missing, m!.lookAlikes);
    expect([out.customer_reference, out.data_quality]).toEqual([
      '',
      [{ field: 'customerReference', problem: 'left out by jpm_api; not kept from bai2' }],
    ]);
  });
  it("writes a short note whatever the group's size (300 fees, each with its own reference)", () => {
    const n = 300;
    const api = records(
      'jpm_api',
      Array.from({ length: n }, () => ({ customerReference: '' })),
    );
    const file = rows(
      records(
        'bai2',
        Array.from({ length: n }, (_, i) => ({ customerReference: `FEE-${String(i).padStart(4, '0')}` })),
      ),
    );
    const notes = looseMatches(api, file, new Set(), new Set()).map(
      (m) => takeOverColumns(m.record, m.row, m.missing, m.lookAlikes).data_quality,
    );
    expect(notes).toHaveLength(n);
    expect(new Set(notes.map((q) => JSON.stringify(q))).size).toBe(1);
    expect(notes[0]).toEqual([{ field: 'customerReference', problem: 'left out by jpm_api; not kept from bai2' }]);
    // However many channels the group's rows came from, the note is cut to 200 characters, its last one the ellipsis.
    const [bare] = records('jpm_api', [{ customerReference: '' }]);
    const [row] = rows(records('bai2', [{ customerReference: 'FEE-A' }]));
    const sources = Array.from({ length: 40 }, (_, i) => `channel_${String(i).padStart(2, '0')}`);
    const [long] = takeOverColumns(bare!, row!, compareFields(bare!, row!)!.missing, { ...ONE, rows: 40, sources })
      .data_quality as { problem: string }[];
    expect(long!.problem).toHaveLength(200);
    expect(long!.problem.endsWith('…')).toBe(true);
  });
});
