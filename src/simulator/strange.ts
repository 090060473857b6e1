import { tag } from './catalog.ts';
import type { Prng } from './prng.ts';

/**
 * The stranger-than-the-bank behaviours (quirks `oddReferences`, `hostileNarratives`, `withdrawals`,
 * `oddFields`). Each draws from a stream of its own keyed by the item's content (bank reference and
 * time), never by its position, so switching one on changes only what it is about. Every string here
 * is valid Unicode (no lone surrogates): hostile, but text a bank can send in UTF-8 JSON.
 */

/** Hostile but valid text: what a narrative, a counterparty or a remark may hold. */
export const HOSTILE_TEXTS: readonly string[] = [
  'ACME 株式会社 東京都千代田区丸の内1-1 振込手数料',
  'شركة الخليج للخدمات اللوجستية ذ.م.م - الكويت',
  'חברת "בדיקה" בע"מ תל אביב',
  '\u202Ereversed RLO text\u202C then \u2067isolated\u2069',
  'family 👨‍👩‍👧‍👦 flag 🏳️‍🌈 skin 👍🏽 keycap 1️⃣',
  'Z̴̢̛a̷͎͠l̸̨͝g̵̡̛o̶̢͘ e\u0301\u0302\u0303\u0304 a\u0308',
  'line\u2028separator and\u2029paragraph separator',
  'tab\tinside\tand\nnew\r\nlines\r',
  'quotes "double" \'single\' `back` and \\backslash\\ and \\u0000 as six characters',
  'nul\u0000inside\u0000text',
  '\u0000',
  '\u0001\u0002\u0007\u001b[31m\u001f\u007f controls',
  '   leading and trailing blanks   ',
  "</script><script>alert(1)</script> '; DROP TABLE transactions; --",
  '{"json":"inside"} ${template} %s %n {{mustache}}',
  '\uFEFFbyte order mark, zero\u200Bwidth, non\u200Cjoiner, joiner\u200D',
  'Ünïcödé NFC / U\u0308ni\u0308co\u0308de\u0301 NFD',
  '𝔘𝔫𝔦𝔠𝔬𝔡𝔢 astral 𠜎𠜱𠝹 🀄',
  '\u0085next line \u00A0no-break \u3000ideographic space',
  '',
];

/** Tag keys that are themselves odd, each exactly 12 UTF-16 units like J.P. Morgan's padded keys. */
const HOSTILE_KEYS = [
  'NUL\u0000KEY    ',
  '備考        ',
  'ملاحظة      ',
  'EMOJI 👍    ',
  '            ',
  'TAB\tKEY    ',
] as const;

/** Counts code points, not UTF-16 units (an astral character is one code point, two units). */
export function codePoints(text: string): number {
  let n = 0;
  for (const _ of text) {
    n++;
  }
  return n;
}

/** A single value of at least `min` code points, mixing every hostile text (so astral, NUL and all). */
export function longText(rng: Prng, min: number): string {
  const parts: string[] = [];
  let n = 0;
  while (n < min) {
    const piece = `${rng.pick(HOSTILE_TEXTS)} ${rng.digits(6)} `;
    parts.push(piece);
    n += codePoints(piece);
  }
  return parts.join('');
}

/**
 * A hostile narrative: the item's own narrative with hostile values and keys mixed in, or 30+ tags, or
 * one value of 16k+ code points, or null / empty values.
 */
export function hostileNarrative(rng: Prng, base: Record<string, string | null>): Record<string, string | null> {
  const style = rng.pick(['mixed', 'mixed', 'many-tags', 'long', 'nulls'] as const);
  const out: Record<string, string | null> = { ...base };
  switch (style) {
    case 'mixed':
      for (let i = rng.int(1, 3); i > 0; i--) {
        out[rng.chance(0.3) ? rng.pick(HOSTILE_KEYS) : tag(`REMARK ${i}`)] = rng.pick(HOSTILE_TEXTS);
      }
      break;
    case 'many-tags':
      for (let i = 1, n = rng.int(30, 40); i <= n; i++) {
        out[tag(`TAG ${String(i).padStart(2, '0')}`)] = rng.chance(0.5)
          ? rng.pick(HOSTILE_TEXTS)
          : `VALUE ${rng.digits(8)}`;
      }
      break;
    case 'long':
      out[tag('REMARK')] = longText(rng, 16_384 + rng.int(0, 600));
      break;
    case 'nulls':
      out[tag('REMARK')] = null;
      out[tag('EMPTY')] = '';
      out[rng.pick(HOSTILE_KEYS)] = rng.pick(HOSTILE_TEXTS);
      break;
  }
  return out;
}

/** A reference as some banks and customers really type it: padded, zero-led, with odd blanks. */
export function oddReference(rng: Prng, reference: string): string {
  const styles = [
    () => `${reference || 'INV 001'}   `,
    () => `000${rng.digits(3)}`,
    () => `   ${reference || rng.digits(6)}`,
    () => 'INV 001   ',
    () => '000123',
    () => `0${rng.digits(7)}  `,
    () => `${reference || 'REF'}  ${rng.digits(4)}`,
    () => (reference || 'Ref-x').toLowerCase(),
  ];
  return rng.pick(styles)();
}

export interface Withdrawal {
  /** When the item leaves the snapshot: a fraction of the part of the day after it appeared. */
  at: number;
  /** When it comes back (same id), as the same kind of fraction; null when it never does (it never posts). */
  returnAt: number | null;
}

export function drawWithdrawal(rng: Prng): Withdrawal {
  const at = 0.1 + rng.unit() * 0.6;
  const back = rng.chance(0.5);
  const returnAt = at + (1 - at) * (0.2 + rng.unit() * 0.6);
  return { at, returnAt: back ? returnAt : null };
}

type WireRecord = Record<string, unknown>;

const DESCRIPTIVE = [
  'shortDescription',
  'wireType',
  'ddaTxnCode',
  'fundsTypeCode',
  'repairCode',
  'transactionStatus',
  'narrativeTypeCode',
  'floatSpreadCode',
] as const;
const AVAILABILITY = [
  'immediateAvailable',
  'day1Available',
  'day2Available',
  'day2PlusAvailable',
  'day3PlusAvailable',
] as const;
const TIMESTAMPS = [
  'asOfDateTime',
  'valueDateTime',
  'recordTimestamp',
  'receivedTimestamp',
  'loggedAt',
  'lastUpdate',
] as const;
const LOCKBOX = [
  'lockboxSequenceCode',
  'lockboxItems',
  'lockboxNumber',
  'lockboxDepositDate',
  'lockboxDepositTime',
  'checkNumber',
] as const;

function obj(value: unknown): WireRecord {
  return typeof value === 'object' && value !== null ? (value as WireRecord) : {};
}

/** The odd shapes of optional fields, by name (the name is kept in the record's marks for debugging). */
export const ODD_FIELDS: Readonly<Record<string, (r: WireRecord) => void>> = {
  'customerRef=null': (r) => {
    r.customerReferenceSearchable = null;
  },
  'customerRef={}': (r) => {
    r.customerReferenceSearchable = {};
  },
  'customerRef=missing': (r) => {
    delete r.customerReferenceSearchable;
  },
  'customerRef=nulls': (r) => {
    r.customerReferenceSearchable = { standardValue: null, searchValue: null };
  },
  'customerRef=empty': (r) => {
    r.customerReferenceSearchable = { standardValue: '', searchValue: '' };
  },
  'bankRef={}': (r) => {
    r.bankReferenceSearchable = {};
  },
  'bankRef=null': (r) => {
    r.bankReferenceSearchable = null;
  },
  'bankRef=missing': (r) => {
    delete r.bankReferenceSearchable;
  },
  'narrative=null': (r) => {
    r.narrativeText = null;
  },
  'narrative={}': (r) => {
    r.narrativeText = {};
  },
  'narrative=missing': (r) => {
    delete r.narrativeText;
  },
  'baiType=partial': (r) => {
    r.baiType = { typeCode: obj(r.baiType).typeCode };
  },
  'baiType=nulls': (r) => {
    r.baiType = Object.fromEntries(
      Object.keys(obj(r.baiType)).map((k) => [k, k === 'typeCode' ? obj(r.baiType).typeCode : null]),
    );
  },
  'baiType=missing': (r) => {
    delete r.baiType;
  },
  'accountName=empty': (r) => {
    obj(r.account).accountName = '';
  },
  'accountName=null': (r) => {
    obj(r.account).accountName = null;
  },
  'valueDate=null': (r) => {
    r.valueDate = null;
    r.valueDateTime = null;
  },
  'valueDate=missing': (r) => {
    delete r.valueDate;
    delete r.valueDateTime;
  },
  'timestamps=null': (r) => {
    for (const k of TIMESTAMPS) {
      r[k] = null;
    }
  },
  'availability=null': (r) => {
    for (const k of AVAILABILITY) {
      r[k] = null;
    }
  },
  'descriptive=empty': (r) => {
    for (const k of DESCRIPTIVE) {
      r[k] = '';
    }
  },
  'descriptive=missing': (r) => {
    for (const k of DESCRIPTIVE) {
      delete r[k];
    }
  },
  'productGroup={}': (r) => {
    r.productGroup = {};
  },
  'productGroup=null': (r) => {
    r.productGroup = null;
  },
  'flags=null': (r) => {
    r.override = null;
    r.thirdPartyBank = null;
    r.sepaType = null;
  },
  'lockbox=missing': (r) => {
    for (const k of LOCKBOX) {
      delete r[k];
    }
  },
  'lists=odd': (r) => {
    r.addenda = null;
    r.supplementalTextSet = null;
    r.achBatchItems = [];
    r.supplementalTextRecordList = [];
  },
  'currency=sparse': (r) => {
    for (const c of [obj(r.currency), obj(obj(r.account).currency)]) {
      delete c.description;
      delete c.currencySequence;
    }
  },
  'account=sparse': (r) => {
    const a = obj(r.account);
    for (const k of ['bankId', 'branchId', 'bankName', 'aba']) {
      delete a[k];
    }
  },
  extraField: (r) => {
    r.remittanceInformation = { lines: ['ADDED LATER', null, ''], structured: {} };
  },
};

const ODD_NAMES = Object.keys(ODD_FIELDS);

/** Share of records that get odd optional fields when the quirk is on. */
export const ODD_FIELD_SHARE = 0.4;

/**
 * Applies 1–4 odd field shapes to a rendered record (or none, for most records) and returns their
 * names. Only optional fields change: amount, debitCreditCode, currency code and decimalLocation,
 * asOfDate, account.accountId, transactionId and postCode are never touched.
 */
export function applyOddFields(rng: Prng, record: WireRecord): string[] {
  if (!rng.chance(ODD_FIELD_SHARE)) {
    return [];
  }
  const names = new Set<string>();
  for (let i = rng.int(1, 4); i > 0; i--) {
    names.add(rng.pick(ODD_NAMES));
  }
  for (const name of names) {
    ODD_FIELDS[name]?.(record);
  }
  return [...names];
}

const SHORT_ESCAPES: Readonly<Record<string, string>> = { b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };

/**
 * JSON text as a gateway or legacy system writes it: every control character inside a string (U+0000–U+001F, a TAB or
 * line feed in a narrative) raw, without the escape RFC 8259 asks for. Every other escape stays (`\\` is matched as a
 * whole, so the `t` of `\\t` is text).
 */
export function rawControlCharacters(json: string): string {
  return json.replace(/\\(?:([bfnrt])|u00([01][0-9a-fA-F])|[^])/g, (escape, short?: string, hex?: string) =>
    short !== undefined
      ? (SHORT_ESCAPES[short] ?? escape)
      : hex !== undefined
        ? String.fromCharCode(Number.parseInt(hex, 16))
        : escape,
  );
}
