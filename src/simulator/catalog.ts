/**
 * Reference data the simulated ledger draws from: currencies as J.P. Morgan describes them and the
 * transaction kinds seen in the official sample payloads (BAI type, product group, wire type, DDA code
 * and short description copied from real records; see API-NOTES §5.4). 698/699 follow the same
 * pattern (BAI2 "Miscellaneous Fees"/"Miscellaneous Debit", summary 690 "Total Miscellaneous Debits").
 */
export interface CurrencyInfo {
  code: string;
  description: string;
  decimalLocation: number;
  currencySequence: number;
}

export const CURRENCIES: Record<string, CurrencyInfo> = {
  USD: { code: 'USD', description: 'US DOLLAR', decimalLocation: 2, currencySequence: 0 },
  EUR: { code: 'EUR', description: 'EURO', decimalLocation: 2, currencySequence: 0 },
  GBP: { code: 'GBP', description: 'POUND STERLING', decimalLocation: 2, currencySequence: 0 },
  JPY: { code: 'JPY', description: 'JAPANESE YEN', decimalLocation: 0, currencySequence: 0 },
  KWD: { code: 'KWD', description: 'KUWAITI DINAR', decimalLocation: 3, currencySequence: 0 },
  BHD: { code: 'BHD', description: 'BAHRAINI DINAR', decimalLocation: 3, currencySequence: 0 },
};

/**
 * Order of currencies for generated accounts: mostly USD, as for a US corporate, plus a 0-decimal
 * (JPY) and a 3-decimal (KWD) account so every scale is exercised with the default 8 accounts.
 */
export const DEFAULT_CURRENCY_CYCLE = ['USD', 'USD', 'JPY', 'USD', 'KWD', 'EUR', 'USD', 'GBP'] as const;

/**
 * The J.P. Morgan UAT test account numbers used in the official samples and Postman collection. The
 * simulator hands them out first, so J.P. Morgan's own requests work against it unchanged.
 */
export const SAMPLE_ACCOUNT_IDS = [
  '000000010900009',
  '000000010962009',
  '000000010975001',
  '000000011153244',
  '000000011315421',
  '000000011008182',
  '000000010975514',
  '000000010013324',
  '000000011116605',
  '000000011253770',
  '000000004045701',
] as const;

export const BANK = {
  bankId: '02100002',
  bankName: 'JPMORGAN CHASE',
  transactionBankName: 'JPMORGAN CHASE BANK, N.A. - NEW YOR',
  aba: '021000021',
} as const;

export type DebitCreditCode = 'CREDIT' | 'DEBIT';
export type WireType = 'FED' | 'CHIP' | 'BOOK' | 'EMPTY';
export type NarrativeStyle = 'fed' | 'chip' | 'book' | 'remark' | 'fee';

export interface TxnKind {
  key: string;
  direction: DebitCreditCode;
  weight: number;
  typeCode: string;
  summaryTypeCode: string;
  description: string;
  baiShortDescription: string;
  groupCode: string;
  groupDescription: string;
  productGroupCode: string;
  germanTypeCode: string;
  swiftTypeCode: string;
  ddaTxnCode: string;
  productGroup: { groupCode: string; groupDescription: string; wire: boolean };
  shortDescription: string;
  wireType: WireType;
  narrative: NarrativeStyle;
  /** Digits of the major amount (e.g. [2, 6] = 10.00 … 999,999.99 in USD). */
  majorDigits: [number, number];
}

const WIRE_IN = {
  typeCode: '195',
  summaryTypeCode: '190',
  description: 'IND INCOMING MONEY TRANSFER',
  baiShortDescription: 'INDIV MONEY TRANSFER',
  groupCode: 'WIRE',
  groupDescription: 'WIRE',
  productGroupCode: 'WIRE',
  germanTypeCode: '051',
  swiftTypeCode: 'TRF',
  ddaTxnCode: '398',
};
const WIRE_OUT = {
  typeCode: '495',
  summaryTypeCode: '490',
  description: 'IND OUTGOING MONEY TRANSFERS',
  baiShortDescription: 'IND MONEY TRANSFER',
  groupCode: 'WIRE',
  groupDescription: 'WIRE',
  productGroupCode: 'WIRE',
  germanTypeCode: '051',
  swiftTypeCode: 'TRF',
  ddaTxnCode: '399',
};
const FED = { groupCode: 'FED', groupDescription: 'FED WIRE TRANSFERS', wire: true };
const CHIP = { groupCode: 'CHIP', groupDescription: 'CHIPS TRANSFERS', wire: true };
const BOOK = { groupCode: 'BOOK', groupDescription: 'BOOK TRANSFERS', wire: true };
const OTHER_WIRE = { groupCode: 'WIRE', groupDescription: 'OTHER FUNDS TRANSFERS', wire: true };

export const TXN_KINDS: readonly TxnKind[] = [
  {
    key: 'fed-in',
    direction: 'CREDIT',
    weight: 14,
    ...WIRE_IN,
    productGroup: FED,
    shortDescription: 'FED WIRE CREDIT',
    wireType: 'FED',
    narrative: 'fed',
    majorDigits: [3, 7],
  },
  {
    key: 'chip-in',
    direction: 'CREDIT',
    weight: 8,
    ...WIRE_IN,
    productGroup: CHIP,
    shortDescription: 'CHIPS CREDIT',
    wireType: 'CHIP',
    narrative: 'chip',
    majorDigits: [3, 7],
  },
  {
    key: 'book-in',
    direction: 'CREDIT',
    weight: 10,
    ...WIRE_IN,
    productGroup: OTHER_WIRE,
    shortDescription: 'INBND FED WIRE XFER',
    wireType: 'BOOK',
    narrative: 'book',
    majorDigits: [2, 6],
  },
  {
    key: 'frgn-in',
    direction: 'CREDIT',
    weight: 4,
    typeCode: '216',
    summaryTypeCode: '190',
    description: 'FOREIGN REMITTANCE CREDIT',
    baiShortDescription: 'FOREIGN REMITTANCE',
    groupCode: 'INT',
    groupDescription: 'INT',
    productGroupCode: 'BOOK',
    germanTypeCode: '202',
    swiftTypeCode: 'TRF',
    ddaTxnCode: '683',
    productGroup: BOOK,
    shortDescription: 'FRGN REMITTANCE CR',
    wireType: 'EMPTY',
    narrative: 'remark',
    majorDigits: [2, 6],
  },
  {
    key: 'interest',
    direction: 'CREDIT',
    weight: 2,
    typeCode: '354',
    summaryTypeCode: '390',
    description: 'INTEREST CREDIT',
    baiShortDescription: 'INTEREST CREDIT',
    groupCode: 'OTHER',
    groupDescription: 'OTHER',
    productGroupCode: 'INV',
    germanTypeCode: '814',
    swiftTypeCode: 'INT',
    ddaTxnCode: '428',
    productGroup: { groupCode: 'INV', groupDescription: 'INVESTMENT SERVICES', wire: false },
    shortDescription: 'INVSTMNT INT / DIV',
    wireType: 'EMPTY',
    narrative: 'remark',
    majorDigits: [1, 4],
  },
  {
    key: 'misc-in',
    direction: 'CREDIT',
    weight: 6,
    typeCode: '399',
    summaryTypeCode: '390',
    description: 'MISCELLANEOUS CREDIT',
    baiShortDescription: 'INDIV OTHER/MISC',
    groupCode: 'OTHER',
    groupDescription: 'OTHER',
    productGroupCode: 'MISC',
    germanTypeCode: '835',
    swiftTypeCode: 'MSC',
    ddaTxnCode: '194',
    productGroup: { groupCode: 'D/R', groupDescription: 'DEPOSIT AND REMITTANCE', wire: false },
    shortDescription: 'MISC CREDIT',
    wireType: 'EMPTY',
    narrative: 'remark',
    majorDigits: [1, 5],
  },
  {
    key: 'fed-out',
    direction: 'DEBIT',
    weight: 12,
    ...WIRE_OUT,
    productGroup: FED,
    shortDescription: 'FEDWIRE DEBIT',
    wireType: 'FED',
    narrative: 'fed',
    majorDigits: [3, 7],
  },
  {
    key: 'chip-out',
    direction: 'DEBIT',
    weight: 8,
    ...WIRE_OUT,
    productGroup: CHIP,
    shortDescription: 'CHIPS DEBIT',
    wireType: 'CHIP',
    narrative: 'chip',
    majorDigits: [3, 7],
  },
  {
    key: 'book-out',
    direction: 'DEBIT',
    weight: 10,
    ...WIRE_OUT,
    productGroup: OTHER_WIRE,
    shortDescription: 'OUTBND FD WIRE XSFER',
    wireType: 'BOOK',
    narrative: 'book',
    majorDigits: [2, 6],
  },
  {
    key: 'frgn-out',
    direction: 'DEBIT',
    weight: 4,
    typeCode: '516',
    summaryTypeCode: '490',
    description: 'FOREIGN REMITTANCE DEBITS',
    baiShortDescription: 'FOREIGN REMITTANCE',
    groupCode: 'INT',
    groupDescription: 'INT',
    productGroupCode: 'BOOK',
    germanTypeCode: '206',
    swiftTypeCode: 'TRF',
    ddaTxnCode: '682',
    productGroup: BOOK,
    shortDescription: 'FRGN REMITTANCE DB',
    wireType: 'EMPTY',
    narrative: 'remark',
    majorDigits: [2, 6],
  },
  {
    key: 'misc-out',
    direction: 'DEBIT',
    weight: 4,
    typeCode: '699',
    summaryTypeCode: '690',
    description: 'MISCELLANEOUS DEBIT',
    baiShortDescription: 'MISC DEBIT',
    groupCode: 'OTHER',
    groupDescription: 'OTHER',
    productGroupCode: 'MISC',
    germanTypeCode: '835',
    swiftTypeCode: 'MSC',
    ddaTxnCode: '195',
    productGroup: { groupCode: 'D/R', groupDescription: 'DEPOSIT AND REMITTANCE', wire: false },
    shortDescription: 'MISC DEBIT',
    wireType: 'EMPTY',
    narrative: 'remark',
    majorDigits: [1, 5],
  },
];

export const FEE_KIND: TxnKind = {
  key: 'fee',
  direction: 'DEBIT',
  weight: 0,
  typeCode: '698',
  summaryTypeCode: '690',
  description: 'MISCELLANEOUS FEES',
  baiShortDescription: 'MISC FEES',
  groupCode: 'OTHER',
  groupDescription: 'OTHER',
  productGroupCode: 'MISC',
  germanTypeCode: '808',
  swiftTypeCode: 'CHG',
  ddaTxnCode: '196',
  productGroup: { groupCode: 'D/R', groupDescription: 'DEPOSIT AND REMITTANCE', wire: false },
  shortDescription: 'SERVICE CHARGE',
  wireType: 'EMPTY',
  narrative: 'fee',
  majorDigits: [2, 2],
};

/** End-of-day target-balance sweep, the way treasury accounts move surplus cash to an investment fund. */
export const SWEEP_OUT: TxnKind = {
  key: 'sweep-out',
  direction: 'DEBIT',
  weight: 0,
  typeCode: '549',
  summaryTypeCode: '530',
  description: 'MISCELLANEOUS SECURITY DEBIT',
  baiShortDescription: 'MISC SECURITY DEBIT',
  groupCode: 'SECURITY',
  groupDescription: 'SECURITY',
  productGroupCode: 'SEC',
  germanTypeCode: '303',
  swiftTypeCode: 'SEC',
  ddaTxnCode: '431',
  productGroup: { groupCode: 'SEC', groupDescription: 'SECURITY ACTIVITY', wire: false },
  shortDescription: 'XFER TO INVSTMT FUND',
  wireType: 'EMPTY',
  narrative: 'remark',
  majorDigits: [1, 1],
};
export const SWEEP_IN: TxnKind = {
  key: 'sweep-in',
  direction: 'CREDIT',
  weight: 0,
  typeCode: '249',
  summaryTypeCode: '230',
  description: 'MISC. SECURITY CREDIT',
  baiShortDescription: 'MISC SECURITY',
  groupCode: 'SECURITY',
  groupDescription: 'SECURITY',
  productGroupCode: 'SEC',
  germanTypeCode: '303',
  swiftTypeCode: 'SEC',
  ddaTxnCode: '430',
  productGroup: { groupCode: 'SEC', groupDescription: 'SECURITY ACTIVITY', wire: false },
  shortDescription: 'XFER FROM INVESTMENT',
  wireType: 'EMPTY',
  narrative: 'remark',
  majorDigits: [1, 1],
};

/** A reversal runs the other way under the mirror type code (a returned outgoing wire comes back as a credit). */
export function reversalKind(kind: TxnKind): TxnKind {
  const mirror = TXN_KINDS.find(
    (k) =>
      k.direction !== kind.direction &&
      k.productGroup.groupCode === kind.productGroup.groupCode &&
      k.wireType === kind.wireType,
  );
  return mirror ?? (kind.direction === 'DEBIT' ? SWEEP_IN : SWEEP_OUT);
}

export const COUNTERPARTIES = [
  'ACME INDUSTRIAL SUPPLY CO 120 MAIN STREET CHICAGO IL 60601 US',
  'NORTHWIND TRADERS LLC 55 WATER STREET NEW YORK NY 10041 US',
  'CONTOSO GMBH FRIEDRICHSTRASSE 68 BERLIN 10117 DE',
  'FABRIKAM KK 1-1 MARUNOUCHI CHIYODA-KU TOKYO 100-0005 JP',
  'GULF LOGISTICS WLL SHARQ KUWAIT CITY KW',
  'TAILSPIN TOYS LTD 1 CANADA SQUARE LONDON E14 5AB GB',
  'WOODGROVE HOLDINGS INC 400 CONGRESS AVE AUSTIN TX 78701 US',
];

export const BANKS = [
  { name: 'CITIBANK N.A. 388 GREENWICH STREET NEW YORK NY US', aba: '021000089' },
  { name: 'HSBC BANK USA, N.A. NEW YORK NY 10018 US', aba: '021001088' },
  { name: 'BANK OF AMERICA, N.A. NEW YORK NY US', aba: '026009593' },
  { name: 'BNP PARIBAS SA NEW YORK BRANCH 787 SEVENTH AVENUE NEW YORK NY 10019 US', aba: '026007689' },
];

/** J.P. Morgan pads narrative tag keys to 12 characters (BAI2 88-record tags), e.g. `"YOUR REF    "`. */
export function tag(name: string): string {
  return name.padEnd(12, ' ').slice(0, 12);
}
