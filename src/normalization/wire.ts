/**
 * The parts of J.P. Morgan's wire records that normalization reads. Numbers arrive as exact decimal
 * text (src/shared/json.ts), so amounts are strings here. Only the money facts (account, currency,
 * booking date, direction, amount) are sure to be there: the client keeps a record whose other fields
 * are null, missing or odd (with data-quality notes, `jpm/records.ts`), so normalization reads every
 * other field defensively.
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

export interface WireBalanceAccount {
  accountId: string;
  bankId?: string | null;
  currency: { code: string; decimalLocation: number | string };
  balanceList?: WireBalance[] | null;
  errorCode?: string | null;
  errorMsg?: string | null;
}

/**
 * A balance as the client passes it on: the wire schema's output, or (when it did not match) the element
 * exactly as sent. `normalizeBalances` reads every field defensively.
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
