/**
 * The parts of J.P. Morgan's wire records that normalization reads. Numbers arrive as exact decimal
 * text (src/shared/json.ts), so amounts are strings here.
 * TODO(3): replace with the types exported by src/jpm/wire.schemas.ts once the client lands.
 */
export interface WireTransaction {
  transactionId: string;
  account: { accountId: string; bankId?: string | null };
  currency: { code: string; decimalLocation: number | string };
  asOfDate: string;
  valueDate?: string | null;
  debitCreditCode: string;
  amount: string;
  postCode?: string | null;
  baiType?: { typeCode?: string | null; summaryTypeCode?: string | null } | null;
  bankReferenceSearchable?: { standardValue?: string | null } | null;
  customerReferenceSearchable?: { standardValue?: string | null } | null;
  shortDescription?: string | null;
  narrativeText?: Record<string, unknown> | null;
}

export interface WireBalanceAccount {
  accountId: string;
  bankId?: string | null;
  currency: { code: string; decimalLocation: number | string };
  balanceList?: WireBalance[] | null;
  errorCode?: string | null;
  errorMsg?: string | null;
}

export interface WireBalance {
  asOfDate: string;
  recordTimestamp?: string | null;
  currentDay: boolean;
  openingAvailableAmount?: string | null;
  openingLedgerAmount?: string | null;
  endingAvailableAmount?: string | null;
  endingLedgerAmount?: string | null;
}
