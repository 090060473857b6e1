import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkTransactionFast, keepProtoNames } from '../../src/jpm/wire.fast.ts';
import { transactionSchema } from '../../src/jpm/wire.schemas.ts';
import { parseJsonLossless } from '../../src/shared/json.ts';

/**
 * `checkTransactionFast` (src/jpm/wire.fast.ts) is the common case of `transactionSchema` without zod. The
 * definition it must match is the schema itself: whenever it answers, zod accepts the record and returns the
 * same value (the bank's `__proto__` names kept, `keepProtoNames`, as `parseTransactionRecords` does), key order
 * and types included (the stored raw record and its content hash are made from that value); and for every record
 * that comes out of JSON, it answers whenever zod accepts.
 */

const FIXTURES = join(import.meta.dirname, '../fixtures/jpm');
const readJson = (file: string): unknown => parseJsonLossless(readFileSync(join(FIXTURES, file), 'utf8'));

const samples = ['unicorn-finance/uf-transactions.json', 'jpmorganchase-payments/uf-transactions.json'].flatMap(
  (file) => (readJson(file) as { data: unknown[] }).data,
);
const scenarios = ['ok', 'reject'].flatMap((dir) =>
  readdirSync(join(FIXTURES, dir))
    .filter((f) => f.endsWith('.json'))
    .map((f) => ({ file: `${dir}/${f}`, record: (readJson(`${dir}/${f}`) as { record: unknown }).record })),
);

/** The value written out with its key order, each value's type and each object's prototype: equal text, same value. */
function exact(value: unknown): string {
  if (Array.isArray(value)) {
    return `[${Array.from({ length: value.length }, (_, i) => (i in value ? exact(value[i]) : '<hole>')).join(',')}]`;
  }
  if (value !== null && typeof value === 'object') {
    const proto = Object.getPrototypeOf(value) === Object.prototype ? '' : '<proto>';
    const keys = Reflect.ownKeys(value).map((k) => `${String(k)}=${exact((value as Record<PropertyKey, unknown>)[k])}`);
    return `${proto}{${keys.join(',')}}`;
  }
  return `${typeof value}:${String(value)}`;
}

/** The property: an answer from the fast check is zod's answer; from JSON, zod's acceptance is the fast check's. */
function agrees(raw: unknown, fromJson: boolean): void {
  const fast = checkTransactionFast(raw);
  const zod = transactionSchema.safeParse(raw, { reportInput: true });
  if (fast !== undefined) {
    expect(zod.success).toBe(true);
    // What parseTransactionRecords makes of zod's value: the bank's "__proto__" names kept (zod leaves them out).
    keepProtoNames(raw, zod.data);
    expect(exact(fast)).toBe(exact(zod.data));
    expect(JSON.stringify(fast)).toBe(JSON.stringify(zod.data));
  } else if (fromJson) {
    expect(zod.success).toBe(false);
  }
}

/** Values a field may be given: nulls, empties, every kind of JSON value, and texts near each grammar's edges. */
const ODD_VALUES: unknown[] = [
  null,
  '',
  'x',
  ' ',
  '0',
  '1',
  '01',
  '-1',
  '-0',
  '12.5',
  '12.50',
  '12.500',
  '12.505',
  '0.001',
  '1e2',
  '1E-2',
  '1.5e-1',
  '12,50',
  '+1',
  '9223372036854775808',
  '1e400',
  // Whole numbers written with a fraction of zero or an exponent (the same number), and real fractions.
  '2.0',
  '2.00',
  '18.0',
  '19.0',
  '20e-1',
  '1.8e1',
  '0.0',
  '-0.0',
  '2.5',
  '2.000000000000000000001',
  '1000000.0',
  '1e-400',
  '2024-02-29',
  '2023-02-29',
  '0099-01-01',
  '2022-09-30T15:00:12Z',
  '2022-09-30T15:00:12.5+01:00',
  '2026-02-30T14:60:00+25:00',
  '2022-09-30T24:00:00Z',
  '2022-09-30T11:00:12.722739',
  '1T16:59:22Z',
  'CREDIT',
  'DEBIT',
  'credit',
  'USD',
  'usd',
  'US',
  '123',
  '12a',
  '18',
  '19',
  '1000000',
  '1000001',
  'I',
  'P',
  true,
  false,
  0,
  [],
  ['a', null],
  {},
  { a: 'b' },
  { 'YOUR REF    ': 'x', k: null },
  { k: 1 },
  { k: {} },
];

/** Where a mutation lands: top-level fields, nested fields, and keys the schema does not name. */
const PATHS: string[][] = [
  ...Object.keys(samples[0] as object).map((k) => [k]),
  ...['accountId', 'accountName', 'bankId', 'swift', 'currency', 'extra'].map((k) => ['account', k]),
  ...['code', 'description', 'decimalLocation', 'currencySequence', 'extra'].map((k) => ['currency', k]),
  ...['code', 'decimalLocation', 'currencySequence'].map((k) => ['account', 'currency', k]),
  ...['typeCode', 'summaryTypeCode', 'extra'].map((k) => ['baiType', k]),
  ...['groupCode', 'wire'].map((k) => ['productGroup', k]),
  ...['standardValue', 'searchValue', 'extra'].map((k) => ['bankReferenceSearchable', k]),
  ['customerReferenceSearchable', 'searchValue'],
  ['wireReferenceSearchable'],
  ['narrativeText', 'REF '],
  ['narrativeText', '__proto__'],
  ['lockbox'],
  ['lockbox', 'number'],
  ['lockbox', '__proto__'],
  ['supplementalTextSet'],
  ['supplementalTextSet', 'k'],
  ['addenda'],
  ['achBatchItems'],
  ['day2PlusAvailable'],
  ['lockboxItems'],
  ['extraField'],
  ['__proto__'],
  ['constructor'],
  ['toString'],
  ['0'],
];

type Mutation = { path: string[]; value: unknown; raw?: boolean } | { path: string[]; delete: true };

function mutate(base: unknown, mutations: readonly Mutation[]): unknown {
  const record = structuredClone(base) as Record<string, unknown>;
  for (const m of mutations) {
    let parent: unknown = record;
    for (const key of m.path.slice(0, -1)) {
      parent =
        parent !== null && typeof parent === 'object' && Object.hasOwn(parent, key)
          ? (parent as Record<string, unknown>)[key]
          : undefined;
    }
    if (parent === null || typeof parent !== 'object' || Array.isArray(parent)) {
      continue;
    }
    const last = m.path.at(-1) as string;
    if ('delete' in m) {
      delete (parent as Record<string, unknown>)[last];
    } else {
      // defineProperty: an own "__proto__" key, as JSON.parse makes it, not a prototype change.
      // Cloned so one record's mutation never leaks into another; values JSON cannot make are set as they are
      // (structuredClone would turn a null-prototype object into a plain one).
      const value = m.raw === true ? m.value : structuredClone(m.value);
      Object.defineProperty(parent, last, { value, enumerable: true, writable: true, configurable: true });
    }
  }
  return record;
}

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ path: fc.constantFrom(...PATHS), value: fc.constantFrom(...ODD_VALUES) }),
  fc.record({
    path: fc.constantFrom(...PATHS),
    value: fc.oneof(fc.string(), fc.stringMatching(/^(0|[1-9]\d{0,20})(\.\d{1,4})?([eE][+-]?\d{1,2})?$/)),
  }),
  fc.record({ path: fc.constantFrom(...PATHS), delete: fc.constant(true as const) }),
);
const mutatedRecord = fc
  .tuple(fc.constantFrom(...samples, ...scenarios.map((s) => s.record)), fc.array(mutation, { maxLength: 4 }))
  .map(([base, mutations]) => mutate(base, mutations));

describe('checkTransactionFast: the wire schema without zod (property)', () => {
  it("takes every J.P. Morgan sample record, with zod's value", () => {
    expect(samples).toHaveLength(304);
    for (const raw of samples) {
      expect(checkTransactionFast(raw)).toBeDefined();
      agrees(raw, true);
    }
  });

  it.each(scenarios)('agrees with zod on $file', ({ record }) => {
    agrees(record, true);
  });

  it("agrees with zod on records with fields removed, nulled, retyped or near their grammar's edges, as read from JSON", () => {
    fc.assert(
      fc.property(mutatedRecord, (record) => {
        agrees(parseJsonLossless(JSON.stringify(record)), true);
      }),
      { numRuns: 3000 },
    );
  });

  it('never answers differently from zod on values JSON cannot make (undefined, other prototypes, holes)', () => {
    const odd = fc.constantFrom<unknown>(
      undefined,
      new Date(0),
      Object.create(null),
      Object.assign(Object.create(null), { a: 'b' }),
      new Array<unknown>(2).fill('x', 1),
      new Map(),
    );
    fc.assert(
      fc.property(mutatedRecord, fc.constantFrom(...PATHS), odd, (record, path, value) => {
        agrees(mutate(record, [{ path, value, raw: true }]), false);
      }),
      { numRuns: 1500 },
    );
  });
});
