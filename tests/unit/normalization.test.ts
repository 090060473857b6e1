import { describe, expect, it } from 'vitest';
import { OccurrenceCounter } from '../../src/normalization/identity.ts';
import { describe as describeTx, normalizeTransactions } from '../../src/normalization/transactions.ts';
import type { WireTransaction } from '../../src/jpm/wire.schemas.ts';
import { matchPending } from '../../src/sync/supersede.ts';
import type { MatchCandidate } from '../../src/storage/transactions.repo.ts';

function wire(over: Partial<WireTransaction> = {}): WireTransaction {
  return {
    transactionId: 'TXN-P-1',
    account: { accountId: '000000010975001' },
    currency: { code: 'USD', decimalLocation: '2' },
    asOfDate: '2026-03-02',
    valueDate: '2026-02-27',
    debitCreditCode: 'DEBIT',
    amount: '25.00',
    postCode: 'P',
    baiType: { typeCode: '698', summaryTypeCode: '690' },
    bankReferenceSearchable: { standardValue: 'FEE0302' },
    customerReferenceSearchable: { standardValue: '' },
    shortDescription: 'SERVICE FEE',
    narrativeText: { 'REMARK      ': '  MONTHLY   FEE ', 'YOUR REF    ': '' },
    ...over,
  };
}

describe('normalizeTransactions', () => {
  it('maps a record exactly: minor units, direction, dates apart, trimmed narrative', () => {
    const { records, rejects } = normalizeTransactions([wire()], new OccurrenceCounter());
    expect(rejects).toEqual([]);
    const t = records[0]!;
    expect(t).toMatchObject({
      amountMinor: 2500n,
      direction: 'debit',
      bookingDate: '2026-03-02',
      valueDate: '2026-02-27',
      status: 'posted',
      baiTypeCode: '698',
      baiSummaryCode: '690',
      bankReference: 'FEE0302',
      description: 'SERVICE FEE | REMARK: MONTHLY FEE',
    });
  });

  it('gives identical same-day records distinct occurrence keys, stable across walks', () => {
    const three = [wire({ transactionId: 'a' }), wire({ transactionId: 'b' }), wire({ transactionId: 'c' })];
    const first = normalizeTransactions(three, new OccurrenceCounter()).records.map((r) => r.fingerprintKey);
    const again = normalizeTransactions(
      three.map((t, i) => ({ ...t, transactionId: `new-${i}` })),
      new OccurrenceCounter(),
    ).records.map((r) => r.fingerprintKey);
    expect(new Set(first).size).toBe(3);
    expect(again).toEqual(first);
  });

  it('separates intraday from posted identities and statuses', () => {
    const c = new OccurrenceCounter();
    const [i, p] = normalizeTransactions([wire({ postCode: 'I' }), wire({ postCode: 'P' })], c).records;
    expect(i!.status).toBe('pending');
    expect(p!.status).toBe('posted');
    expect(i!.fingerprintKey.startsWith('I:')).toBe(true);
    expect(p!.fingerprintKey.startsWith('P:')).toBe(true);
  });

  it('rejects a bad record with a reason and keeps the rest of the page', () => {
    const { records, rejects } = normalizeTransactions(
      [
        wire({ transactionId: 'ok' }),
        wire({ transactionId: 'bad-amount', amount: '1.234' }),
        wire({ transactionId: 'bad-dc', debitCreditCode: 'SIDEWAYS' }),
        wire({ transactionId: 'bad-date', asOfDate: '2026-02-30' }),
        wire({ transactionId: 'bad-post', postCode: 'X' }),
      ],
      new OccurrenceCounter(),
    );
    expect(records.map((r) => r.jpmTransactionId)).toEqual(['ok']);
    expect(rejects.map((r) => r.index)).toEqual([1, 2, 3, 4]);
    expect(rejects[0]!.reason).toMatch(/more than 2 decimal places/);
    expect(rejects[1]!.reason).toMatch(/CREDIT or DEBIT/);
    expect(rejects[2]!.reason).toMatch(/asOfDate/);
    expect(rejects[3]!.reason).toMatch(/postCode/);
  });

  it('handles 0- and 3-decimal currencies', () => {
    const { records } = normalizeTransactions(
      [
        wire({ transactionId: 'jpy', currency: { code: 'JPY', decimalLocation: '0' }, amount: '1500000' }),
        wire({ transactionId: 'kwd', currency: { code: 'KWD', decimalLocation: '3' }, amount: '12.345' }),
      ],
      new OccurrenceCounter(),
    );
    expect(records.map((r) => r.amountMinor)).toEqual([1500000n, 12345n]);
  });

  it('builds descriptions from padded tag keys', () => {
    expect(describeTx('INBND FED WIRE', { 'B/O CUSTOMER': 'ACME CORP', 'FED REF     ': ' 123 ' })).toBe(
      'INBND FED WIRE | B/O CUSTOMER: ACME CORP; FED REF: 123',
    );
    expect(describeTx('', null)).toBe('');
  });
});

function cand(id: string, over: Partial<MatchCandidate>): MatchCandidate {
  return {
    id,
    status: 'pending',
    booking_date: '2026-03-02',
    direction: 'debit',
    amount_minor: '2500',
    bai_type_code: '698',
    bank_reference: 'R1',
    customer_reference: '',
    jpm_transaction_id: id,
    fingerprint_key: id,
    ...over,
  };
}

describe('matchPending', () => {
  it('links exact matches one to one, then amount changes by reference, and removes the rest', () => {
    const pending = [
      cand('p1', {}),
      cand('p2', {}),
      cand('p3', { bank_reference: 'R2', amount_minor: '1000' }),
      cand('p4', { bank_reference: 'GONE' }),
    ];
    const posted = [
      cand('q1', { status: 'posted' }),
      cand('q2', { status: 'posted' }),
      cand('q3', { status: 'posted', bank_reference: 'R2', amount_minor: '1010' }),
    ];
    const r = matchPending(pending, posted);
    expect(r.superseded.map((s) => [s.pending.id, s.posted.id, s.rule])).toEqual([
      ['p1', 'q1', 'exact'],
      ['p2', 'q2', 'exact'],
      ['p3', 'q3', 'reference_amount_changed'],
    ]);
    expect(r.removed.map((p) => p.id)).toEqual(['p4']);
  });

  it('never matches across dates', () => {
    const r = matchPending(
      [cand('p1', { booking_date: '2026-03-02' })],
      [cand('q1', { status: 'posted', booking_date: '2026-03-03' })],
    );
    expect(r.superseded).toEqual([]);
    expect(r.removed).toHaveLength(1);
  });
});
