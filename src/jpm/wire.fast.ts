import { toMinorUnits } from '../shared/money.ts';
import { isInstant, isIsoDate } from '../shared/time.ts';
import {
  CURRENCY_CODE,
  INTEGER,
  LOCAL_OR_INSTANT,
  MAX_DECIMAL_LOCATION,
  SIGNED_DECIMAL,
  UNSIGNED_DECIMAL,
  wholeNumberOf,
} from './wire.primitives.ts';
import type { WireTransactionRecord } from './wire.schemas.ts';

/**
 * A hand-written check of `transactionSchema` (wire.schemas.ts) for the records that pass it, which is
 * every record J.P. Morgan normally sends: the zod schema took a fifth of the worker's own CPU per record.
 * It returns exactly what `transactionSchema.parse` returns (the same keys in the same order, nested objects
 * and arrays copied as zod copies them, `decimalLocation` and `currencySequence` as numbers), or `undefined`
 * whenever the record is anything else; the caller then asks zod, which decides and words every problem.
 * So it never needs to know why a record fails; it also declines objects that `JSON.parse` cannot make (another
 * prototype), which zod may accept. Kept in step with the schema by a property test
 * (tests/unit/wire-fast.property.test.ts): change both together.
 */

const FAIL: unique symbol = Symbol('fail');
type Check = (value: unknown) => unknown;

interface Field {
  key: string;
  check: Check;
  /** `.nullish()`: may be absent (then left out) or null/undefined (then kept as sent). */
  nullish: boolean;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * An object as `JSON.parse` makes it (zod's `isPlainObject`, which records use, holds for every such object);
 * an object of another prototype goes to zod.
 */
function isJsonObject(value: unknown): value is Record<string, unknown> {
  return isObject(value) && Object.getPrototypeOf(value) === Object.prototype;
}

const string: Check = (v) => (typeof v === 'string' ? v : FAIL);
const nonEmpty: Check = (v) => (typeof v === 'string' && v.length >= 1 ? v : FAIL);
const boolean: Check = (v) => (typeof v === 'boolean' ? v : FAIL);
const isoDate: Check = (v) => (typeof v === 'string' && isIsoDate(v) ? v : FAIL);
const direction: Check = (v) => (v === 'CREDIT' || v === 'DEBIT' ? v : FAIL);

function matching(pattern: RegExp): Check {
  return (v) => (typeof v === 'string' && pattern.test(v) ? v : FAIL);
}

/** `intText(max)` of wire.primitives.ts: the same reading of the text (`wholeNumberOf`), FAIL for its every issue. */
function intText(max: number): Check {
  return (v) => {
    if (typeof v !== 'string') {
      return FAIL;
    }
    const n = wholeNumberOf(v);
    return typeof n === 'number' && n <= max ? n : FAIL;
  };
}

/** `z.array(z.unknown())`: a new array holding the same elements. */
const array: Check = (v) => {
  if (!Array.isArray(v)) {
    return FAIL;
  }
  const out: unknown[] = new Array<unknown>(v.length);
  for (let i = 0; i < v.length; i++) {
    out[i] = v[i];
  }
  return out;
};

/**
 * A `__proto__` name of the bank's object, as its own field of our copy (an assignment would change the copy's
 * prototype instead): put last, where `keepProtoNames` puts it on zod's copy.
 */
function defineProto(out: Record<string, unknown>, value: unknown): void {
  Object.defineProperty(out, '__proto__', { value, enumerable: true, writable: true, configurable: true });
}

/**
 * What `parseTransactionRecords` makes of zod's copy of `raw`: every `__proto__` name of `raw` (zod leaves it out)
 * put back as an own field of the copy of its object, last, with its value as sent, so the stored raw record and its
 * hash hold what the bank sent. Objects the copy shares with `raw` are left as they are (they hold it already).
 */
export function keepProtoNames(raw: unknown, out: unknown): void {
  if (raw === out || typeof raw !== 'object' || raw === null || typeof out !== 'object' || out === null) {
    return;
  }
  if (Array.isArray(raw)) {
    if (Array.isArray(out)) {
      raw.forEach((item, i) => keepProtoNames(item, out[i]));
    }
    return;
  }
  const copy = out as Record<string, unknown>;
  for (const [key, value] of Object.entries(raw)) {
    if (key === '__proto__') {
      if (!Object.hasOwn(copy, key)) {
        defineProto(copy, value);
      }
    } else if (Object.hasOwn(copy, key)) {
      keepProtoNames(value, copy[key]);
    }
  }
}

/** `z.record(z.string(), value)` over a plain JSON object: a new object, a `__proto__` name kept last as sent. */
function record(value: Check): Check {
  return (v) => {
    if (!isJsonObject(v)) {
      return FAIL;
    }
    const out: Record<string, unknown> = {};
    let proto = false;
    for (const key in v) {
      if (key === '__proto__') {
        proto = true;
        continue;
      }
      const r = value(v[key]);
      if (r === FAIL) {
        return FAIL;
      }
      out[key] = r;
    }
    if (proto) {
      defineProto(out, v.__proto__);
    }
    return out;
  };
}

/**
 * The generated code's copy of the names the shape does not know, in the order sent; a `__proto__` name last, as
 * its own field (`defineProto`).
 */
const REST = `let proto = false;
      for (const key in input) { if (!known.has(key)) { if (key === '__proto__') { proto = true; } else { out[key] = input[key]; } } }
      if (proto) { defineProto(out, input.__proto__); }`;

/** Compiled layouts kept per object shape: the sets of absent nullish keys seen first (a bank sends a few). */
const MAX_LAYOUTS = 32;

/**
 * `z.looseObject(shape)`: the shape's keys in shape order (an absent nullish key stays absent), then every
 * other key as sent. Compiled to straight-line code with the keys as literals, as zod compiles its own
 * object parser: stores under a computed key in a loop cost more than the checks themselves.
 *
 * The copy is made by one object literal of the present keys (a function compiled per set of absent nullish
 * keys, the first `MAX_LAYOUTS` seen): adding a record's ~60 keys one by one to `{}` regrew its property store
 * ~20 times, ~4 kB of garbage per record (a third of the worker's allocation before normalization).
 */
function looseObject(fields: readonly Field[]): Check {
  const known = new Set(fields.map((f) => f.key));
  const checks = fields.map((f) => f.check);
  const optional = fields.flatMap((f, i) => (f.nullish ? [i] : []));
  if (optional.length > 30 || known.has('__proto__')) {
    throw new Error('looseObject: at most 30 nullish keys, and no __proto__ key');
  }
  const compile = (absent: number): Check => {
    const present = fields
      .map((f, i) => ({ ...f, i }))
      .filter(({ nullish, i }) => !nullish || (absent & (1 << optional.indexOf(i))) === 0);
    const lines = present.map(({ key, nullish, i }) => {
      const k = JSON.stringify(key);
      const read = nullish ? '' : `if (!(${k} in input)) { return FAIL; } `;
      const value = nullish ? `if (v === null || v === undefined) { r${i} = v; } else ` : '';
      return `${read}v = input[${k}]; ${value}{ r${i} = checks[${i}](v); if (r${i} === FAIL) { return FAIL; } }`;
    });
    const body = `return function looseObjectLayout(input) {
      let v${present.map(({ i }) => `, r${i}`).join('')};
      ${lines.join('\n      ')}
      const out = { ${present.map(({ key, i }) => `${JSON.stringify(key)}: r${i}`).join(', ')} };
      ${REST}
      return out;
    };`;
    // eslint-disable-next-line @typescript-eslint/no-implied-eval -- generated from the constant field list above, no outside text
    return (new Function('checks', 'known', 'FAIL', 'defineProto', body) as (...args: unknown[]) => Check)(
      checks,
      known,
      FAIL,
      defineProto,
    );
  };
  // Which nullish keys are absent, as a bit mask (bit j: the j-th nullish field).
  const maskBody = `return function absentMask(input) {
    let m = 0;
    ${optional.map((i, j) => `if (!(${JSON.stringify(fields[i]!.key)} in input)) { m |= ${1 << j}; }`).join('\n    ')}
    return m;
  };`;
  // eslint-disable-next-line @typescript-eslint/no-implied-eval -- generated from the constant field list above, no outside text
  const absentMask = (new Function(maskBody) as () => (input: Record<string, unknown>) => number)();
  // Past MAX_LAYOUTS: the keys added one by one, in the same order.
  const lines = fields.map(({ key, nullish }, i) => {
    const k = JSON.stringify(key);
    const absent = nullish ? '' : ' else { return FAIL; }';
    const nullable = nullish ? 'if (v === null || v === undefined) { out[' + k + '] = v; } else ' : '';
    return `if (${k} in input) { v = input[${k}]; ${nullable}{ r = checks[${i}](v); if (r === FAIL) { return FAIL; } out[${k}] = r; } }${absent}`;
  });
  const incrementalBody = `return function looseObject(input) {
    const out = {};
    let v, r;
    ${lines.join('\n    ')}
    ${REST}
    return out;
  };`;
  const incremental =
    // eslint-disable-next-line @typescript-eslint/no-implied-eval -- generated from the constant field list above, no outside text
    (new Function('checks', 'known', 'FAIL', 'defineProto', incrementalBody) as (...args: unknown[]) => Check)(
      checks,
      known,
      FAIL,
      defineProto,
    );
  const layouts = new Map<number, Check>();
  return (input) => {
    if (!isJsonObject(input)) {
      return FAIL;
    }
    const mask = absentMask(input);
    let layout = layouts.get(mask);
    if (layout === undefined) {
      if (layouts.size >= MAX_LAYOUTS) {
        return incremental(input);
      }
      layout = compile(mask);
      layouts.set(mask, layout);
    }
    return layout(input);
  };
}

const req = (key: string, check: Check): Field => ({ key, check, nullish: false });
const opt = (key: string, check: Check): Field => ({ key, check, nullish: true });

const signedDecimal = matching(SIGNED_DECIMAL);
const unsignedDecimal = matching(UNSIGNED_DECIMAL);
const instant: Check = (v) => (typeof v === 'string' && isInstant(v) ? v : FAIL);

const currency = looseObject([
  req('code', matching(CURRENCY_CODE)),
  req('description', string),
  req('decimalLocation', intText(MAX_DECIMAL_LOCATION)),
  req('currencySequence', intText(1_000_000)),
]);
const searchable = looseObject([req('standardValue', string), opt('searchValue', string)]);

const transaction = looseObject([
  req('transactionId', nonEmpty),
  req(
    'account',
    looseObject([
      req('accountId', nonEmpty),
      req('accountName', string),
      req('bankId', string),
      req('branchId', string),
      req('bankName', string),
      req('currency', currency),
      req('aba', string),
      opt('swift', string),
    ]),
  ),
  req('asOfDate', isoDate),
  req('asOfDateTime', string),
  req('valueDate', isoDate),
  req('valueDateTime', instant),
  req('recordTimestamp', instant),
  req('receivedTimestamp', instant),
  opt('lastUpdate', string),
  req('loggedAt', matching(LOCAL_OR_INSTANT)),
  req('debitCreditCode', direction),
  req('amount', unsignedDecimal),
  req('currency', currency),
  req(
    'baiType',
    looseObject([
      req('typeCode', matching(/^\d{3}$/)),
      req('summaryTypeCode', string),
      req('description', string),
      req('shortDescription', string),
      req('groupCode', string),
      req('groupDescription', string),
      req('productGroupCode', string),
      req('btrsTypeCode', string),
      req('germanTypeCode', string),
      req('swiftTypeCode', string),
    ]),
  ),
  req('ddaTxnCode', string),
  opt('originalTransactionCode', string),
  req('productGroup', looseObject([req('groupCode', string), req('groupDescription', string), req('wire', boolean)])),
  req('fundsTypeCode', string),
  req('immediateAvailable', signedDecimal),
  req('day1Available', signedDecimal),
  req('day2Available', signedDecimal),
  opt('day2PlusAvailable', signedDecimal),
  req('day3PlusAvailable', signedDecimal),
  req('bankReferenceSearchable', searchable),
  req('customerReferenceSearchable', searchable),
  opt('wireReferenceSearchable', searchable),
  req('repairCode', string),
  req('reversal', boolean),
  req('override', boolean),
  req('thirdPartyBank', boolean),
  req('sepaType', boolean),
  req('transactionStatus', string),
  req('postCode', nonEmpty),
  req('shortDescription', string),
  req('wireType', string),
  req('checkNumber', matching(INTEGER)),
  opt('lockboxSequenceCode', string),
  opt('lockboxItems', signedDecimal),
  opt('lockboxNumber', string),
  opt('lockboxDepositDate', string),
  opt('lockboxDepositTime', string),
  opt('lockbox', looseObject([])),
  opt(
    'narrativeText',
    record((v) => (v === null || typeof v === 'string' ? v : FAIL)),
  ),
  req('narrativeTypeCode', string),
  opt('addenda', array),
  opt('achBatchItems', array),
  req('floatSpreadCode', string),
  opt('sepaDetailsXml', string),
  opt(
    'supplementalTextSet',
    record((v) => v),
  ),
  opt('supplementalTextRecordList', array),
  opt('supplementalText', string),
]);

const AMOUNTS = [
  'amount',
  'immediateAvailable',
  'day1Available',
  'day2Available',
  'day2PlusAvailable',
  'day3PlusAvailable',
] as const;

/** `transactionSchema.parse(raw)` when the record passes it and is plain JSON; otherwise `undefined` (ask zod). */
export function checkTransactionFast(raw: unknown): WireTransactionRecord | undefined {
  const out = transaction(raw);
  if (out === FAIL) {
    return undefined;
  }
  const txn = out as Record<string, unknown> & { currency: { decimalLocation: number } };
  const scale = txn.currency.decimalLocation;
  // The schema's scale refinement: every amount must fit the currency's decimal places.
  for (const field of AMOUNTS) {
    const text = txn[field];
    if (typeof text === 'string' && !fitsScale(text, scale)) {
      return undefined;
    }
  }
  return out as WireTransactionRecord;
}

/**
 * Whether `toMinorUnits(text, scale)` succeeds, for a text that matched the decimal grammar: without an
 * exponent, when every decimal past the currency's places is a zero; with one, `toMinorUnits` decides.
 */
function fitsScale(text: string, scale: number): boolean {
  if (text.includes('e') || text.includes('E')) {
    try {
      toMinorUnits(text, scale);
      return true;
    } catch {
      return false;
    }
  }
  const dot = text.indexOf('.');
  if (dot >= 0) {
    for (let i = dot + 1 + scale; i < text.length; i++) {
      if (text.charCodeAt(i) !== 48) {
        return false;
      }
    }
  }
  return true;
}
