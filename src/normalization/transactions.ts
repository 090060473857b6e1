import type { Direction } from '../domain/types.ts';
import { toMinorUnits } from '../shared/money.ts';
import { isIsoDate } from '../shared/time.ts';
import { contentHash, fingerprint, fingerprintKey, type OccurrenceCounter, type RecordClass } from './identity.ts';
import type { WireTransaction } from './wire.ts';

/** A J.P. Morgan transaction record mapped to our model; pure, no I/O, no clock. */
export interface NormalizedTransaction {
  jpmAccountId: string;
  jpmTransactionId: string;
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
  bankReference: string;
  customerReference: string;
  description: string;
  fingerprintKey: string;
  contentHash: string;
  raw: WireTransaction;
}

export interface NormalizationReject {
  index: number;
  reason: string;
  raw: unknown;
}

export interface NormalizedPage {
  records: NormalizedTransaction[];
  rejects: NormalizationReject[];
}

class RecordError extends Error {}

/**
 * A readable description: the bank's short description, then the narrative tags. J.P. Morgan pads
 * tag keys to 12 characters ("YOUR REF    "); keys and values are trimmed and empty ones dropped.
 */
export function describe(shortDescription: string | null | undefined, narrative: Record<string, unknown> | null | undefined): string {
  const parts: string[] = [];
  const short = (shortDescription ?? '').trim();
  if (short) {
    parts.push(short);
  }
  const tags = Object.entries(narrative ?? {})
    .map(([k, v]) => [k.trim(), typeof v === 'string' ? v.trim().replace(/\s+/g, ' ') : ''] as const)
    .filter(([k, v]) => k && v)
    .map(([k, v]) => `${k}: ${v}`);
  if (tags.length > 0) {
    parts.push(tags.join('; '));
  }
  return parts.join(' | ');
}

function direction(code: string): Direction {
  if (code === 'CREDIT') {
    return 'credit';
  }
  if (code === 'DEBIT') {
    return 'debit';
  }
  throw new RecordError(`debitCreditCode must be CREDIT or DEBIT, got ${JSON.stringify(code)}`);
}

function recordClass(postCode: string | null | undefined, transactionId: string): RecordClass {
  if (postCode === 'I' || postCode === 'P') {
    return postCode;
  }
  throw new RecordError(`postCode must be I (intraday) or P (posted), got ${JSON.stringify(postCode)} on ${transactionId}`);
}

function date(value: string | null | undefined, field: string, required: boolean): string | null {
  if (value === null || value === undefined || value === '') {
    if (required) {
      throw new RecordError(`${field} is missing`);
    }
    return null;
  }
  if (!isIsoDate(value)) {
    throw new RecordError(`${field} must be YYYY-MM-DD, got ${JSON.stringify(value)}`);
  }
  return value;
}

export function normalizeTransaction(raw: WireTransaction, occurrences: OccurrenceCounter): NormalizedTransaction {
  const cls = recordClass(raw.postCode, raw.transactionId);
  const decimalLocation = Number(raw.currency.decimalLocation);
  let amountMinor: bigint;
  try {
    amountMinor = toMinorUnits(String(raw.amount), decimalLocation);
  } catch (err) {
    throw new RecordError(`amount: ${(err as Error).message}`);
  }
  if (amountMinor < 0n) {
    throw new RecordError(`amount must be unsigned (direction comes from debitCreditCode), got ${String(raw.amount)}`);
  }
  const base = {
    jpmAccountId: raw.account.accountId,
    bookingDate: date(raw.asOfDate, 'asOfDate', true) as string,
    direction: direction(raw.debitCreditCode),
    amountMinor,
    currency: raw.currency.code,
    baiTypeCode: raw.baiType?.typeCode ?? null,
    bankReference: (raw.bankReferenceSearchable?.standardValue ?? '').trim(),
    customerReference: (raw.customerReferenceSearchable?.standardValue ?? '').trim(),
  };
  const fp = fingerprint(base);
  const valueDate = date(raw.valueDate, 'valueDate', false);
  const description = describe(raw.shortDescription, raw.narrativeText);
  const baiSummaryCode = raw.baiType?.summaryTypeCode ?? null;
  return {
    ...base,
    jpmTransactionId: raw.transactionId,
    recordClass: cls,
    status: cls === 'I' ? 'pending' : 'posted',
    decimalLocation,
    valueDate,
    baiSummaryCode,
    description,
    fingerprintKey: fingerprintKey(cls, fp, occurrences.next(cls, fp)),
    contentHash: contentHash([base.amountMinor.toString(), base.direction, base.bookingDate, valueDate, base.baiTypeCode, baiSummaryCode, base.bankReference, base.customerReference, description, raw.transactionId, raw]),
    raw,
  };
}

/**
 * Normalizes a page of wire records. A record that cannot be mapped becomes a reject with the
 * reason; it never stops the rest of the page.
 */
export function normalizeTransactions(records: readonly WireTransaction[], occurrences: OccurrenceCounter, startIndex = 0): NormalizedPage {
  const out: NormalizedPage = { records: [], rejects: [] };
  records.forEach((raw, i) => {
    try {
      out.records.push(normalizeTransaction(raw, occurrences));
    } catch (err) {
      if (!(err instanceof RecordError) && !(err instanceof Error && err.name === 'ValidationError')) {
        throw err;
      }
      out.rejects.push({ index: startIndex + i, reason: err.message, raw });
    }
  });
  return out;
}
