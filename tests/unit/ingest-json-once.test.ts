import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { contentHash, contentHashWithLast, OccurrenceCounter } from '../../src/normalization/identity.ts';
import { normalizeTransactions } from '../../src/normalization/transactions.ts';
import type { WireTransaction } from '../../src/jpm/wire.schemas.ts';
import { parseJsonChecked } from '../../src/shared/json.ts';
import { decodePgJson, decodePgText, pgJsonText } from '../../src/shared/pg-text.ts';
import { rowsJsonText } from '../../src/storage/transactions.repo.ts';

const json = fc.jsonValue({ maxDepth: 3 });

describe('a raw record serialized once (content hash and insert document)', () => {
  it('hashes exactly what contentHash hashes', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(json, fc.constant(undefined)), { maxLength: 6 }), json, (parts, last) => {
        expect(contentHashWithLast(parts, JSON.stringify(last))).toBe(contentHash([...parts, last]));
      }),
      { numRuns: 1000 },
    );
  });

  it('keeps the content hash of a normalized record what it always was', () => {
    const raw: WireTransaction = {
      transactionId: 'TXN-P-1',
      account: { accountId: '000000010975001' },
      currency: { code: 'USD', decimalLocation: '2' },
      asOfDate: '2026-03-02',
      valueDate: '2026-02-27',
      debitCreditCode: 'DEBIT',
      amount: '25.00',
      postCode: 'P',
      baiType: { typeCode: '698', summaryTypeCode: '690' },
      bankReferenceSearchable: { standardValue: ' 00FEE0302 ' },
      shortDescription: 'SERVICE FEE',
      narrativeText: { 'REMARK      ': '  MONTHLY   FEE ' },
    };
    const [t] = normalizeTransactions([raw], new OccurrenceCounter()).records;
    expect(t?.rawJson).toBe(JSON.stringify(raw));
    expect(t?.contentHash).toBe(
      contentHash([
        '2500',
        'debit',
        '2026-03-02',
        '2026-02-27',
        '698',
        '690',
        ' 00FEE0302 ',
        '',
        'SERVICE FEE | REMARK: MONTHLY FEE',
        'TXN-P-1',
        raw,
      ]),
    );
  });

  it("leaves out a narrative that is the raw record's narrativeText (Postgres takes it from raw), and only such a one", () => {
    const narrativeText = { 'YOUR REF    ': 'NBVI2343260' };
    const raw = { transactionId: 'T-1', narrativeText };
    const doc = (rows: { raw: unknown; narrative: unknown }[]) =>
      JSON.parse(rowsJsonText(rows.map((r) => ({ ...r, raw_json: JSON.stringify(r.raw) })))) as Record<
        string,
        unknown
      >[];
    expect(doc([{ raw, narrative: narrativeText }])[0]).toEqual({ raw });
    expect(doc([{ raw: { transactionId: 'T-2' }, narrative: null }])[0]).toEqual({ raw: { transactionId: 'T-2' } });
    expect(doc([{ raw: { narrativeText: null }, narrative: null }])[0]).toEqual({ raw: { narrativeText: null } });
    // Another narrative than the raw record's (a statement line's), or none for a raw one: sent as it is.
    expect(doc([{ raw, narrative: { 'YOUR REF    ': 'NBVI2343260' } }])[0]).toEqual({ raw, narrative: narrativeText });
    expect(doc([{ raw, narrative: null }])[0]).toEqual({ raw, narrative: null });
    expect(doc([{ raw, narrative: undefined }])[0]).toEqual({ raw, narrative: null });
  });

  it('sends the same document as pgJsonText of the rows, NUL and escape characters included', () => {
    const text = fc.string({ unit: fc.constantFrom('a', '\u0000', '\u2400', '\u241b', '"', '\\', ' ', '0') });
    const row = fc.record({
      id: fc.uuid(),
      description: text,
      bank_reference: text,
      raw: fc.dictionary(text, fc.oneof(text, json), { maxKeys: 4 }),
    });
    fc.assert(
      fc.property(fc.array(row, { minLength: 1, maxLength: 5 }), fc.boolean(), (rows, withJson) => {
        const sent = withJson ? rows.map((r) => ({ ...r, raw_json: JSON.stringify(r.raw) })) : rows;
        expect(JSON.parse(rowsJsonText(sent))).toEqual(JSON.parse(pgJsonText(rows)));
      }),
      { numRuns: 1000 },
    );
  });

  it('sends a document Postgres accepts and that decodes to the rows, lone surrogates included', () => {
    const text = fc.string({ unit: fc.constantFrom('a', '\u0000', '\u241b', '\ud83d', '\ude00', 'D83D', '\\', '😀') });
    const row = fc.record({
      id: fc.uuid(),
      description: text,
      bank_reference: text,
      raw: fc.dictionary(text, fc.oneof(text, json), { maxKeys: 4 }),
    });
    fc.assert(
      fc.property(fc.array(row, { minLength: 1, maxLength: 5 }), fc.boolean(), (rows, withJson) => {
        const sent = withJson ? rows.map((r) => ({ ...r, raw_json: JSON.stringify(r.raw) })) : rows;
        const doc = rowsJsonText(sent);
        // jsonb refuses the escape of U+0000 and of a lone surrogate (`\ud800`–`\udfff` without its other half).
        expect(doc).not.toMatch(/(?<!\\)(?:\\\\)*\\u(?:0000|d[89a-f])/i);
        // parseJsonChecked, not JSON.parse: V8 can misread an escaped name (src/shared/json.ts).
        const parsed = parseJsonChecked(doc) as { description: string; bank_reference: string; raw: unknown }[];
        expect(
          parsed.map((r) => ({
            ...r,
            description: decodePgText(r.description),
            bank_reference: decodePgText(r.bank_reference),
            raw: decodePgJson(r.raw),
          })),
        ).toEqual(parseJsonChecked(JSON.stringify(rows))); // what JSON carries (-0 is 0)
      }),
      { numRuns: 1000 },
    );
  });
});
