import { formatMinorUnits } from '../shared/money.ts';
import type { CamtSection } from './camt-copies.ts';
import { StatementFileError, type StatementBalance } from './types.ts';

/**
 * Several statements of one account reporting one day (an intraday statement sequence: 08:00-12:30, then the rest of
 * the day; or a day split over statements), each with its own opening and closing balance. They are successive: the
 * day opens with the first one's opening balance and closes with the last one's closing balance. Their order is the
 * bank's sequence numbers (`ElctrncSeqNb`, else `LglSeqNb`) when every one of them has one, else the only order in
 * which each statement opens with the balance the one before it closed with. Either way every statement must open
 * with its predecessor's close where both are stated; if not, or if no order can be told, the file is refused
 * (`statement_balances_conflict`): which balance is the day's cannot be told. Pure.
 */

/** A statement's sequence numbers as written ('' when absent). */
export interface SequenceNumbers {
  electronic: string;
  legal: string;
}

const PAIRS = [
  ['openingLedgerMinor', 'closingLedgerMinor'],
  ['openingAvailableMinor', 'closingAvailableMinor'],
] as const;

const AMOUNTS = ['openingLedgerMinor', 'closingLedgerMinor', 'openingAvailableMinor', 'closingAvailableMinor'] as const;

/** Tried without sequence numbers; more statements than this of one day must be numbered. */
const MAX_UNNUMBERED = 8;

interface Part {
  section: CamtSection;
  balance: StatementBalance;
  seq: SequenceNumbers;
}

/** Two balances of one day and kind that state one amount differently. */
const conflicting = (a: StatementBalance, b: StatementBalance) =>
  AMOUNTS.some((f) => a[f] !== null && b[f] !== null && a[f] !== b[f]);

/** `next` follows `prev`: no stated pair differs, and at least one pair is stated (`proved`). */
function follows(prev: StatementBalance, next: StatementBalance): { contradicts: boolean; proved: boolean } {
  let proved = false;
  for (const [open, close] of PAIRS) {
    const closed = prev[close];
    const opened = next[open];
    if (closed !== null && opened !== null) {
      if (closed !== opened) {
        return { contradicts: true, proved: false };
      }
      proved = true;
    }
  }
  return { contradicts: false, proved };
}

function bySequence(parts: readonly Part[]): Part[] | null {
  for (const key of ['electronic', 'legal'] as const) {
    const numbers = parts.map((p) => p.seq[key]);
    if (numbers.every((n) => /^\d{1,30}$/.test(n)) && new Set(numbers.map((n) => BigInt(n))).size === parts.length) {
      return [...parts].sort((a, b) => (BigInt(a.seq[key]) < BigInt(b.seq[key]) ? -1 : 1));
    }
  }
  return null;
}

/** The orders in which every statement provably follows the one before (stops at two: one is wanted). */
function byBalances(parts: readonly Part[]): Part[][] {
  const found: Part[][] = [];
  const walk = (chain: Part[], rest: Part[]) => {
    if (found.length > 1) {
      return;
    }
    if (rest.length === 0) {
      found.push(chain);
      return;
    }
    for (const p of rest) {
      if (follows(chain.at(-1)!.balance, p.balance).proved) {
        walk(
          [...chain, p],
          rest.filter((x) => x !== p),
        );
      }
    }
  };
  if (parts.length <= MAX_UNNUMBERED) {
    for (const first of parts) {
      walk(
        [first],
        parts.filter((x) => x !== first),
      );
    }
  }
  return found;
}

function describe(p: Part): string {
  const b = p.balance;
  const amount = (m: bigint | null) => (m === null ? 'not stated' : formatMinorUnits(m, b.decimalLocation));
  const id = p.section.id === '' ? '' : ` (Id ${JSON.stringify(p.section.id)})`;
  return `line ${p.section.line}${id}: opening ${amount(b.openingLedgerMinor)}, closing ${amount(b.closingLedgerMinor)}`;
}

/**
 * The file's statements (copies resolved) with the balances of successive statements of one account, day and kind
 * joined into one: the first statement's balance becomes the day's, the others give theirs up. Entries are untouched.
 */
export function joinSuccessive(
  sections: readonly CamtSection[],
  sequenceOf: (s: CamtSection) => SequenceNumbers,
): void {
  const groups = new Map<string, Part[]>();
  for (const section of sections) {
    for (const balance of section.account.balances) {
      const key = JSON.stringify([
        section.account.accountNumber,
        section.account.currency,
        balance.date,
        balance.kind,
        balance.currency,
      ]);
      groups.set(key, [...(groups.get(key) ?? []), { section, balance, seq: sequenceOf(section) }]);
    }
  }
  for (const parts of groups.values()) {
    if (parts.length < 2 || !parts.some((p, i) => parts.slice(i + 1).some((q) => conflicting(p.balance, q.balance)))) {
      continue; // one statement, or several saying the same (joined as before)
    }
    const numbered = bySequence(parts);
    const orders = numbered ? [numbered] : byBalances(parts);
    const order = orders.length === 1 ? orders[0]! : null;
    const broken = order?.findIndex((p, i) => i > 0 && follows(order[i - 1]!.balance, p.balance).contradicts) ?? -1;
    if (!order || broken > 0) {
      const { date, kind } = parts[0]!.balance;
      const what = kind === 'final' ? 'final balance' : 'intraday balance';
      const why =
        order && numbered
          ? `in the order of their sequence numbers the statement of line ${order[broken]!.section.line} does not ` +
            `open with the balance the statement of line ${order[broken - 1]!.section.line} closed with`
          : orders.length > 1
            ? 'their balances chain in more than one order and they have no sequence numbers (ElctrncSeqNb or LglSeqNb) to tell which'
            : 'no statement opens with the balance another closed with, and they have no sequence numbers (ElctrncSeqNb or LglSeqNb) to order them';
      throw new StatementFileError(
        `${parts.length} statements of account ${parts[0]!.section.account.accountNumber} give the ${what} of ` +
          `${date} with different amounts (${parts.map(describe).join('; ')}), and ${why}: which is the day's ` +
          'cannot be told. Send successive statements of a day numbered in order, each opening with the balance ' +
          'the one before closed with, or only the statement that closes the day',
        parts[0]!.section.line,
        'statement_balances_conflict',
      );
    }
    const first = order[0]!.balance;
    const last = order.at(-1)!.balance;
    const joined: StatementBalance = {
      ...first,
      closingLedgerMinor: last.closingLedgerMinor,
      closingAvailableMinor: last.closingAvailableMinor,
      fromCopy: order.every((p) => p.balance.fromCopy) ? true : undefined,
    };
    if (joined.fromCopy === undefined) {
      delete joined.fromCopy;
    }
    for (const p of order) {
      p.section.account.balances = p.section.account.balances.filter((b) => b !== p.balance);
    }
    order[0]!.section.account.balances.push(joined);
  }
}
