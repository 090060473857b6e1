import type { Direction, RecordSource } from '../domain/types.ts';
import { dataQualityOf, pageIndexOf, type DataQualityNote } from '../jpm/records.ts';
import type { WireTransaction } from '../jpm/wire.schemas.ts';
import { hasBankId } from '../shared/ids.ts';
import { toStorableMinorUnits } from '../shared/money.ts';
import { isIsoDate } from '../shared/time.ts';
import {
  canonicalJson,
  contentHashWithLast,
  fingerprint,
  fingerprintKey,
  isIdentityId,
  type NumericMembers,
  type OccurrenceCounter,
  type RecordClass,
} from './identity.ts';

const CURRENCY_NUMBERS: NumericMembers = { decimalLocation: true, currencySequence: true };

/**
 * The members of a transaction record that J.P. Morgan sends as JSON numbers (wire.schemas.ts): their value is the
 * content, not how the bank's serializer spelled it (`100.5`, `100.50`, `1.005e2`). `checkNumber` is an identifier
 * (digits, compared exactly) and is not one of them.
 */
export const TRANSACTION_NUMBERS: NumericMembers = {
  amount: true,
  immediateAvailable: true,
  day1Available: true,
  day2Available: true,
  day2PlusAvailable: true,
  day3PlusAvailable: true,
  lockboxItems: true,
  currency: CURRENCY_NUMBERS,
  account: { currency: CURRENCY_NUMBERS },
};

/** What a record's meaning holds besides its raw record: the stored columns that follow from it. */
export interface ContentColumns {
  amountMinor: string;
  direction: string;
  bookingDate: string;
  valueDate: string | null;
  baiTypeCode: string | null;
  baiSummaryCode: string | null;
  bankReference: string;
  customerReference: string;
}

/**
 * A record's content as its meaning, as text: its stored columns exactly, and its raw record by `canonicalJson`
 * (numbers of `TRANSACTION_NUMBERS` by value, members in any order, a null member as absent). Two records, or a record
 * and a stored row (src/sync/ingest.ts reads the row's columns and raw record), with the same meaning are the same
 * content: the bank sending `100.50` for `100.5`, its members reordered or a null member left out; any other change (a
 * value, a reference's bytes, a date, any other field) makes another. Made only where the content hashes differ (the
 * hash is over the exact text, `normalizeTransaction`), so a page sent again as it was never pays for it.
 */
export function contentMeaning(c: ContentColumns, raw: unknown): string {
  const parts = [
    c.amountMinor,
    c.direction,
    c.bookingDate,
    c.valueDate,
    c.baiTypeCode,
    c.baiSummaryCode,
    c.bankReference,
    c.customerReference,
  ];
  return `${JSON.stringify(parts).slice(0, -1)},${canonicalJson(raw, TRANSACTION_NUMBERS)}]`;
}

/**
 * A normalized record's `contentMeaning`; undefined for a record not made by `normalizeTransaction` (a statement file's
 * line: its hash is over its parsed fields, never over a raw record's text, so equal hashes are its only sameness).
 */
export function recordMeaning(t: NormalizedTransaction): string | undefined {
  return t.rawJson === undefined
    ? undefined
    : contentMeaning(
        {
          amountMinor: t.amountMinor.toString(),
          direction: t.direction,
          bookingDate: t.bookingDate,
          valueDate: t.valueDate,
          baiTypeCode: t.baiTypeCode,
          baiSummaryCode: t.baiSummaryCode,
          bankReference: t.bankReference,
          customerReference: t.customerReference,
        },
        t.raw,
      );
}

/**
 * Whether two records of one walk hold the same content: the same hash (the same text), or, when the text differs,
 * the same `recordMeaning`.
 */
export function sameRecordContent(a: NormalizedTransaction, b: NormalizedTransaction): boolean {
  if (a.contentHash === b.contentHash) {
    return true;
  }
  const meaning = recordMeaning(a);
  return meaning !== undefined && meaning === recordMeaning(b);
}

/** A J.P. Morgan transaction record mapped to our model; pure, no I/O, no clock. */
export interface NormalizedTransaction {
  jpmAccountId: string;
  /** The bank's `transactionId` exactly as sent; '' when it sent none (see `identityById`). */
  jpmTransactionId: string;
  /** Whether `jpmTransactionId` is an identity key (`isIdentityId`); if not, identity is `fingerprintKey` alone. */
  identityById: boolean;
  recordClass: RecordClass;
  status: 'pending' | 'posted';
  direction: Direction;
  amountMinor: bigint;
  currency: string;
  decimalLocation: number;
  bookingDate: string;
  valueDate: string | null;
  baiTypeCode: string | null;
  baiSummaryCode: string | null;
  /** The bank's reference text exactly as sent ('' when none): padding, case and leading zeros kept. */
  bankReference: string;
  customerReference: string;
  /** A readable summary (short description, then narrative tags, trimmed); `narrative` is the exact text. */
  description: string;
  /** The bank's `narrativeText` exactly as sent (tag keys keep their padding), or null when absent. */
  narrative: unknown;
  /** Fields that were missing, null or odd, and what we did about them; null for a record without any. */
  dataQuality: DataQualityNote[] | null;
  fingerprintKey: string;
  contentHash: string;
  /**
   * `JSON.stringify(raw)`, when normalization made it (for the content hash): storage sends this text
   * instead of serializing the ~2 kB record a second time. Absent when a record was built another way.
   */
  rawJson?: string;
  /** The channel the record came from; identity never depends on it (README, "Statement files"). */
  source: RecordSource;
  raw: WireTransaction;
}

export interface NormalizationReject {
  index: number;
  reason: string;
  raw: unknown;
  /** The fields the reason names. */
  fields?: string[];
}

export interface NormalizedPage {
  records: NormalizedTransaction[];
  rejects: NormalizationReject[];
}

/**
 * What the bank was asked for. It decides the record class when a record's `postCode` is missing or
 * odd: J.P. Morgan's current-day view holds intraday items (`I`) and its prior-day and history views
 * posted ones (`P`), as every sample file and the simulator show.
 */
export type RequestedView = 'current_day' | 'prior_day' | 'history';

export interface NormalizeContext {
  requested?: RequestedView;
  /** The channel, recorded on the rows: `jpm_api` unless an adapter says otherwise. */
  source?: RecordSource;
  /** The account's currency and scale: a record in another is a reject (`accountCurrencyProblem`). */
  account?: AccountCurrency;
}

/** The currency an account is held in, and its decimal location: the scale its balance proof counts in. */
export interface AccountCurrency {
  currency: string;
  decimalLocation: number;
}

/**
 * Why a record cannot be stored as its account's, or undefined when its currency and scale are the account's. The
 * account's proofs add its amounts as minor units of its own currency and scale: a record in another (one window of a
 * range answering with another code or decimal location, one entry of a statement in another currency) would be
 * summed at the wrong value, so it is a reject naming both, as a balance in another currency is.
 */
export function accountCurrencyProblem(
  record: { currency: string; decimalLocation: number },
  account: AccountCurrency,
): string | undefined {
  if (record.currency === account.currency && record.decimalLocation === account.decimalLocation) {
    return undefined;
  }
  return (
    `currency: the record is in ${record.currency} with ${record.decimalLocation} decimal places, ` +
    `the account is in ${account.currency} with ${account.decimalLocation}; its amount cannot be counted as the account's`
  );
}

class RecordError extends Error {
  readonly field: string;
  constructor(field: string, message: string) {
    super(message);
    this.field = field;
  }
}

function text(value: unknown): string | null {
  return typeof value === 'string' ? value : null;
}

function member(value: unknown, key: string): unknown {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
    ? (value as Record<string, unknown>)[key]
    : undefined;
}

/** White space other than a single space, or a run of it: what `squeeze` replaces. */
const NOT_SINGLE_SPACE = /[^\S ]|\s\s/;

/** `text.replace(/\s+/g, ' ')`, without making a new string when every white-space run is already one space. */
function squeeze(text: string): string {
  return NOT_SINGLE_SPACE.test(text) ? text.replace(/\s+/g, ' ') : text;
}

/**
 * A readable description: the bank's short description, then the narrative tags. J.P. Morgan pads
 * tag keys to 12 characters ("YOUR REF    "); keys and values are trimmed and empty ones dropped.
 */
export function describe(shortDescription: unknown, narrative: unknown): string {
  const short = (text(shortDescription) ?? '').trim();
  let tags = '';
  if (narrative !== null && typeof narrative === 'object' && !Array.isArray(narrative)) {
    const fields = narrative as Record<string, unknown>;
    for (const key of Object.keys(fields)) {
      const value = fields[key];
      const k = key.trim();
      const v = typeof value === 'string' ? squeeze(value.trim()) : '';
      if (k && v) {
        tags = tags === '' ? `${k}: ${v}` : `${tags}; ${k}: ${v}`;
      }
    }
  }
  return short && tags ? `${short} | ${tags}` : short || tags;
}

/** J.P. Morgan's CREDIT or DEBIT, in any case (`credit`, `Debit`): the direction is plain either way. */
function direction(code: unknown): Direction {
  const lower = typeof code === 'string' ? code.toLowerCase() : undefined;
  if (lower === 'credit' || lower === 'debit') {
    return lower;
  }
  throw new RecordError('debitCreditCode', `debitCreditCode: must be CREDIT or DEBIT, got ${JSON.stringify(code)}`);
}

const VIEW_CLASS: Record<RequestedView, RecordClass> = { current_day: 'I', prior_day: 'P', history: 'P' };
const VIEW_NAME: Record<RequestedView, string> = {
  current_day: 'current-day',
  prior_day: 'prior-day',
  history: 'history',
};

function recordClass(postCode: unknown, context: NormalizeContext, notes: DataQualityNote[]): RecordClass {
  if (postCode === 'I' || postCode === 'P') {
    return postCode;
  }
  const shown = postCode === undefined ? 'missing' : JSON.stringify(postCode);
  if (!context.requested) {
    throw new RecordError(
      'postCode',
      `postCode: must be I (intraday) or P (posted), got ${shown}, and the request does not tell`,
    );
  }
  const cls = VIEW_CLASS[context.requested];
  notes.push({
    field: 'postCode',
    problem: `${shown}: taken as ${cls}, the record came from a ${VIEW_NAME[context.requested]} request`,
  });
  return cls;
}

/** The booking date is a money fact: a record without a real one cannot be stored. */
function bookingDate(value: unknown): string {
  if (typeof value !== 'string' || !isIsoDate(value)) {
    throw new RecordError(
      'asOfDate',
      `asOfDate: must be a calendar date YYYY-MM-DD, got ${JSON.stringify(value ?? null)}`,
    );
  }
  return value;
}

/** The value date is not: a missing or unreadable one is stored as null, with a note. */
function valueDate(value: unknown, notes: DataQualityNote[]): string | null {
  if (value === null || value === undefined || value === '') {
    return null;
  }
  if (typeof value === 'string' && isIsoDate(value)) {
    return value;
  }
  notes.push({ field: 'valueDate', problem: 'not a calendar date: stored as null (the raw record keeps it)' });
  return null;
}

function minorUnits(raw: WireTransaction, decimalLocation: number): bigint {
  let amountMinor: bigint;
  try {
    amountMinor = toStorableMinorUnits(String(raw.amount), decimalLocation);
  } catch (err) {
    throw new RecordError('amount', `amount: ${(err as Error).message}`);
  }
  if (amountMinor < 0n) {
    throw new RecordError(
      'amount',
      `amount: must be unsigned (direction comes from debitCreditCode), got ${String(raw.amount)}`,
    );
  }
  return amountMinor;
}

function currencyOf(raw: WireTransaction): { code: string; decimalLocation: number } {
  const code = text(member(raw.currency, 'code'));
  if (code === null || !/^[A-Z]{3}$/.test(code)) {
    throw new RecordError('currency.code', 'currency.code: must be a 3-letter ISO 4217 code');
  }
  const decimalLocation = Number(member(raw.currency, 'decimalLocation'));
  if (!Number.isInteger(decimalLocation) || decimalLocation < 0 || decimalLocation > 18) {
    throw new RecordError('currency.decimalLocation', 'currency.decimalLocation: must be an integer from 0 to 18');
  }
  return { code, decimalLocation };
}

/**
 * Maps one record. Only the money facts (account, booking date, direction, amount, currency and its
 * decimal location) can make it fail; every other field is taken as sent, or noted when it is odd.
 */
export function normalizeTransaction(
  raw: WireTransaction,
  occurrences: OccurrenceCounter,
  context: NormalizeContext = {},
): NormalizedTransaction {
  const notes: DataQualityNote[] = [...dataQualityOf(raw)];
  const jpmAccountId = text(member(raw.account, 'accountId'));
  if (!jpmAccountId) {
    throw new RecordError('account.accountId', 'account.accountId: is required but missing');
  }
  const currency = currencyOf(raw);
  const foreign = context.account
    ? accountCurrencyProblem({ currency: currency.code, decimalLocation: currency.decimalLocation }, context.account)
    : undefined;
  if (foreign !== undefined) {
    throw new RecordError('currency', foreign);
  }
  // The money facts in the order they are checked (the first bad one names the reject), held in locals: the result
  // is one object literal, not a spread of a second object.
  const booking = bookingDate(raw.asOfDate);
  const dir = direction(raw.debitCreditCode);
  const amountMinor = minorUnits(raw, currency.decimalLocation);
  const baiTypeCode = text(member(raw.baiType, 'typeCode'));
  const bankReference = text(member(raw.bankReferenceSearchable, 'standardValue')) ?? '';
  const customerReference = text(member(raw.customerReferenceSearchable, 'standardValue')) ?? '';
  const cls = recordClass(raw.postCode, context, notes);
  const jpmTransactionId = text(raw.transactionId) ?? '';
  const identityById = isIdentityId(jpmTransactionId);
  if (!identityById) {
    notes.push({
      field: 'transactionId',
      problem:
        jpmTransactionId === ''
          ? 'none sent: identity by fingerprint and occurrence'
          : !hasBankId(jpmTransactionId)
            ? 'only blanks, no id: identity by fingerprint and occurrence'
            : 'too long to be a key: identity by fingerprint and occurrence',
    });
  }
  // The fingerprint compares references trimmed (identityReference), exactly as it always has.
  const fp = fingerprint({
    jpmAccountId,
    bookingDate: booking,
    direction: dir,
    amountMinor,
    currency: currency.code,
    baiTypeCode,
    bankReference,
    customerReference,
  });
  const value = valueDate(raw.valueDate, notes);
  const description = describe(raw.shortDescription, raw.narrativeText);
  const baiSummaryCode = text(member(raw.baiType, 'summaryTypeCode'));
  const rawJson = JSON.stringify(raw);
  return {
    jpmAccountId,
    bookingDate: booking,
    direction: dir,
    amountMinor,
    currency: currency.code,
    baiTypeCode,
    bankReference,
    customerReference,
    jpmTransactionId,
    identityById,
    recordClass: cls,
    status: cls === 'I' ? 'pending' : 'posted',
    decimalLocation: currency.decimalLocation,
    valueDate: value,
    baiSummaryCode,
    description,
    narrative: raw.narrativeText ?? null,
    dataQuality: notes.length > 0 ? notes : null,
    fingerprintKey: fingerprintKey(cls, fp, occurrences.next(cls, fp)),
    // Over the bank's exact text, fast: equal hashes are the same record. A record whose hash differs from its row's is
    // compared with it by meaning (`recordMeaning`, src/sync/ingest.ts) before it counts as changed.
    contentHash: contentHashWithLast(
      [
        amountMinor.toString(),
        dir,
        booking,
        value,
        baiTypeCode,
        baiSummaryCode,
        bankReference,
        customerReference,
        description,
        raw.transactionId,
      ],
      rawJson,
    ),
    rawJson,
    source: context.source ?? 'jpm_api',
    raw,
  };
}

/**
 * Normalizes a page of wire records. A record that cannot be mapped becomes a reject with the
 * reason and the field; it never stops the rest of the page. `startIndex` is the first record's
 * index on the bank's page; `context` tells what was requested (see `RequestedView`).
 */
export function normalizeTransactions(
  records: readonly WireTransaction[],
  occurrences: OccurrenceCounter,
  startIndex = 0,
  context: NormalizeContext = {},
): NormalizedPage {
  const out: NormalizedPage = { records: [], rejects: [] };
  records.forEach((raw, i) => {
    try {
      out.records.push(normalizeTransaction(raw, occurrences, context));
    } catch (err) {
      if (!(err instanceof RecordError)) {
        throw err;
      }
      // The record's index on the bank's page when the client marked it; else its place in `records` after `startIndex`.
      const index = (typeof raw === 'object' && raw !== null ? pageIndexOf(raw) : undefined) ?? startIndex + i;
      out.rejects.push({ index, reason: err.message, raw, fields: [err.field] });
    }
  });
  return out;
}
