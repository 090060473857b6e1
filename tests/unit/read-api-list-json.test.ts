import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { toTransactionDto, transactionItemJson, transactionPageJson } from '../../src/read-api/dto.ts';
import { formatMinorUnits } from '../../src/shared/money.ts';
import { encodePgJson, encodePgText } from '../../src/shared/pg-text.ts';
import type { TransactionReadRow } from '../../src/storage/read.repo.ts';

/** Bank text as stored: any characters, NUL and the escape's own characters included, escaped as ingestion stores it. */
const bankText = fc.string({
  unit: fc.oneof(
    fc.constantFrom(
      '\u0000',
      '\u001f',
      '\u007f',
      '\u2400',
      '\u241b',
      '"',
      '\\',
      '\n',
      '\u2028',
      'é',
      '😀',
      '\ud800',
      '\udc00',
    ),
    fc.string({ unit: 'grapheme', maxLength: 1 }),
  ),
});
const stored = bankText.map(encodePgText);
const json = fc.jsonValue({ maxDepth: 3 });
const date = fc.date({
  min: new Date('1990-01-01T00:00:00Z'),
  max: new Date('2099-12-31T00:00:00Z'),
  noInvalidDate: true,
});

const row: fc.Arbitrary<TransactionReadRow> = fc.record({
  id: fc.uuid(),
  organization_id: fc.uuid(),
  account_id: fc.uuid(),
  status: fc.oneof(fc.constantFrom('pending', 'posted', 'superseded', 'removed'), bankText),
  direction: fc.constantFrom('credit', 'debit'),
  // As Postgres writes an int8.
  amount_minor: fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map(String),
  currency: fc.oneof(fc.constantFrom('USD', 'JPY', 'KWD'), bankText),
  decimal_location: fc.integer({ min: 0, max: 18 }),
  booking_date: date.map((d) => d.toISOString().slice(0, 10)),
  value_date: fc.option(date.map((d) => d.toISOString().slice(0, 10))),
  bank_reference: stored,
  customer_reference: stored,
  bai_type_code: fc.option(fc.oneof(stored, bankText)),
  bai_summary_code: fc.option(fc.oneof(stored, bankText)),
  description: stored,
  jpm_transaction_id: fc.oneof(fc.constant(''), stored),
  superseded_by: fc.option(fc.uuid()),
  version: fc.integer({ min: 1, max: 1000 }),
  data_quality: fc.option(fc.array(fc.record({ field: stored, problem: stored, extra: json }), { maxLength: 3 })),
  first_seen_at: date.map((d) => d.toISOString()),
  updated_at: date.map((d) => d.toISOString()),
  // The stored jsonb as Postgres prints it (escaped text inside, when the bank sent the escape's characters).
  narrative: fc.option(
    fc
      .oneof(json, fc.dictionary(bankText, bankText, { maxKeys: 4 }))
      .map((v) => JSON.stringify(encodePgJson(v), null, 1)),
  ),
  supersedes: fc.option(fc.uuid()),
});

/** JSON text as a client reads it: sent as UTF-8 (a lone surrogate written raw would arrive as U+FFFD), then parsed. */
const received = (text: string): unknown => JSON.parse(Buffer.from(text, 'utf8').toString('utf8'));

describe('the transaction list written as JSON text', () => {
  it('is the JSON of toTransactionDto, field for field and in the same order', () => {
    fc.assert(
      fc.property(row, (r) => {
        const parsed = received(transactionItemJson(r)) as Record<string, unknown>;
        const dto = toTransactionDto(r);
        expect(parsed).toEqual(received(JSON.stringify(dto)));
        expect(Object.keys(parsed)).toEqual(Object.keys(dto));
      }),
      { numRuns: 2000 },
    );
  });

  it('writes amounts exactly as formatMinorUnits of the stored minor units', () => {
    fc.assert(
      fc.property(row, (r) => {
        const dto = toTransactionDto(r);
        expect(dto.amount).toBe(formatMinorUnits(BigInt(r.amount_minor), r.decimal_location));
        expect(dto.amountMinor).toBe(BigInt(r.amount_minor).toString());
      }),
      { numRuns: 2000 },
    );
  });

  it('is a page { data, nextCursor } of those items', () => {
    fc.assert(
      fc.property(fc.array(row, { maxLength: 5 }), fc.option(fc.base64String()), (rows, cursor) => {
        expect(received(transactionPageJson(rows, cursor).text)).toEqual(
          received(JSON.stringify({ data: rows.map(toTransactionDto), nextCursor: cursor })),
        );
      }),
      { numRuns: 300 },
    );
  });
});
