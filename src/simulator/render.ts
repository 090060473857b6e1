import { JsonNumber } from '../shared/json.ts';
import { formatMinorUnits } from '../shared/money.ts';
import { addDays, type IsoDate } from '../shared/time.ts';
import type { SimAccount } from './accounts.ts';
import { clockTime } from './calendar.ts';
import { BANK, type CurrencyInfo } from './catalog.ts';
import { Prng } from './prng.ts';
import { applyOddFields } from './strange.ts';
import type { Reported, BalanceView } from './views.ts';

/**
 * Wire shapes, field for field and in the same key order as J.P. Morgan's sample payloads
 * (`../shared/reference/jpm/`). Amounts are JSON numbers written from exact decimal text via
 * `JsonNumber`: transaction amounts without trailing zeros (`375`, `0.1`, as in the samples), balance
 * amounts with the currency's full scale (`0.00`).
 */
export function fixedAmount(minor: bigint, decimalLocation: number): JsonNumber {
  return new JsonNumber(formatMinorUnits(minor, decimalLocation));
}

export function trimmedAmount(minor: bigint, decimalLocation: number): JsonNumber {
  const text = formatMinorUnits(minor, decimalLocation);
  return new JsonNumber(text.includes('.') ? text.replace(/\.?0+$/, '') : text);
}

function txnCurrency(c: CurrencyInfo) {
  return {
    code: c.code,
    description: c.description,
    decimalLocation: c.decimalLocation,
    currencySequence: c.currencySequence,
  };
}

function balanceCurrency(c: CurrencyInfo) {
  return {
    code: c.code,
    currencySequence: c.currencySequence,
    decimalLocation: c.decimalLocation,
    description: c.description,
  };
}

function stamp(date: IsoDate, seconds: number): string {
  return `${date}T${clockTime(seconds)}Z`;
}

/** Local (New York, UTC−4 in the samples) timestamp without zone and with microseconds, like `loggedAt`. */
function loggedAt(date: IsoDate, seconds: number, micros: number): string {
  const local = seconds - 4 * 3600;
  const day = local < 0 ? addDays(date, -1) : date;
  return `${day}T${clockTime(local < 0 ? local + 86_400 : local)}.${String(micros).padStart(6, '0')}`;
}

/**
 * One Transaction Details record. With quirk `oddFields`, some records get odd optional fields
 * (`strange.ts`), drawn per item and record class, so an item's intraday and posted records differ.
 */
export function renderTransaction(r: Reported): Record<string, unknown> {
  return renderTransactionWithOddities(r).record;
}

/** The record and the names of the odd field shapes it got (`strange.ts`, `ODD_FIELDS`). */
export function renderTransactionWithOddities(r: Reported): { record: Record<string, unknown>; oddities: string[] } {
  const record = renderPlainTransaction(r);
  const oddities =
    r.oddSeed === null
      ? []
      : applyOddFields(
          new Prng(
            r.oddSeed,
            'odd-fields',
            r.account.accountId,
            r.date,
            r.item.bankRef,
            String(r.item.secondOfDay),
            r.postCode,
          ),
          record,
        );
  return { record, oddities };
}

function renderPlainTransaction(r: Reported): Record<string, unknown> {
  const { account, item } = r;
  const c = account.currency;
  const dl = c.decimalLocation;
  const kind = item.kind;
  // Prior-day records are stamped when the bank's overnight posting run wrote them; late ones on reveal.
  const recordDate = r.recordDate;
  // Overnight run between ~01:40 and ~02:30, in intraday order; identical items get identical stamps.
  const recordSeconds = r.postCode === 'I' ? item.secondOfDay : 3600 + Math.floor(item.secondOfDay / 12);
  const recordTimestamp = stamp(recordDate, recordSeconds);
  const credit = item.direction === 'CREDIT';
  const day1 = credit ? (r.amount * BigInt(item.day1Pct)) / 100n : 0n;
  const day2 = credit ? (r.amount * BigInt(item.day2Pct)) / 100n : 0n;
  return {
    account: {
      accountId: account.accountId,
      accountName: account.accountName,
      bankId: BANK.bankId,
      branchId: '',
      bankName: BANK.transactionBankName,
      currency: txnCurrency(c),
      aba: BANK.aba,
    },
    asOfDateTime: stamp(r.date, item.secondOfDay),
    valueDateTime: stamp(item.valueDate, item.secondOfDay),
    asOfDate: r.date,
    valueDate: item.valueDate,
    recordTimestamp,
    lastUpdate: null,
    receivedTimestamp: recordTimestamp,
    productGroup: { ...kind.productGroup },
    debitCreditCode: item.direction,
    baiType: {
      typeCode: kind.typeCode,
      summaryTypeCode: kind.summaryTypeCode,
      description: kind.description,
      shortDescription: kind.baiShortDescription,
      groupCode: kind.groupCode,
      groupDescription: kind.groupDescription,
      productGroupCode: kind.productGroupCode,
      btrsTypeCode: kind.typeCode,
      germanTypeCode: kind.germanTypeCode,
      swiftTypeCode: kind.swiftTypeCode,
    },
    ddaTxnCode: kind.ddaTxnCode,
    originalTransactionCode: null,
    fundsTypeCode: 'SAME',
    currency: txnCurrency(c),
    amount: trimmedAmount(r.amount, dl),
    immediateAvailable: trimmedAmount(r.amount - day1 - day2, dl),
    day1Available: trimmedAmount(day1, dl),
    day2Available: trimmedAmount(day2, dl),
    day2PlusAvailable: null,
    day3PlusAvailable: new JsonNumber('0'),
    bankReferenceSearchable: { standardValue: item.bankRef, searchValue: item.bankRef },
    customerReferenceSearchable: {
      standardValue: item.customerRef,
      searchValue: item.customerRef === '' ? null : item.customerRef,
    },
    wireReferenceSearchable: null,
    repairCode: kind.productGroup.wire ? 'S' : 'N',
    reversal: item.reversal,
    override: false,
    transactionStatus: 'O',
    shortDescription: kind.shortDescription,
    wireType: kind.wireType,
    checkNumber: 0,
    lockboxSequenceCode: '',
    lockboxItems: 0,
    lockboxNumber: '',
    lockboxDepositDate: null,
    lockboxDepositTime: null,
    narrativeText: item.narrative,
    narrativeTypeCode: 'T',
    addenda: [],
    floatSpreadCode: '3',
    sepaDetailsXml: null,
    postCode: r.postCode,
    supplementalTextSet: {},
    supplementalTextRecordList: null,
    supplementalText: null,
    thirdPartyBank: false,
    achBatchItems: null,
    sepaType: false,
    transactionId: r.transactionId,
    loggedAt: loggedAt(recordDate, recordSeconds, item.micros),
  };
}

function accountHeader(account: SimAccount) {
  return {
    accountId: account.accountId,
    accountName: account.accountName,
    branchId: '',
    bankId: BANK.bankId,
    bankName: BANK.bankName,
    currency: balanceCurrency(account.currency),
  };
}

export function renderBalanceAccount(
  account: SimAccount,
  views: readonly BalanceView[],
  progress: number,
): Record<string, unknown> {
  const dl = account.currency.decimalLocation;
  return {
    ...accountHeader(account),
    balanceList: views.map((v) => ({
      asOfDate: v.date,
      recordTimestamp: v.currentDay
        ? stamp(v.date, 8 * 3600 + Math.round(progress * 10 * 3600))
        : stamp(v.date, 22 * 3600 + 30 * 60),
      currentDay: v.currentDay,
      openingAvailableAmount: fixedAmount(v.amounts.openingAvailable, dl),
      openingLedgerAmount: fixedAmount(v.amounts.openingLedger, dl),
      endingAvailableAmount: fixedAmount(v.amounts.endingAvailable, dl),
      endingLedgerAmount: fixedAmount(v.amounts.endingLedger, dl),
    })),
  };
}

/** A per-account failure inside a 200 balance response, exactly as in `AccountBalances.json`. */
export function renderBalanceAccountError(
  account: SimAccount,
  errorCode: string,
  errorMsg: string,
): Record<string, unknown> {
  return { ...accountHeader(account), errorCode, errorMsg };
}
