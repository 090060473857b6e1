import { toMinorUnits } from '../shared/money.ts';
import type { WireBalance, WireCurrency, WireTransactionRecord } from './wire.schemas.ts';

/**
 * Wire amount text → bigint minor units, scaled by the currency's `decimalLocation` as J.P. Morgan
 * reports it (2 for USD: `32163647.96` → 3216364796n; 0 for JPY; 3 for KWD). The text comes straight
 * from the JSON source (`parseJsonLossless`), so no amount ever passes through a JS number.
 * The wire schemas already rejected amounts that do not fit the scale, so these do not throw for
 * schema-valid records.
 */
export function wireAmountToMinor(amountText: string, currency: Pick<WireCurrency, 'decimalLocation'>): bigint {
  return toMinorUnits(amountText, currency.decimalLocation);
}

/** A transaction's unsigned `amount` in minor units (direction is `debitCreditCode`). */
export function transactionAmountMinor(txn: Pick<WireTransactionRecord, 'amount' | 'currency'>): bigint {
  return wireAmountToMinor(txn.amount, txn.currency);
}

/** `debitCreditCode` applied: credits positive, debits negative. */
export function signedTransactionAmountMinor(
  txn: Pick<WireTransactionRecord, 'amount' | 'currency' | 'debitCreditCode'>,
): bigint {
  const amount = transactionAmountMinor(txn);
  return txn.debitCreditCode === 'DEBIT' ? -amount : amount;
}

export interface BalanceMinor {
  openingAvailable: bigint | null;
  openingLedger: bigint;
  endingAvailable: bigint | null;
  endingLedger: bigint;
}

const optionalMinor = (text: string | null | undefined, currency: Pick<WireCurrency, 'decimalLocation'>) =>
  text === null || text === undefined ? null : wireAmountToMinor(text, currency);

/** The four balance amounts of one `balanceList` entry in minor units of the account's currency (available ones may be absent). */
export function balanceAmountsMinor(
  balance: WireBalance,
  currency: Pick<WireCurrency, 'decimalLocation'>,
): BalanceMinor {
  return {
    openingAvailable: optionalMinor(balance.openingAvailableAmount, currency),
    openingLedger: wireAmountToMinor(balance.openingLedgerAmount, currency),
    endingAvailable: optionalMinor(balance.endingAvailableAmount, currency),
    endingLedger: wireAmountToMinor(balance.endingLedgerAmount, currency),
  };
}
