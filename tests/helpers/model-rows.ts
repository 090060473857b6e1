import { sql } from 'kysely';
import { parseJsonLossless } from '../../src/shared/json.ts';
import { formatMinorUnits } from '../../src/shared/money.ts';
import { isIsoDate, type IsoDate } from '../../src/shared/time.ts';
import type { AccountDayView, ViewRecord } from '../../src/simulator/bank-view.ts';
import type { Database } from '../../src/storage/db.ts';
import { decodeStoredJson, decodeStoredText } from './stored-text.ts';

/**
 * One live transaction row, as the model expects it from a bank record and as we read it back from
 * Postgres, reduced to the fields the product promises to keep exactly: status, the bank's id, money
 * facts, dates, BAI code, references as sent (padding and leading zeros included), the narrative
 * and the whole record as the bank sent it (text decoded from its lossless storage form).
 */
export interface LiveRow {
  /** Canonical text of `fields`: two rows are the same stored row iff their keys are equal. */
  key: string;
  /** The bank's id and class, to pair a missing row with an extra one in a diff. */
  identity: string;
  summary: string;
  fields: {
    status: string;
    jpmTransactionId: string;
    direction: string;
    amountMinor: string;
    currency: string;
    decimalLocation: number;
    bookingDate: string;
    valueDate: string | null;
    baiTypeCode: string | null;
    bankReference: string;
    customerReference: string;
    narrative: string;
    raw: string;
  };
}

/**
 * JSON text with object keys sorted, so two documents compare by content. A JSON number and its exact
 * decimal text compare equal: the bank's numbers reach us (and are stored) as their source text, while
 * small integers such as `decimalLocation` may be stored as numbers; both are the value the bank sent.
 */
export function canonical(value: unknown): string {
  if (typeof value === 'number') {
    return JSON.stringify(String(value));
  }
  if (Array.isArray(value)) {
    return `[${value.map(canonical).join(',')}]`;
  }
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

function text(value: unknown): string {
  return typeof value === 'string' ? value : '';
}

function field(record: unknown, name: string): unknown {
  return typeof record === 'object' && record !== null ? (record as Record<string, unknown>)[name] : undefined;
}

function narrativeOf(value: unknown): string {
  // Absent, null and {} all mean "no narrative".
  return value === null || value === undefined || (typeof value === 'object' && Object.keys(value).length === 0)
    ? 'null'
    : canonical(value);
}

function make(fields: LiveRow['fields']): LiveRow {
  const amount = formatMinorUnits(BigInt(fields.amountMinor), fields.decimalLocation);
  return {
    key: canonical(fields),
    identity: `${fields.status === 'pending' ? 'I' : 'P'}:${fields.jpmTransactionId}`,
    summary: `${fields.status} ${fields.jpmTransactionId} ${fields.direction} ${amount} ${fields.currency} bankRef=${JSON.stringify(fields.bankReference)} custRef=${JSON.stringify(fields.customerReference)}`,
    fields,
  };
}

/** The row the bank's record should become (the model's own reading of the wire record). */
export function expectedRow(view: AccountDayView, r: ViewRecord): LiveRow {
  const wire = parseJsonLossless(r.wire) as Record<string, unknown>;
  const valueDate = field(wire, 'valueDate');
  const bai = field(field(wire, 'baiType'), 'typeCode');
  return make({
    status: r.postCode === 'I' ? 'pending' : 'posted',
    jpmTransactionId: r.transactionId,
    direction: r.direction.toLowerCase(),
    amountMinor: r.amountMinor,
    currency: view.currency,
    decimalLocation: view.decimalLocation,
    bookingDate: view.date,
    valueDate: typeof valueDate === 'string' && isIsoDate(valueDate) ? valueDate : null,
    baiTypeCode: typeof bai === 'string' && bai !== '' ? bai : null,
    bankReference: text(field(field(wire, 'bankReferenceSearchable'), 'standardValue')),
    customerReference: text(field(field(wire, 'customerReferenceSearchable'), 'standardValue')),
    narrative: narrativeOf(field(wire, 'narrativeText')),
    raw: canonical(wire),
  });
}

type StoredRow = Record<string, unknown> & { booking_date: string; raw: unknown };

/** Our live rows (pending and posted) of an account, by booking date, read straight from Postgres. */
export async function storedLiveRows(
  db: Database,
  accountId: string,
  from: IsoDate,
  to: IsoDate,
): Promise<Map<IsoDate, LiveRow[]>> {
  const { rows } = await sql<StoredRow>`
    select t.*, t.booking_date::text as booking_date, t.value_date::text as value_date, t.amount_minor::text as amount_minor
    from transactions t
    where t.account_id = ${accountId} and t.status in ('pending', 'posted') and t.booking_date between ${from} and ${to}
    order by t.booking_date, t.id`.execute(db);
  const out = new Map<IsoDate, LiveRow[]>();
  for (const r of rows) {
    const raw = decodeStoredJson(r.raw);
    // The narrative column when the schema has one (the bank's narrativeText as sent), else the raw record's.
    const narrative =
      'narrative' in r ? narrativeOf(decodeStoredJson(r.narrative)) : narrativeOf(field(raw, 'narrativeText'));
    const row = make({
      status: String(r.status),
      jpmTransactionId: decodeStoredText(String(r.jpm_transaction_id)),
      direction: String(r.direction),
      amountMinor: String(r.amount_minor),
      currency: String(r.currency),
      decimalLocation: Number(r.decimal_location),
      bookingDate: r.booking_date,
      valueDate: typeof r.value_date === 'string' ? r.value_date : null,
      baiTypeCode: typeof r.bai_type_code === 'string' ? r.bai_type_code : null,
      bankReference: decodeStoredText(text(r.bank_reference)),
      customerReference: decodeStoredText(text(r.customer_reference)),
      narrative,
      raw: canonical(raw),
    });
    out.set(r.booking_date, [...(out.get(r.booking_date) ?? []), row]);
  }
  return out;
}

export interface StoredProof {
  state: string;
  reason: string | null;
  differenceMinor: string | null;
  openingLedgerMinor: string | null;
  closingLedgerMinor: string | null;
}

/** The balance proof per day (`account_days`), as validation recorded it. */
export async function storedProof(db: Database, accountId: string): Promise<Map<IsoDate, StoredProof>> {
  const { rows } = await sql<Record<string, string | null>>`
    select day::text as day, state, reason, difference_minor::text as difference_minor,
      opening_ledger_minor::text as opening_ledger_minor, closing_ledger_minor::text as closing_ledger_minor
    from account_days where account_id = ${accountId}`.execute(db);
  return new Map(
    rows.map((r) => [
      String(r.day),
      {
        state: String(r.state),
        reason: r.reason ?? null,
        differenceMinor: r.difference_minor ?? null,
        openingLedgerMinor: r.opening_ledger_minor ?? null,
        closingLedgerMinor: r.closing_ledger_minor ?? null,
      },
    ]),
  );
}

/** A transaction as GET /v1/transactions returns it (the fields the model compares). */
export interface ApiTransaction {
  status: string;
  jpmTransactionId: string;
  direction: string;
  amountMinor: string;
  currency: string;
  decimalLocation: number;
  bookingDate: string;
  valueDate: string | null;
  baiCode: string | null;
  bankReference: string;
  customerReference: string;
  narrative: unknown;
}

/** The fields a row and its API form share, as one comparable text (the raw record is not in the API). */
export function apiProjection(t: ApiTransaction): string {
  return canonical([
    t.status,
    t.jpmTransactionId,
    t.direction,
    t.amountMinor,
    t.currency,
    t.decimalLocation,
    t.bookingDate,
    t.valueDate,
    t.baiCode,
    t.bankReference,
    t.customerReference,
    narrativeOf(t.narrative),
  ]);
}

export function rowProjection(r: LiveRow): string {
  const f = r.fields;
  return canonical([
    f.status,
    f.jpmTransactionId,
    f.direction,
    f.amountMinor,
    f.currency,
    f.decimalLocation,
    f.bookingDate,
    f.valueDate,
    f.baiTypeCode,
    f.bankReference,
    f.customerReference,
    f.narrative,
  ]);
}
