import { z } from 'zod';
import {
  checkScale,
  DIRECTION,
  currencySchema,
  digitsText,
  instantText,
  intText,
  isoDate,
  localTimestampText,
  signedDecimalText,
  unsignedDecimalText,
} from './wire.primitives.ts';

/**
 * Zod schemas for J.P. Morgan's wire payloads (API-NOTES.md §3, §5), applied to the output of
 * `parseJsonLossless`: numbers are source text. Objects are loose: a field the bank adds later is kept,
 * not rejected, so the raw record we store stays complete.
 *
 * `transactionSchema` describes what J.P. Morgan normally sends, following the 304 sample records: a
 * field present and non-null on every sample record is required. Fields that were null (on some or all
 * samples) are `nullish`: absent and null both mean "no data". Two documented exceptions are optional:
 * `narrativeText` ("optional and varies by transaction type", §5.1) and the lockbox fields (a
 * third-party v3 client nests them in a `lockbox` object, §5.4, so v3 may not send them at top level).
 * It decides nothing on its own: a record that fails it is still stored when its money facts pass
 * `storableTransactionSchema`, with the complaints as data-quality notes (`records.ts`).
 */

export const RELATIVE_DATE_TYPES = ['CURRENT_DAY', 'PRIOR_DAY'] as const;
export type RelativeDateType = (typeof RELATIVE_DATE_TYPES)[number];

const searchableSchema = z.looseObject({
  standardValue: z.string(),
  searchValue: z.string().nullish(),
});

export const transactionAccountSchema = z.looseObject({
  accountId: z.string().min(1),
  accountName: z.string(),
  bankId: z.string(),
  branchId: z.string(),
  bankName: z.string(),
  currency: currencySchema,
  aba: z.string(),
  swift: z.string().nullish(),
});

export const baiTypeSchema = z.looseObject({
  typeCode: z.string().regex(/^\d{3}$/, { error: 'must be a 3-digit BAI type code' }),
  summaryTypeCode: z.string(),
  description: z.string(),
  shortDescription: z.string(),
  groupCode: z.string(),
  groupDescription: z.string(),
  productGroupCode: z.string(),
  btrsTypeCode: z.string(),
  germanTypeCode: z.string(),
  swiftTypeCode: z.string(),
});

/** One Transaction Details record (`data[]` of `/tsapi/v2|v3/transactions`), API-NOTES.md §5.4. */
export const transactionSchema = z
  .looseObject({
    transactionId: z.string().min(1),
    account: transactionAccountSchema,
    asOfDate: isoDate,
    // Not validated as a timestamp: a J.P. Morgan sample carries "1T16:59:22Z" here, and `asOfDate`
    // (validated) is the business date we use.
    asOfDateTime: z.string(),
    valueDate: isoDate,
    valueDateTime: instantText,
    recordTimestamp: instantText,
    receivedTimestamp: instantText,
    lastUpdate: z.string().nullish(),
    loggedAt: localTimestampText,
    debitCreditCode: z.enum(['CREDIT', 'DEBIT']),
    amount: unsignedDecimalText,
    currency: currencySchema,
    baiType: baiTypeSchema,
    ddaTxnCode: z.string(),
    originalTransactionCode: z.string().nullish(),
    productGroup: z.looseObject({ groupCode: z.string(), groupDescription: z.string(), wire: z.boolean() }),
    fundsTypeCode: z.string(),
    immediateAvailable: signedDecimalText,
    day1Available: signedDecimalText,
    day2Available: signedDecimalText,
    day2PlusAvailable: signedDecimalText.nullish(),
    day3PlusAvailable: signedDecimalText,
    bankReferenceSearchable: searchableSchema,
    customerReferenceSearchable: searchableSchema,
    wireReferenceSearchable: searchableSchema.nullish(),
    repairCode: z.string(),
    reversal: z.boolean(),
    override: z.boolean(),
    thirdPartyBank: z.boolean(),
    sepaType: z.boolean(),
    transactionStatus: z.string(),
    postCode: z.string().min(1),
    shortDescription: z.string(),
    wireType: z.string(),
    checkNumber: digitsText,
    lockboxSequenceCode: z.string().nullish(),
    lockboxItems: signedDecimalText.nullish(),
    lockboxNumber: z.string().nullish(),
    lockboxDepositDate: z.string().nullish(),
    lockboxDepositTime: z.string().nullish(),
    lockbox: z.looseObject({}).nullish(),
    narrativeText: z.record(z.string(), z.string().nullable()).nullish(),
    narrativeTypeCode: z.string(),
    addenda: z.array(z.unknown()).nullish(),
    achBatchItems: z.array(z.unknown()).nullish(),
    floatSpreadCode: z.string(),
    sepaDetailsXml: z.string().nullish(),
    supplementalTextSet: z.record(z.string(), z.unknown()).nullish(),
    supplementalTextRecordList: z.array(z.unknown()).nullish(),
    supplementalText: z.string().nullish(),
  })
  .superRefine((txn, ctx) => {
    const scale = txn.currency.decimalLocation;
    for (const field of [
      'amount',
      'immediateAvailable',
      'day1Available',
      'day2Available',
      'day2PlusAvailable',
      'day3PlusAvailable',
    ] as const) {
      checkScale(ctx, [field], txn[field], scale);
    }
  });

export type WireTransactionDetails = z.output<typeof transactionSchema>;

/**
 * The direction as a money fact: `CREDIT` or `DEBIT` in any case (`credit`, `Debit`: the direction is plain). The full
 * schema still asks for J.P. Morgan's upper case, so another case is stored with a data-quality note, as sent.
 */
const directionText = z.custom<string>((v) => typeof v === 'string' && DIRECTION.test(v), {
  error: 'must be one of "CREDIT", "DEBIT"',
});

/**
 * What decides whether a transaction record can be stored: its money facts. The account, the booking
 * date (`asOfDate`), the direction (`debitCreditCode`), the amount and the currency with its decimal
 * location. A record that passes this but not `transactionSchema` is stored as sent, with the other
 * schema's complaints as its data-quality notes (`records.ts`); only a record that fails this is a reject.
 */
export const storableTransactionSchema = z
  .looseObject({
    account: z.looseObject({ accountId: z.string().min(1) }),
    asOfDate: isoDate,
    debitCreditCode: directionText,
    amount: unsignedDecimalText,
    currency: z.looseObject({ code: currencySchema.shape.code, decimalLocation: currencySchema.shape.decimalLocation }),
  })
  .superRefine((txn, ctx) => {
    checkScale(ctx, ['amount'], txn.amount, txn.currency.decimalLocation);
  });

/**
 * A record as it leaves the client: every field the bank sent (loose), the money facts validated. The
 * other fields match `WireTransactionDetails` unless the record carries data-quality notes (`records.ts`).
 */
export type WireTransactionRecord = z.output<typeof storableTransactionSchema>;

/**
 * A transaction record as normalization reads it (`normalizeTransactions`): a `WireTransactionRecord`
 * from the client, the record a statement file's line becomes, or lossless JSON of one that skipped the
 * schemas (src/shared/json.ts: numbers are exact decimal text, so amounts are strings and
 * `decimalLocation` may be too). Only the money facts (account, currency, booking date, direction,
 * amount) are sure to be there: the client keeps a record whose other fields are null, missing or odd
 * (with data-quality notes, `records.ts`), so normalization reads every other field defensively.
 */
export interface WireTransaction {
  transactionId?: unknown;
  account: { accountId: string; bankId?: unknown; [key: string]: unknown };
  currency: { code: string; decimalLocation: number | string; [key: string]: unknown };
  asOfDate: string;
  valueDate?: unknown;
  debitCreditCode: string;
  amount: string;
  postCode?: unknown;
  baiType?: unknown;
  bankReferenceSearchable?: unknown;
  customerReferenceSearchable?: unknown;
  shortDescription?: unknown;
  narrativeText?: unknown;
  [key: string]: unknown;
}

/**
 * v3 paging block. `pageNumber` is 1-based; `totalPages` is 0 when there are no records. Each count may be written with
 * a fraction of zero (`1.0`, JSON-wise the same number, `intText`). `pageSize` only describes (the walk counts pages and
 * records), so one left out or null is no reason to refuse the page.
 */
export const paginationSchema = z.looseObject({
  pageSize: intText(100_000).nullish(),
  totalPages: intText(10_000_000),
  pageNumber: intText(10_000_000),
  totalRecords: intText(1_000_000_000),
});

/**
 * v2 envelope, the shape of J.P. Morgan's sample files (tests/fixtures/jpm); the client calls v3. Records stay
 * `unknown` here and are validated one by one (`parseTransactionRecords`).
 */
export const transactionsV2EnvelopeSchema = z.looseObject({ data: z.array(z.unknown()) });
/**
 * v3 envelope: the page plus its `pagination` block. A page's `data` written as null or left out (a serializer's way
 * of writing an empty list) is a page without records: the walk's counts (`transactions.ts`) still hold it to
 * `totalRecords`, so a page that should have held records is no complete answer.
 */
export const transactionsV3EnvelopeSchema = z.looseObject({
  pagination: paginationSchema,
  data: z
    .array(z.unknown())
    .nullish()
    .transform((data) => data ?? []),
});

/**
 * One balance. What the balance proof needs decides: the business date, which balance it is
 * (`currentDay`), and the opening and closing ledger amounts. The timestamp and the available amounts
 * may be null or absent (stored as null).
 */
export const balanceSchema = z.looseObject({
  asOfDate: isoDate,
  recordTimestamp: instantText.nullish(),
  currentDay: z.boolean(),
  openingAvailableAmount: signedDecimalText.nullish(),
  openingLedgerAmount: signedDecimalText,
  endingAvailableAmount: signedDecimalText.nullish(),
  endingLedgerAmount: signedDecimalText,
});

/**
 * A `balanceList[]` element as the client passes it on: `balanceSchema`'s output when it matches, else
 * the element exactly as sent. One odd balance never fails the whole response; normalization
 * (`normalizeBalances`) reads every field defensively, stores what it can and rejects a balance whose
 * proof facts are unusable.
 */
export interface WireBalance {
  /** A string on every balance that matched the schema; checked again by `normalizeBalances`. */
  asOfDate: string;
  recordTimestamp?: unknown;
  currentDay: unknown;
  openingAvailableAmount?: unknown;
  openingLedgerAmount?: unknown;
  endingAvailableAmount?: unknown;
  endingLedgerAmount?: unknown;
}

const balanceElement = z.unknown().transform((value): WireBalance => {
  const parsed = balanceSchema.safeParse(value);
  return parsed.success ? parsed.data : (value as WireBalance);
});

/**
 * A descriptive text of a balance account (name, bank, branch, the currency's description, an error's message): as
 * sent when it is text (a JSON number is its text already), absent when absent, and null when it is anything else
 * (`{}`, `false`, an array). It describes, it decides nothing, so an odd one never fails the answer of every account.
 */
const descriptiveText = z.string().nullish().catch(null);

/**
 * The currency of a balance account: its code and decimal location scale the amounts (strict, as on a record); its
 * description and `currencySequence` only describe, and are null when odd or missing (the balances are still read).
 */
const balanceCurrencySchema = z.looseObject({
  code: currencySchema.shape.code,
  description: descriptiveText,
  decimalLocation: currencySchema.shape.decimalLocation,
  currencySequence: currencySchema.shape.currencySequence.nullish().catch(null),
});
export type WireBalanceCurrency = z.output<typeof balanceCurrencySchema>;

/**
 * An account entry's currency as the client passes it on: `balanceCurrencySchema`'s output when it matches, else the
 * value exactly as sent (absent stays absent). One account's unusable currency (`"usd"`, a decimal location of `2.5`)
 * never fails the answer of every account: normalization (`normalizeBalances`) checks it again and makes that
 * account's balances rejects naming the field (`balanceCurrencyProblem`).
 */
const balanceCurrency = z.unknown().transform((value): WireBalanceCurrency | undefined => {
  if (value === undefined) {
    return undefined;
  }
  const parsed = balanceCurrencySchema.safeParse(value);
  return parsed.success ? parsed.data : (value as WireBalanceCurrency);
});

/**
 * What makes an account entry's currency unusable for scaling its amounts (`currency.code: must be a 3-letter ISO 4217
 * code, got "usd"`), or undefined when it is usable. A decimal location may be a JSON number (a statement file's) or
 * its exact text (the API's).
 */
export function balanceCurrencyProblem(currency: unknown): string | undefined {
  if (currency === undefined || currency === null) {
    return `currency: is required for an account with balanceList, got ${currency === null ? 'null' : 'nothing'}`;
  }
  if (typeof currency !== 'object' || Array.isArray(currency)) {
    return 'currency: must be an object with code and decimalLocation';
  }
  const c = currency as { code?: unknown; decimalLocation?: unknown };
  const code = currencySchema.shape.code.safeParse(c.code);
  if (!code.success) {
    return `currency.code: ${code.error.issues[0]?.message ?? 'must be a 3-letter ISO 4217 code'}`;
  }
  const dl = typeof c.decimalLocation === 'number' ? String(c.decimalLocation) : c.decimalLocation;
  const scale = currencySchema.shape.decimalLocation.safeParse(dl);
  if (!scale.success) {
    return `currency.decimalLocation: ${scale.error.issues[0]?.message ?? 'must be a non-negative integer'}`;
  }
  return undefined;
}

/**
 * One `accountList[]` entry of `POST /accessapi/balance`: either an account with its `balanceList`, or
 * a per-account error (`errorCode` such as GCA-024, `errorMsg`, no `balanceList`) inside an HTTP 200. A member of the
 * other kind written as null (an account's `"errorCode":null`, an error entry's `"balanceList":null`, as a serializer
 * writing every member sends them) or an empty `errorCode` is no such member: read as absent.
 * Accounts with balances need their currency code and decimal location (they scale the amounts): one that is
 * missing or unusable is that account's problem (`balanceCurrency`), never the answer's. The descriptive fields (name, bank, branch, the currency's description and sequence, an error's message) may be
 * null, absent or of another type: they describe, they decide nothing (`descriptiveText`).
 */
export const balanceAccountEntrySchema = z
  .looseObject({
    accountId: z.string().min(1),
    accountName: descriptiveText,
    branchId: descriptiveText,
    bankId: descriptiveText,
    bankName: descriptiveText,
    currency: balanceCurrency,
    balanceList: z
      .array(balanceElement)
      .nullish()
      .transform((list) => list ?? undefined),
    errorCode: z
      .string()
      .nullish()
      .transform((code) => (code === null || code === '' ? undefined : code)),
    errorMsg: descriptiveText,
  })
  .superRefine((entry, ctx) => {
    if ((entry.balanceList === undefined) === (entry.errorCode === undefined)) {
      ctx.addIssue({ code: 'custom', message: 'must have exactly one of balanceList or errorCode' });
    }
  });

export type WireBalanceAccountEntry = z.output<typeof balanceAccountEntrySchema>;
/**
 * An account entry that carries balances. Its currency is usable unless `balanceCurrencyProblem` names a problem
 * (then it is the value as sent, or absent).
 */
export type WireAccountWithBalances = WireBalanceAccountEntry & {
  currency: WireBalanceCurrency;
  balanceList: WireBalance[];
};
/** A per-account error entry (GCA-024 "No transaction was found…" and the like). */
export type WireBalanceAccountError = WireBalanceAccountEntry & { errorCode: string };

export function isBalanceAccount(entry: WireBalanceAccountEntry): entry is WireAccountWithBalances {
  return entry.balanceList !== undefined;
}

/** `POST /accessapi/balance` 200 response. */
export const balancesResponseSchema = z.looseObject({ accountList: z.array(balanceAccountEntrySchema) });

/**
 * An account entry as normalization (`normalizeBalances`) and the business calendar read it: an account
 * with its balances (from the client, or built from a statement file), or a per-account error entry.
 */
export interface WireBalanceAccount {
  accountId: string;
  bankId?: string | null;
  currency: { code: string; decimalLocation: number | string };
  balanceList?: WireBalance[] | null;
  errorCode?: string | null;
  errorMsg?: string | null;
}

/**
 * J.P. Morgan's whole-request error envelope: `{"errors":[{"errorCode":"GCA-099","errorMsg":"…"}]}`. The code decides
 * (GCA-099 is retryable whatever the status); the message only explains, so one that is null, absent or not text is
 * read as absent, never a reason to take the envelope for an answer.
 */
export const errorsEnvelopeSchema = z.looseObject({
  errors: z.array(z.looseObject({ errorCode: z.string(), errorMsg: z.string().optional().catch(undefined) })).min(1),
});

/** API-gateway (Apigee-style) fault body: `{"fault":{"faultstring":"…","detail":{"errorcode":"…"}}}`. */
export const gatewayFaultSchema = z.looseObject({
  fault: z.looseObject({
    faultstring: z.string().optional(),
    detail: z.looseObject({ errorcode: z.string().optional() }).optional(),
  }),
});
