import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseTransactionRecords } from '../../src/jpm/records.ts';
import { contentHash, OccurrenceCounter } from '../../src/normalization/identity.ts';
import { normalizeTransactions, type NormalizeContext } from '../../src/normalization/transactions.ts';
import { normalizeBalances } from '../../src/normalization/balances.ts';
import type { WireBalance, WireTransaction } from '../../src/jpm/wire.schemas.ts';
import { parseJsonLossless } from '../../src/shared/json.ts';
import type { MatchCandidate } from '../../src/storage/transactions.repo.ts';
import { matchPending } from '../../src/sync/supersede.ts';
import { decodePgJson, decodePgText, encodePgJson, encodePgText, pgJsonText } from '../../src/shared/pg-text.ts';

/**
 * Records with odd fields, one scenario per file (tests/fixtures/jpm/ok): only the money facts decide
 * whether a record is stored; everything else is taken exactly as sent and noted in `dataQuality`.
 * tests/fixtures/jpm/reject holds the records whose money facts are unusable (jpm-wire.test.ts).
 */
const FIXTURES = join(import.meta.dirname, '../fixtures/jpm');

interface OkScenario {
  description: string;
  requested?: NormalizeContext['requested'];
  /** The fields of the data-quality notes, in order. */
  dataQuality: string[];
  /** Fields of the normalized record (amountMinor as a string). */
  expect: Record<string, unknown>;
  record: unknown;
}

function numbersAsText(value: unknown): unknown {
  if (typeof value === 'number') {
    return String(value);
  }
  if (Array.isArray(value)) {
    return value.map(numbersAsText);
  }
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, numbersAsText(v)]));
  }
  return value;
}

const scenarios = readdirSync(join(FIXTURES, 'ok'))
  .filter((f) => f.endsWith('.json'))
  .sort();
const readJson = (file: string): unknown => parseJsonLossless(readFileSync(join(FIXTURES, file), 'utf8'));
const load = (file: string) => readJson(join('ok', file)) as OkScenario;

describe('records with odd but storable fields (tests/fixtures/jpm/ok)', () => {
  it('has scenarios', () => {
    expect(scenarios.length).toBeGreaterThanOrEqual(20);
  });

  it.each(scenarios)('%s is stored as sent, with its data-quality notes', (file) => {
    const s = load(file);
    const { records, rejects } = parseTransactionRecords([s.record]);
    expect(rejects).toEqual([]);
    const page = normalizeTransactions(
      records,
      new OccurrenceCounter(),
      0,
      s.requested ? { requested: s.requested } : {},
    );
    expect(page.rejects).toEqual([]);
    const t = page.records[0]!;
    expect((t.dataQuality ?? []).map((n) => n.field)).toEqual(s.dataQuality);
    expect({ ...t, amountMinor: t.amountMinor.toString() }).toMatchObject(s.expect);
    // Every field the bank sent is in the stored raw record, with its exact value (numbers as their text;
    // the schema gives the small integers decimalLocation and currencySequence as JS numbers).
    for (const [key, value] of Object.entries(s.record as Record<string, unknown>)) {
      expect(numbersAsText(t.raw[key])).toEqual(value);
    }
    expect(t.narrative).toEqual((s.record as { narrativeText?: unknown }).narrativeText ?? null);
  });

  it('keeps references byte-exact but identifies by their trimmed form, as always', () => {
    const s = load('padded-references.json');
    const padded = normalizeTransactions(parseTransactionRecords([s.record]).records, new OccurrenceCounter())
      .records[0]!;
    const record = s.record as Record<string, unknown>;
    const trimmed = {
      ...record,
      bankReferenceSearchable: { standardValue: 'INV 001' },
      customerReferenceSearchable: { standardValue: '000123' },
    };
    const plain = normalizeTransactions([trimmed as WireTransaction], new OccurrenceCounter()).records[0]!;
    expect(padded.bankReference).toBe('INV 001   ');
    expect(padded.customerReference).toBe('000123');
    expect(padded.fingerprintKey).toBe(plain.fingerprintKey);
    expect(padded.contentHash).not.toBe(plain.contentHash);
  });

  it('a missing postCode with no request to tell is a reject naming postCode', () => {
    const s = load('missing-post-code-prior-day.json');
    const page = normalizeTransactions(parseTransactionRecords([s.record]).records, new OccurrenceCounter());
    expect(page.records).toEqual([]);
    expect(page.rejects).toEqual([expect.objectContaining({ index: 0, fields: ['postCode'] })]);
  });

  it('keeps a "__proto__" name the bank sends (in the record, its narrative, a nested object) as an own field, in the raw record and its hash', () => {
    const sample = (readJson('unicorn-finance/uf-transactions.json') as { data: Record<string, unknown>[] }).data[0]!;
    const odd = (record: Record<string, unknown>) =>
      JSON.stringify(record)
        .replace('{', '{"__proto__":{"a":"1"},')
        .replace('"narrativeText":{', '"narrativeText":{"__proto__":"TAG",')
        .replace('"baiType":{', '"baiType":{"__proto__":null,');
    // One record J.P. Morgan's schema takes (the fast check), one it does not (zod, then the money facts).
    for (const text of [odd(sample), odd({ ...sample, reversal: 'no' })]) {
      const { records, rejects } = parseTransactionRecords([parseJsonLossless(text)]);
      expect(rejects).toEqual([]);
      const t = normalizeTransactions(records, new OccurrenceCounter()).records[0]!;
      for (const [value, key] of [
        [t.raw, '{"a":"1"}'],
        [t.raw.narrativeText, '"TAG"'],
        [t.narrative, '"TAG"'],
        [t.raw.baiType, 'null'],
      ] as const) {
        expect(Object.getPrototypeOf(value)).toBe(Object.prototype);
        expect(Object.hasOwn(value as object, '__proto__')).toBe(true);
        expect(JSON.stringify((value as Record<string, unknown>)['__proto__'])).toBe(key);
      }
      // The raw record's JSON (stored, and hashed) holds the three, as sent.
      expect(t.rawJson!.match(/"__proto__":/g)).toHaveLength(3);
      expect(t.rawJson).toContain('"__proto__":{"a":"1"}');
    }
  });

  it('id-less identical records are separate occurrences with stable keys', () => {
    const s = load('missing-transaction-id.json');
    const three = [s.record, s.record, s.record];
    const keys = () =>
      normalizeTransactions(
        parseTransactionRecords(three).records as WireTransaction[],
        new OccurrenceCounter(),
      ).records.map((r) => r.fingerprintKey);
    expect(new Set(keys()).size).toBe(3);
    expect(keys()).toEqual(keys());
  });
});

/** Every string and key of a JSON value, for checking what a jsonb document would hold. */
function stringsOf(value: unknown): string[] {
  if (typeof value === 'string') {
    return [value];
  }
  if (value !== null && typeof value === 'object') {
    return Object.entries(value).flatMap(([k, v]) => [k, ...stringsOf(v)]);
  }
  return [];
}

describe('U+0000 and lone-surrogate escape for Postgres (src/shared/pg-text.ts)', () => {
  const samples = [
    '',
    'plain',
    '\u0000',
    'a\u0000b',
    '\u2400',
    '\u241b',
    '\u241b\u2400',
    '\u2400\u0000\u241b\u241b',
    'end\u241b',
    '\\u0000',
    '東京 👩\u200d👩\u200d👧 e\u0301 \u2028\u2029\t\n"\\',
    // Text cut between the two halves of an emoji, either half alone, halves in the wrong order.
    'PAYMENT THANKS \ud83d',
    '\ude00 low first',
    '\udc00\ud800',
    '\ud800\ud800\udfff',
    '\ud83d\u241bD83D',
    '\u241bD83D',
    '\u241b\ud83dD83D',
    '\\ud83d',
  ];

  it.each(samples.map((s) => [JSON.stringify(s), s]))(
    '%s round-trips, and the stored text has no NUL and no lone surrogate',
    (_, text) => {
      const stored = encodePgText(text);
      expect(stored).not.toContain('\u0000');
      expect(stored.isWellFormed()).toBe(true);
      expect(decodePgText(stored)).toBe(text);
    },
  );

  it('leaves text without NUL, ␀, ␛ or a lone surrogate exactly as it is', () => {
    for (const text of ['INV 001   ', '000123', '東京 "quoted" \\ back', '\u2028', '😀 \ud83d\ude01', 'D83D \\ud83d']) {
      expect(encodePgText(text)).toBe(text);
    }
  });

  it('writes a lone surrogate as ␛ and its hex digits', () => {
    expect(encodePgText('THANKS \ud83d')).toBe('THANKS \u241bD83D');
    expect(encodePgText('\udfff\ud800')).toBe('\u241bDFFF\u241bD800');
  });

  it('escapes every string and key of a JSON value, and the JSON text has no \\u0000 and no lone surrogate', () => {
    const value = {
      'k\u0000': ['\u0000', { '\u2400': 'x\u241by' }],
      n: '12.50',
      b: true,
      z: null,
      'cut \ud83d': { narrative: ['PAYMENT THANKS \ud83d', '\ude00', '😀'] },
    };
    const json = pgJsonText(value);
    expect(json).not.toContain('\\u0000');
    expect(json).not.toMatch(/\\ud[89a-f]/i);
    expect(stringsOf(JSON.parse(json)).every((s) => s.isWellFormed())).toBe(true);
    expect(decodePgJson(JSON.parse(json))).toEqual(value);
    const clean = { a: 'b', c: ['d', '😀'] };
    expect(encodePgJson(clean)).toBe(clean);
    expect(pgJsonText(clean)).toBe(JSON.stringify(clean));
  });

  it('keeps a "__proto__" name (an own property, as JSON.parse makes it) through the escape both ways', () => {
    const value = JSON.parse('{"__proto__":{"x":"\\u0000"},"a":["\\u0000",{"__proto__":"\\u2400"}]}') as unknown;
    const json = pgJsonText(value);
    expect(json).toBe('{"__proto__":{"x":"\u2400"},"a":["\u2400",{"__proto__":"\u241b\u2400"}]}');
    expect(JSON.stringify(decodePgJson(JSON.parse(json)))).toBe(JSON.stringify(value));
  });

  it('is unambiguous for every string over a small alphabet (exhaustive to length 4)', () => {
    // Lone halves that make a pair when adjacent, and text that looks like the escape of one.
    const alphabet = ['\u0000', '\u2400', '\u241b', 'a', '\ud83d', '\ude00', 'D83D'];
    let words = [''];
    const seen = new Map<string, string>();
    for (let len = 1; len <= 4; len++) {
      words = words.flatMap((w) => alphabet.map((c) => w + c));
      for (const w of words) {
        const e = encodePgText(w);
        expect(seen.get(e) ?? w).toBe(w);
        seen.set(e, w);
        expect(e.isWellFormed()).toBe(true);
        expect(decodePgText(e)).toBe(w);
      }
    }
  });

  it('round-trips any UTF-16 string, lone surrogates included (property)', () => {
    const unit = fc.oneof(
      fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)),
      fc.constantFrom('\u0000', '\u2400', '\u241b', '\ud83d', '\ude00', 'D', '8', '3'),
    );
    fc.assert(
      fc.property(fc.string({ unit }), (text) => {
        const stored = encodePgText(text);
        expect(stored.isWellFormed()).toBe(true);
        expect(stored).not.toContain('\u0000');
        expect(decodePgText(stored)).toBe(text);
        if (text.isWellFormed() && !['\u0000', '\u2400', '\u241b'].some((c) => text.includes(c))) {
          expect(stored).toBe(text);
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe('balances with odd fields (normalizeBalances)', () => {
  const account = (balanceList: unknown[]) => ({
    accountId: '000000010975001',
    currency: { code: 'USD', decimalLocation: '2' },
    balanceList: balanceList as WireBalance[],
  });
  const good = {
    asOfDate: '2026-11-03',
    currentDay: false,
    openingLedgerAmount: '100.00',
    endingLedgerAmount: '125.50',
  };

  it('stores a balance whose timestamp and available amounts are missing, null or unreadable, with nulls for them', () => {
    const { balances, rejects } = normalizeBalances([
      account([
        { ...good, recordTimestamp: 'noon', openingAvailableAmount: '1,5', endingAvailableAmount: { x: 1 } },
        { ...good, asOfDate: '2026-11-04', recordTimestamp: null },
      ]),
    ]);
    expect(rejects).toEqual([]);
    expect(
      balances.map((b) => [
        b.asOfDate,
        b.kind,
        b.openingLedgerMinor,
        b.endingLedgerMinor,
        b.openingAvailableMinor,
        b.endingAvailableMinor,
        b.recordTimestamp,
      ]),
    ).toEqual([
      ['2026-11-03', 'final', 10000n, 12550n, null, null, null],
      ['2026-11-04', 'final', 10000n, 12550n, null, null, null],
    ]);
    expect(balances[0]!.raw).toMatchObject({ recordTimestamp: 'noon', openingAvailableAmount: '1,5' });
  });

  it.each([
    ['no booking date', { ...good, asOfDate: undefined }, 'asOfDate: must be YYYY-MM-DD, got null'],
    ['currentDay not a boolean', { ...good, currentDay: 'false' }, 'currentDay: must be true or false'],
    ['a closing ledger amount that is not a number', { ...good, endingLedgerAmount: 'abc' }, 'endingLedgerAmount:'],
    [
      'a ledger amount of another type',
      { ...good, openingLedgerAmount: ['1'] },
      'openingLedgerAmount: must be a decimal number, got object',
    ],
    ['a ledger amount finer than the currency', { ...good, openingLedgerAmount: '1.005' }, 'openingLedgerAmount:'],
    ['not an object', null, '(balance): expected object'],
    [
      'a closing ledger amount that is null',
      { ...good, endingLedgerAmount: null },
      'endingLedgerAmount: is required but null',
    ],
    [
      'no opening ledger amount',
      { ...good, openingLedgerAmount: undefined },
      'openingLedgerAmount: is required but missing',
    ],
  ])('rejects a balance with %s, naming the field, and keeps the others', (_, bad, reason) => {
    const { balances, rejects } = normalizeBalances([account([good, bad])]);
    expect(balances).toHaveLength(1);
    expect(rejects).toHaveLength(1);
    expect(rejects[0]!.reason).toContain(reason);
    expect(rejects[0]!.raw).toEqual(bad);
  });

  it('keeps one of a balance given twice alike, and rejects each copy of one given twice with different amounts', () => {
    const other = { ...good, asOfDate: '2026-11-04' };
    const { balances, rejects } = normalizeBalances([
      account([good, { ...good }, other, { ...other, endingLedgerAmount: '125.51' }]),
    ]);
    expect(balances.map((b) => [b.asOfDate, b.kind, b.endingLedgerMinor])).toEqual([['2026-11-03', 'final', 12550n]]);
    expect(rejects.map((r) => r.reason)).toEqual([
      '(balance): the answer gives the final balance of 2026-11-04 2 times with different content',
      '(balance): the answer gives the final balance of 2026-11-04 2 times with different content',
    ]);
    expect(rejects.map((r) => r.raw)).toEqual([other, { ...other, endingLedgerAmount: '125.51' }]);
  });

  it('keeps one of a balance given twice with its amounts spelled another way (same values)', () => {
    const respelled = {
      ...good,
      openingLedgerAmount: `${String(good.openingLedgerAmount)}000`,
      endingLedgerAmount: '1.2550e2',
    };
    const { balances, rejects } = normalizeBalances([account([good, respelled])]);
    expect(rejects).toEqual([]);
    expect(balances.map((b) => [b.asOfDate, b.kind, b.endingLedgerMinor])).toEqual([['2026-11-03', 'final', 12550n]]);
    expect(balances[0]!.raw).toEqual(good);
  });

  it("keeps a balance's former hash what it always was (rows stored with it are not rewritten by the same text)", () => {
    const raw = { ...good, endingAvailableAmount: null };
    const [b] = normalizeBalances([account([raw])]).balances;
    expect(b!.formerContentHash).toBe(contentHash(['final', ['10000', null, '12550', null], raw]));
    expect(b!.contentHash).not.toBe(b!.formerContentHash);
  });

  it('keeps the final and the current-day balance of one day apart', () => {
    const { balances, rejects } = normalizeBalances([account([good, { ...good, currentDay: true }])]);
    expect(rejects).toEqual([]);
    expect(balances.map((b) => b.kind)).toEqual(['final', 'current_day']);
  });
});

describe('pending-to-posted matching compares references trimmed and case-folded (stored text stays exact)', () => {
  const cand = (id: string, over: Partial<MatchCandidate>): MatchCandidate => ({
    id,
    status: 'pending',
    booking_date: '2026-11-03',
    direction: 'credit',
    amount_minor: '100',
    bai_type_code: '195',
    bank_reference: 'INV 001   ',
    customer_reference: '000123',
    jpm_transaction_id: id,
    fingerprint_key: id,
    ...over,
  });

  it('links a padded pending reference to its posted one re-cased and trimmed, and keeps leading zeros significant', () => {
    const r = matchPending(
      [cand('p1', {}), cand('p2', { bank_reference: '', customer_reference: '000124', amount_minor: '50' })],
      [
        cand('q1', { status: 'posted', bank_reference: 'inv 001' }),
        cand('q2', { status: 'posted', bank_reference: '', customer_reference: '124', amount_minor: '55' }),
      ],
    );
    expect(r.superseded.map((s) => [s.pending.id, s.posted.id, s.rule])).toEqual([['p1', 'q1', 'exact']]);
    expect(r.removed.map((p) => p.id)).toEqual(['p2']);
  });
});
