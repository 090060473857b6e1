import type { BalanceKind, RecordSource } from '../domain/types.ts';
import { balanceCurrencyProblem, type WireBalance, type WireBalanceAccount } from '../jpm/wire.schemas.ts';
import { toStorableMinorUnits } from '../shared/money.ts';
import { isInstant, isIsoDate } from '../shared/time.ts';
import { canonicalContentHash, contentHash, type NumericMembers } from './identity.ts';

export interface NormalizedBalance {
  jpmAccountId: string;
  asOfDate: string;
  /** current_day: an intraday snapshot, refreshed during the day; final: prior-day/history. */
  kind: BalanceKind;
  currency: string;
  decimalLocation: number;
  openingLedgerMinor: bigint | null;
  openingAvailableMinor: bigint | null;
  endingLedgerMinor: bigint | null;
  endingAvailableMinor: bigint | null;
  recordTimestamp: string | null;
  /** Over the balance's amounts and its raw record by meaning (`balanceContentHash`). */
  contentHash: string;
  /**
   * The hash balances had before `contentHash` read the raw record by meaning (over its exact text): what rows stored
   * before hold, so the same text again is unchanged. Absent for a balance made another way.
   */
  formerContentHash?: string;
  /** The channel the balance came from (`normalizeBalances` is the API's mapping; files set their own). */
  source: RecordSource;
  raw: WireBalance;
}

/** The members of a balance J.P. Morgan sends as JSON numbers: their value is the content, not their spelling. */
/** The members of a balance record whose value, not its spelling, is the content (as `TRANSACTION_NUMBERS`). */
export const BALANCE_NUMBERS: NumericMembers = {
  openingAvailableAmount: true,
  openingLedgerAmount: true,
  endingAvailableAmount: true,
  endingLedgerAmount: true,
};

/**
 * A balance's content hash: its kind and amounts, and its raw record by meaning (`canonicalJson`: the amounts by value,
 * members in any order, a null member as absent), so the same balance sent again with `-12.50` for `-12.5` is
 * unchanged (not rewritten), and two copies in one answer that differ only so are one balance, not two rejects.
 */
function balanceContentHash(kind: BalanceKind, amounts: readonly (string | null)[], raw: unknown): string {
  return canonicalContentHash([kind, amounts], raw, BALANCE_NUMBERS);
}

export interface BalanceReject {
  jpmAccountId: string;
  reason: string;
  raw: unknown;
}

/** A per-account error entry inside a 200 (e.g. GCA-024 "no transaction was found … on the requested day"). */
export interface BalanceAccountError {
  jpmAccountId: string;
  errorCode: string;
  errorMsg: string;
}

/**
 * A ledger amount: the proof needs it, so one that is missing, null or unreadable rejects the balance (a stored
 * balance is never overwritten with a ledger amount the bank did not give).
 */
function amount(text: unknown, scale: number, field: string): bigint {
  if (text === null || text === undefined) {
    throw new Error(`${field}: is required but ${text === null ? 'null' : 'missing'}`);
  }
  try {
    if (typeof text !== 'string') {
      throw new Error(`must be a decimal number, got ${typeof text}`);
    }
    return toStorableMinorUnits(text, scale);
  } catch (err) {
    throw new Error(`${field}: ${(err as Error).message}`, { cause: err });
  }
}

/** An available amount: nothing is proved with it, so an unreadable one is stored as null (the raw keeps it). */
function optionalAmount(text: unknown, scale: number): bigint | null {
  try {
    return typeof text === 'string' ? toStorableMinorUnits(text, scale) : null;
  } catch {
    return null;
  }
}

/**
 * `ledger`: `required` (the API: a balance without both ledger amounts is a reject) or `as_stated` (a statement file,
 * whose summary records state what the bank chose to report: an amount it leaves out is null, stored as such and never
 * blanking a stored one; the proof calls such a final balance incomplete). An unreadable amount is a reject either way.
 */
export function normalizeBalances(
  accounts: readonly WireBalanceAccount[],
  options: { ledger: 'required' | 'as_stated'; from?: 'answer' | 'file' } = { ledger: 'required' },
): {
  balances: NormalizedBalance[];
  rejects: BalanceReject[];
  accountErrors: BalanceAccountError[];
} {
  const balances: NormalizedBalance[] = [];
  const rejects: BalanceReject[] = [];
  const accountErrors: BalanceAccountError[] = [];
  for (const account of accounts) {
    if (account.errorCode) {
      accountErrors.push({
        jpmAccountId: account.accountId,
        errorCode: account.errorCode,
        errorMsg: account.errorMsg ?? '',
      });
      continue;
    }
    const currencyProblem = balanceCurrencyProblem(account.currency);
    if (currencyProblem !== undefined) {
      // The currency scales every amount of the account: none of its balances can be read, each is a reject.
      for (const b of account.balanceList ?? []) {
        rejects.push({
          jpmAccountId: account.accountId,
          reason: `${currencyProblem} (the account's balances cannot be scaled)`,
          raw: b,
        });
      }
      continue;
    }
    const scale = Number(account.currency.decimalLocation);
    for (const b of account.balanceList ?? []) {
      try {
        if (b === null || typeof b !== 'object' || Array.isArray(b)) {
          throw new Error('(balance): expected object');
        }
        if (typeof b.asOfDate !== 'string' || !isIsoDate(b.asOfDate)) {
          throw new Error(`asOfDate: must be YYYY-MM-DD, got ${JSON.stringify(b.asOfDate ?? null)}`);
        }
        if (typeof b.currentDay !== 'boolean') {
          // It says which balance this is (intraday or final): the proof cannot guess it.
          throw new Error('currentDay: must be true or false');
        }
        const ledger = (text: unknown, field: string) =>
          options.ledger === 'as_stated' && (text === null || text === undefined) ? null : amount(text, scale, field);
        const n = {
          openingLedgerMinor: ledger(b.openingLedgerAmount, 'openingLedgerAmount'),
          openingAvailableMinor: optionalAmount(b.openingAvailableAmount, scale),
          endingLedgerMinor: ledger(b.endingLedgerAmount, 'endingLedgerAmount'),
          endingAvailableMinor: optionalAmount(b.endingAvailableAmount, scale),
        };
        const kind: BalanceKind = b.currentDay ? 'current_day' : 'final';
        const amounts = Object.values(n).map((v) => v?.toString() ?? null);
        balances.push({
          jpmAccountId: account.accountId,
          asOfDate: b.asOfDate,
          kind,
          currency: account.currency.code,
          decimalLocation: scale,
          ...n,
          // Only a real instant: a text of the form that names none (30 February, minute 60) is stored as null (the raw
          // keeps it), never sent to the timestamptz column, which would fail the window's every attempt.
          recordTimestamp:
            typeof b.recordTimestamp === 'string' && isInstant(b.recordTimestamp) ? b.recordTimestamp : null,
          contentHash: balanceContentHash(kind, amounts, b),
          formerContentHash: contentHash([kind, amounts, b]),
          source: 'jpm_api',
          raw: b,
        });
      } catch (err) {
        rejects.push({ jpmAccountId: account.accountId, reason: (err as Error).message, raw: b });
      }
    }
  }
  return { balances: oncePerDay(balances, rejects, options.from ?? 'answer'), rejects, accountErrors };
}

/**
 * One balance per account, day and kind: an answer that gives the same one twice (a repeated element, or the account
 * listed twice) stores it once; copies that differ are each a reject, and the stored balance of that day stays as it
 * is (which copy is right is not ours to guess).
 */
function oncePerDay(
  balances: NormalizedBalance[],
  rejects: BalanceReject[],
  from: 'answer' | 'file',
): NormalizedBalance[] {
  const groups = Map.groupBy(balances, (b) => `${b.jpmAccountId}|${b.asOfDate}|${b.kind}`);
  const kept: NormalizedBalance[] = [];
  for (const group of groups.values()) {
    const first = group[0] as NormalizedBalance;
    if (group.every((b) => b.contentHash === first.contentHash)) {
      kept.push(first);
      continue;
    }
    for (const b of group) {
      rejects.push({
        jpmAccountId: b.jpmAccountId,
        reason: `(balance): the ${from} gives the ${b.kind === 'final' ? 'final' : 'current-day'} balance of ${b.asOfDate} ${group.length} times with different content`,
        raw: b.raw,
      });
    }
  }
  return kept;
}
