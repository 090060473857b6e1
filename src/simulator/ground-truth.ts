import { formatMinorUnits } from '../shared/money.ts';
import { eachDay, type IsoDate } from '../shared/time.ts';
import type { SimAccount } from './accounts.ts';
import { BANK } from './catalog.ts';
import type { Ledger } from './ledger.ts';
import { isRevealed, postedReported, type Clock, type Reported } from './views.ts';

/**
 * The final ledger as the bank would report it today, for tests to compare our database against
 * exactly. Amounts are decimal text with the currency's full scale (never JS numbers). Closed business
 * days only (the current day is still moving); late postings not yet revealed are listed apart,
 * because the bank does not report them yet although its balances already include them.
 */
export interface GroundTruthTransaction {
  transactionId: string;
  asOfDate: IsoDate;
  valueDate: IsoDate;
  amount: string;
  debitCreditCode: 'CREDIT' | 'DEBIT';
  typeCode: string;
  bankReference: string;
  customerReference: string;
  reversal: boolean;
  /** Why the item is unusual, e.g. `identical`, `late`, `amount-changed`, `reversal`, `sweep`. */
  marks: string[];
}

export interface GroundTruthBalance {
  asOfDate: IsoDate;
  openingLedger: string;
  endingLedger: string;
  openingAvailable: string;
  endingAvailable: string;
}

export interface GroundTruthAccount {
  accountId: string;
  bankId: string;
  accountName: string;
  currency: string;
  decimalLocation: number;
  transactions: GroundTruthTransaction[];
  balances: GroundTruthBalance[];
  /** Late postings already in the balances but not yet returned by transaction queries. */
  unrevealed: (GroundTruthTransaction & { revealDate: IsoDate })[];
}

export interface GroundTruth {
  today: IsoDate;
  progress: number;
  firstDate: IsoDate;
  lastClosedDate: IsoDate;
  accounts: GroundTruthAccount[];
}

function toTruth(r: Reported): GroundTruthTransaction {
  return {
    transactionId: r.transactionId,
    asOfDate: r.date,
    valueDate: r.item.valueDate,
    amount: formatMinorUnits(r.amount, r.account.currency.decimalLocation),
    debitCreditCode: r.item.direction,
    typeCode: r.item.kind.typeCode,
    bankReference: r.item.bankRef,
    customerReference: r.item.customerRef,
    reversal: r.item.reversal,
    marks: [...r.item.marks],
  };
}

function accountTruth(ledger: Ledger, account: SimAccount, days: IsoDate[], today: IsoDate): GroundTruthAccount {
  const dl = account.currency.decimalLocation;
  const fmt = (v: bigint) => formatMinorUnits(v, dl);
  const transactions: GroundTruthTransaction[] = [];
  const balances: GroundTruthBalance[] = [];
  const unrevealed: GroundTruthAccount['unrevealed'] = [];
  for (const date of days) {
    const day = ledger.day(account, date);
    const amounts = ledger.finalBalances(account, date);
    if (!day || !amounts) {
      continue;
    }
    transactions.push(...postedReported(ledger, account, date, today).map(toTruth));
    for (const item of day.items) {
      if (item.postedMinor !== null && item.revealDate !== null && !isRevealed(item, today)) {
        unrevealed.push({
          ...toTruth({
            account,
            date,
            item,
            postCode: 'P',
            transactionId: '',
            amount: item.postedMinor,
            recordDate: item.revealDate,
            oddSeed: null,
          }),
          revealDate: item.revealDate,
        });
      }
    }
    balances.push({
      asOfDate: date,
      openingLedger: fmt(amounts.openingLedger),
      endingLedger: fmt(amounts.endingLedger),
      openingAvailable: fmt(amounts.openingAvailable),
      endingAvailable: fmt(amounts.endingAvailable),
    });
  }
  return {
    accountId: account.accountId,
    bankId: BANK.bankId,
    accountName: account.accountName,
    currency: account.currency.code,
    decimalLocation: dl,
    transactions,
    balances,
    unrevealed,
  };
}

export function groundTruth(ledger: Ledger, clock: Clock): GroundTruth {
  const lastClosedDate = ledger.calendar.previousBusinessDay(clock.today);
  const days = eachDay(ledger.firstDate, lastClosedDate);
  return {
    today: clock.today,
    progress: clock.progress,
    firstDate: ledger.firstDate,
    lastClosedDate,
    accounts: ledger.accounts.map((a) => accountTruth(ledger, a, days, clock.today)),
  };
}
