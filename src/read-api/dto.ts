import { z } from 'zod';
import type { ChangeFeedEvent } from '../events/change-feed.ts';
import { RawJson } from '../http/respond.ts';
import { isoDay } from '../http/validate.ts';
import { formatMinorUnits } from '../shared/money.ts';
import { decodePgJson, decodePgText } from '../shared/pg-text.ts';
import type { BalanceReadRow } from '../storage/balances-read.repo.ts';
import type { TransactionDecisionRow, TransactionReadRow, TransactionVersionRow } from '../storage/read.repo.ts';

/**
 * The read API's contract with downstream services (ledger, reconciliation, reporting): camelCase,
 * stable, additive changes only. Money is always a decimal string with exactly the currency's
 * scale (`amount`) plus the exact integer in minor units as a string (`amountMinor`); never a
 * JSON number, which many JSON parsers would turn into a binary float.
 */
export const Id = z.uuid().meta({ description: 'UUID' });
export const Instant = z.iso.datetime().meta({ description: 'ISO 8601 instant, UTC' });
export const IsoDate = isoDay().meta({ description: 'Calendar date YYYY-MM-DD (the bank business day)' });
const Decimal = z
  .string()
  .meta({ description: 'Decimal string with exactly the currency scale, e.g. "1250.00"', example: '1250.00' });
const Minor = z.string().meta({ description: 'Integer amount in minor units, as a string', example: '125000' });

export function iso(date: Date): string;
export function iso(date: Date | null): string | null;
export function iso(date: Date | null): string | null {
  return date === null ? null : date.toISOString();
}

export const TransactionSchema = z
  .object({
    id: Id,
    organizationId: Id,
    accountId: Id,
    status: z.enum(['pending', 'posted', 'superseded', 'removed']).meta({
      description:
        'pending: intraday item; posted: booked; superseded: a pending item replaced by its posted item (supersededBy); removed: a pending item that never posted',
    }),
    direction: z.enum(['credit', 'debit']),
    amount: Decimal.meta({ description: 'Unsigned amount; the sign is `direction`' }),
    amountMinor: Minor,
    currency: z.string().meta({ example: 'USD' }),
    decimalLocation: z.number().int().meta({ description: 'The currency scale used for amount' }),
    bookingDate: IsoDate,
    valueDate: IsoDate.nullable(),
    bankReference: z.string().meta({
      description: "The bank's reference exactly as sent (padding, case and leading zeros kept); empty when none",
    }),
    customerReference: z.string().meta({ description: "The customer's reference exactly as sent; empty when none" }),
    baiCode: z.string().nullable().meta({ description: 'BAI type code, e.g. "195" (incoming wire)' }),
    baiSummaryCode: z.string().nullable(),
    description: z.string().meta({
      description:
        'A readable summary: short description, then narrative tags (trimmed). `narrative` has the exact text',
    }),
    narrative: z.unknown().meta({
      description:
        "The bank's narrativeText exactly as sent (normally tag → text, tag keys keep their padding); null when none",
      example: { 'YOUR REF    ': 'INV 001   ' },
    }),
    dataQuality: z
      .array(z.object({ field: z.string(), problem: z.string() }))
      .nullable()
      .meta({
        description:
          'Fields other than the money facts that were missing, null or odd when the bank sent the record, and what was done; also a field ' +
          "the record's channel left out that another channel's report of the item carries (left out by …; not kept from …): never kept from another " +
          'channel, since which of several look-alikes (same booking date, direction, amount and currency) is which item may be arbitrary; null when none',
      }),
    jpmTransactionId: z.string().nullable().meta({
      description:
        "J.P. Morgan's id of the record (may change on re-identification; our id never does); null when the bank sent none",
    }),
    supersededBy: Id.nullable().meta({ description: 'The posted transaction that replaced this pending one' }),
    supersedes: Id.nullable().meta({ description: 'The pending transaction this posted one replaced' }),
    version: z.number().int().meta({ description: 'Increases with every change' }),
    firstSeenAt: Instant,
    updatedAt: Instant,
  })
  .meta({ id: 'Transaction' });
export type TransactionDto = z.input<typeof TransactionSchema>;

const MAY_BE_ESCAPED = /[\u2400\u241b]/;

/**
 * A jsonb value read as text: parsed, and decoded only when the text holds the escape's characters
 * (src/shared/pg-text.ts).
 */
function storedJson(text: string | null): unknown {
  if (text === null) {
    return null;
  }
  const value: unknown = JSON.parse(text);
  return MAY_BE_ESCAPED.test(text) ? decodePgJson(value) : value;
}

/** Exactly `{ field, problem }` per note, whatever else a stored note might hold. */
function dataQualityDto(stored: unknown): TransactionDto['dataQuality'] {
  if (stored === null || stored === undefined) {
    return null;
  }
  const notes = decodePgJson(stored) as { field: string; problem: string }[];
  return notes.map((n) => ({ field: n.field, problem: n.problem }));
}

/**
 * Builds every field explicitly (the detail route's and the change feed's item; the list route sends
 * transactionPageJson).
 */
export function toTransactionDto(r: TransactionReadRow): TransactionDto {
  return {
    id: r.id,
    organizationId: r.organization_id,
    accountId: r.account_id,
    status: r.status as TransactionDto['status'],
    direction: r.direction as TransactionDto['direction'],
    amount: amountText(r.amount_minor, r.decimal_location),
    amountMinor: minorText(r.amount_minor),
    currency: r.currency,
    decimalLocation: r.decimal_location,
    bookingDate: r.booking_date,
    valueDate: r.value_date,
    // Stored bank text is escaped (U+0000, lone surrogates; src/shared/pg-text.ts): decoded, it is what the bank sent.
    bankReference: decodePgText(r.bank_reference),
    customerReference: decodePgText(r.customer_reference),
    baiCode: r.bai_type_code,
    baiSummaryCode: r.bai_summary_code,
    description: decodePgText(r.description),
    narrative: storedJson(r.narrative),
    dataQuality: dataQualityDto(r.data_quality),
    jpmTransactionId: r.jpm_transaction_id === '' ? null : decodePgText(r.jpm_transaction_id),
    supersededBy: r.superseded_by,
    supersedes: r.supersedes,
    version: r.version,
    // Already ISO text (src/storage/read.repo.ts formats them in the query).
    firstSeenAt: r.first_seen_at,
    updatedAt: r.updated_at,
  };
}

/** An int8 as Postgres writes it: optional minus, no leading zeros. */
const CANONICAL_INTEGER = /^(?:0|-?[1-9]\d*)$/;

/** `BigInt(text).toString()` without the BigInt for the text Postgres sends (the same string). */
function minorText(text: string): string {
  return CANONICAL_INTEGER.test(text) ? text : BigInt(text).toString();
}

/**
 * `formatMinorUnits(BigInt(text), scale)` done on the digits (the same text; a page formatted 200 BigInts, ~40 µs).
 * Only for canonical integer text; anything else takes formatMinorUnits itself.
 */
function amountText(text: string, scale: number): string {
  if (!CANONICAL_INTEGER.test(text) || !Number.isInteger(scale) || scale < 0) {
    return formatMinorUnits(BigInt(text), scale);
  }
  const negative = text.charCodeAt(0) === 45;
  const digits = (negative ? text.slice(1) : text).padStart(scale + 1, '0');
  const sign = negative ? '-' : '';
  return scale === 0
    ? sign + digits
    : `${sign}${digits.slice(0, digits.length - scale)}.${digits.slice(digits.length - scale)}`;
}

/* eslint-disable no-control-regex -- control characters are what JSON escapes */
/** A string JSON.stringify writes as it is between quotes: no quote, backslash, control character or surrogate. */
const PLAIN_JSON_STRING = /^[^"\\\u0000-\u001f\ud800-\udfff]*$/;
/**
 * The same for stored bank text, which also holds none of the escape's characters (so decodePgText returns it as it
 * is).
 */
const PLAIN_STORED_TEXT = /^[^"\\\u0000-\u001f\ud800-\udfff\u2400\u241b]*$/;
/* eslint-enable no-control-regex */

/** `JSON.stringify(text)`, without the call for the strings it would only quote (most of a page: one regex test). */
function json(text: string): string {
  return PLAIN_JSON_STRING.test(text) ? `"${text}"` : JSON.stringify(text);
}

/** `JSON.stringify(decodePgText(stored))`, likewise. */
function storedTextJson(stored: string): string {
  return PLAIN_STORED_TEXT.test(stored) ? `"${stored}"` : JSON.stringify(decodePgText(stored));
}

const nullable = (text: string | null): string => (text === null ? 'null' : json(text));

/**
 * A list item as JSON text, written field by field from the row in TransactionSchema's order: the same JSON as
 * `JSON.stringify(toTransactionDto(r))` (a test holds them equal), without building the DTO object and walking it
 * again. Ids, dates, instants and amounts are texts Postgres and amountText write (no character JSON escapes), the
 * two integers are int4 columns; every other string as JSON.stringify writes it. The narrative's stored JSON text is
 * spliced in as it is, unless it holds escaped text (then decoded and serialized).
 */
export function transactionItemJson(r: TransactionReadRow): string {
  const narrative =
    r.narrative === null
      ? 'null'
      : MAY_BE_ESCAPED.test(r.narrative)
        ? JSON.stringify(storedJson(r.narrative))
        : r.narrative;
  const dataQuality =
    r.data_quality === null || r.data_quality === undefined ? 'null' : JSON.stringify(dataQualityDto(r.data_quality));
  return (
    `{"id":"${r.id}","organizationId":"${r.organization_id}","accountId":"${r.account_id}","status":${json(r.status)}` +
    `,"direction":${json(r.direction)},"amount":"${amountText(r.amount_minor, r.decimal_location)}","amountMinor":"${minorText(r.amount_minor)}"` +
    `,"currency":${json(r.currency)},"decimalLocation":${r.decimal_location},"bookingDate":"${r.booking_date}"` +
    `,"valueDate":${r.value_date === null ? 'null' : `"${r.value_date}"`}` +
    `,"bankReference":${storedTextJson(r.bank_reference)},"customerReference":${storedTextJson(r.customer_reference)}` +
    `,"baiCode":${nullable(r.bai_type_code)},"baiSummaryCode":${nullable(r.bai_summary_code)},"description":${storedTextJson(r.description)}` +
    `,"narrative":${narrative},"dataQuality":${dataQuality}` +
    `,"jpmTransactionId":${r.jpm_transaction_id === '' ? 'null' : storedTextJson(r.jpm_transaction_id)}` +
    `,"supersededBy":${r.superseded_by === null ? 'null' : `"${r.superseded_by}"`},"supersedes":${r.supersedes === null ? 'null' : `"${r.supersedes}"`}` +
    `,"version":${r.version},"firstSeenAt":"${r.first_seen_at}","updatedAt":"${r.updated_at}"}`
  );
}

/** A list page `{ data, nextCursor }` as JSON text (the list route is `prebuilt`: sent without a runtime parse). */
export function transactionPageJson(rows: readonly TransactionReadRow[], nextCursor: string | null): RawJson {
  let text = '{"data":[';
  for (let i = 0; i < rows.length; i++) {
    text += i === 0 ? transactionItemJson(rows[i]!) : `,${transactionItemJson(rows[i]!)}`;
  }
  return new RawJson(`${text}],"nextCursor":${nullable(nextCursor)}}`);
}

export const TransactionVersionSchema = z
  .object({
    version: z.number().int().meta({ description: 'The version these values had' }),
    replacedAt: Instant,
    reason: z.string().meta({ description: 'bank_changed_record or re_identified' }),
    changedFields: z.array(z.string()).meta({ description: 'Fields that differ in the next version' }),
    syncRunId: Id.nullable(),
    values: z.object({
      status: z.string(),
      direction: z.string(),
      amount: Decimal,
      amountMinor: Minor,
      currency: z.string(),
      bookingDate: z.string(),
      valueDate: z.string().nullable(),
      bankReference: z.string(),
      customerReference: z.string(),
      baiCode: z.string().nullable(),
      description: z.string(),
      jpmTransactionId: z.string().nullable(),
    }),
  })
  .meta({ id: 'TransactionVersion', description: 'A former state of the transaction' });

function toVersionDto(v: TransactionVersionRow): z.input<typeof TransactionVersionSchema> {
  const scale = Number(v.decimal_location);
  return {
    version: v.version,
    replacedAt: iso(v.changed_at),
    reason: v.reason,
    changedFields: v.changed_fields,
    syncRunId: v.sync_run_id,
    values: {
      status: v.status,
      direction: v.direction,
      amount: formatMinorUnits(BigInt(v.amount_minor), scale),
      amountMinor: v.amount_minor,
      currency: v.currency,
      bookingDate: v.booking_date,
      valueDate: v.value_date,
      bankReference: decodePgText(v.bank_reference),
      customerReference: decodePgText(v.customer_reference),
      baiCode: v.bai_type_code,
      description: decodePgText(v.description),
      jpmTransactionId: v.jpm_transaction_id === '' ? null : decodePgText(v.jpm_transaction_id),
    },
  };
}

export const DecisionSchema = z
  .object({
    transactionId: Id,
    relatedTransactionId: Id.nullable(),
    decision: z.enum(['matched', 'superseded', 'removed', 're_identified', 'restored']),
    rule: z.string().meta({
      description:
        'The rule that decided, e.g. exact, reference_amount_changed, not_in_prior_day, withdrawn_intraday, shown_again_intraday, same_fingerprint_and_occurrence',
    }),
    evidence: z.record(z.string(), z.unknown()).meta({ description: 'The facts the rule looked at' }),
    syncRunId: Id.nullable(),
    decidedAt: Instant,
  })
  .meta({
    id: 'TransactionDecision',
    description: 'Why a row has its status: which rule linked, replaced or removed it',
  });

function toDecisionDto(d: TransactionDecisionRow): z.input<typeof DecisionSchema> {
  return {
    transactionId: d.transaction_id,
    relatedTransactionId: d.related_transaction_id,
    decision: d.decision as z.input<typeof DecisionSchema>['decision'],
    rule: d.rule,
    evidence: decodePgJson(d.evidence ?? {}) as Record<string, unknown>,
    syncRunId: d.sync_run_id,
    decidedAt: iso(d.created_at),
  };
}

export const TransactionDetailSchema = TransactionSchema.extend({
  history: z.array(TransactionVersionSchema).meta({ description: 'Former versions, oldest first' }),
  decisions: z.array(DecisionSchema).meta({ description: 'Decisions about this row, or naming it as the related row' }),
}).meta({ id: 'TransactionDetail' });

export function toTransactionDetailDto(
  row: TransactionReadRow,
  versions: readonly TransactionVersionRow[],
  decisions: readonly TransactionDecisionRow[],
): z.input<typeof TransactionDetailSchema> {
  return {
    ...toTransactionDto(row),
    history: versions.map(toVersionDto),
    decisions: decisions.map(toDecisionDto),
  };
}

const money = (minor: string | null, scale: number) => (minor === null ? null : formatMinorUnits(BigInt(minor), scale));

export const BalanceSchema = z
  .object({
    id: Id,
    organizationId: Id,
    accountId: Id,
    asOfDate: IsoDate,
    kind: z
      .enum(['current_day', 'final'])
      .meta({ description: 'current_day: intraday position; final: the prior-day closing report' }),
    currency: z.string(),
    decimalLocation: z.number().int(),
    openingLedger: Decimal.nullable(),
    openingAvailable: Decimal.nullable(),
    endingLedger: Decimal.nullable(),
    endingAvailable: Decimal.nullable(),
    openingLedgerMinor: Minor.nullable(),
    openingAvailableMinor: Minor.nullable(),
    endingLedgerMinor: Minor.nullable(),
    endingAvailableMinor: Minor.nullable(),
    recordTimestamp: Instant.nullable(),
    firstSeenAt: Instant,
    updatedAt: Instant,
  })
  .meta({ id: 'Balance' });

export function toBalanceDto(b: BalanceReadRow): z.input<typeof BalanceSchema> {
  return {
    id: b.id,
    organizationId: b.organization_id,
    accountId: b.account_id,
    asOfDate: b.as_of_date,
    kind: b.kind as 'current_day' | 'final',
    currency: b.currency,
    decimalLocation: b.decimal_location,
    openingLedger: money(b.opening_ledger_minor, b.decimal_location),
    openingAvailable: money(b.opening_available_minor, b.decimal_location),
    endingLedger: money(b.ending_ledger_minor, b.decimal_location),
    endingAvailable: money(b.ending_available_minor, b.decimal_location),
    openingLedgerMinor: b.opening_ledger_minor,
    openingAvailableMinor: b.opening_available_minor,
    endingLedgerMinor: b.ending_ledger_minor,
    endingAvailableMinor: b.ending_available_minor,
    recordTimestamp: iso(b.record_timestamp),
    firstSeenAt: iso(b.first_seen_at),
    updatedAt: iso(b.updated_at),
  };
}

export const LatestBalancesSchema = z
  .object({
    accountId: Id,
    organizationId: Id,
    currency: z.string(),
    final: BalanceSchema.nullable().meta({ description: 'The newest prior-day (closing) balance' }),
    currentDay: BalanceSchema.nullable().meta({ description: 'The newest intraday balance' }),
  })
  .meta({ id: 'LatestBalances' });

export function toLatestBalancesDto(r: {
  account: { id: string; organization_id: string; currency: string };
  final: BalanceReadRow | undefined;
  current: BalanceReadRow | undefined;
}): z.input<typeof LatestBalancesSchema> {
  return {
    accountId: r.account.id,
    organizationId: r.account.organization_id,
    currency: r.account.currency,
    final: r.final ? toBalanceDto(r.final) : null,
    currentDay: r.current ? toBalanceDto(r.current) : null,
  };
}

export const ChangeEventSchema = z
  .object({
    sequence: z
      .string()
      .meta({ description: 'Unique event number. Not commit-ordered on its own: always resume from cursors' }),
    kind: z.enum(['added', 'modified', 'removed']).meta({
      description:
        'added: new row; modified: the bank changed it, a withdrawn item came back, or a row gained a link (a posted item now names the pending item it replaced in supersedes); removed: a pending item was superseded by its posted item or never posted',
    }),
    entity: z.literal('transaction'),
    entityId: Id,
    accountId: Id,
    organizationId: Id,
    occurredAt: Instant,
    cursor: z.string().meta({ description: 'Resume point just after this event' }),
    transaction: TransactionSchema.nullable().meta({
      description: "The transaction's current state (apply as an upsert by id)",
    }),
  })
  .meta({ id: 'ChangeEvent' });

export function toChangeEventDto(e: ChangeFeedEvent): z.input<typeof ChangeEventSchema> {
  return {
    sequence: e.sequence,
    kind: e.kind,
    entity: e.entity,
    entityId: e.entityId,
    accountId: e.accountId,
    organizationId: e.organizationId,
    occurredAt: iso(e.occurredAt),
    cursor: e.cursor,
    transaction: e.transaction ? toTransactionDto(e.transaction) : null,
  };
}

export const ChangePageSchema = z
  .object({
    data: z.array(ChangeEventSchema),
    nextCursor: z
      .string()
      .meta({ description: 'Store it and pass it back; never null (an empty page returns a cursor too)' }),
    hasMore: z.boolean().meta({ description: 'More events are ready now: poll again immediately' }),
  })
  .meta({ id: 'ChangePage' });
