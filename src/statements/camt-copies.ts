import type { IsoDate } from '../shared/time.ts';
import { StatementFileError, type StatementAccount, type StatementBalance, type StatementEntry } from './types.ts';

/**
 * camt statements marked as a copy or duplicate of one sent before (`CpyDplctInd`, ISO 20022 CopyDuplicate1Code):
 * COPY (a copy sent to another party), DUPL (the same statement sent again), CODU (a copy sent again). Pure.
 */
export const COPY_CODES = ['COPY', 'DUPL', 'CODU'] as const;

/** One statement of a camt file (its pages joined), with its copy indicator ('' for an original). */
export interface CamtSection {
  account: StatementAccount;
  /** `Stmt/Id` (`Rpt/Id`): a copy or duplicate bears its original's. */
  id: string;
  copy: string;
  /** The `Stmt` / `Rpt` start tag's line. */
  line: number;
}

const entryKey = (e: StatementEntry) =>
  [
    e.bookingDate,
    e.status,
    e.direction,
    e.amountMinor,
    e.currency,
    e.typeCode ?? '',
    e.bankReference.trim(),
    e.customerReference.trim(),
    e.valueDate ?? '',
  ].join('|');

const AMOUNTS = ['openingLedgerMinor', 'closingLedgerMinor', 'openingAvailableMinor', 'closingAvailableMinor'] as const;

function daysOf(a: StatementAccount): Set<IsoDate> {
  return new Set([...a.entries.map((e) => e.bookingDate), ...a.balances.map((b) => b.date)]);
}

function sameEntries(copy: readonly StatementEntry[], of: readonly StatementEntry[]): boolean {
  const counts = new Map<string, number>();
  for (const e of of) {
    counts.set(entryKey(e), (counts.get(entryKey(e)) ?? 0) + 1);
  }
  for (const e of copy) {
    const n = counts.get(entryKey(e)) ?? 0;
    if (n === 0) {
      return false;
    }
    counts.set(entryKey(e), n - 1);
  }
  return [...counts.values()].every((n) => n === 0);
}

/** Every amount the copy's balance states is the one the covering statements state for that day and kind. */
function sameBalances(copy: readonly StatementBalance[], of: readonly StatementBalance[]): boolean {
  return copy.every((b) => {
    const same = of.filter((x) => x.date === b.date && x.kind === b.kind);
    return AMOUNTS.every((f) => b[f] === null || same.some((x) => x[f] === b[f]));
  });
}

/** What differs between a statement and the one it repeats, for the refusal (undefined when nothing does). */
function difference(copy: StatementAccount, covering: readonly CamtSection[]): string | undefined {
  const days = daysOf(copy);
  const covered = new Set(covering.flatMap((c) => [...daysOf(c.account)]));
  const other = [...new Set([...days, ...covered])].filter((d) => !days.has(d) || !covered.has(d)).sort();
  if (other.length > 0) {
    return `they do not report the same days (${other.join(', ')})`;
  }
  if (
    !sameEntries(
      copy.entries,
      covering.flatMap((c) => c.account.entries),
    )
  ) {
    return 'its entries are not those of the statement it copies';
  }
  if (
    !sameBalances(
      copy.balances,
      covering.flatMap((c) => c.account.balances),
    )
  ) {
    return 'its balances are not those of the statement it copies';
  }
  return undefined;
}

/**
 * The statements of one file with their copies resolved. A copy's original is the statement of its account with its
 * `Id` (a duplicate is the same statement sent again). A copy whose original (or an earlier copy of it) is in the
 * file, wherever in it, is dropped when it says the same (its days, its entries each as often, its balances): nothing
 * twice. One that says otherwise refuses the file (`statement_duplicate_differs`): which is right cannot be told. A
 * copy of a statement the file does not hold stands for it: its entries and balances are marked `fromCopy` and its
 * days are the account's `copyDays`, which the import stores only where nothing of the day is stored (a copy never
 * overwrites what its original stored). An original repeated unmarked (its Id again) is dropped or refuses the file
 * the same way.
 */
export function resolveCopies(sections: readonly CamtSection[]): CamtSection[] {
  /** The statement kept for each account and Id (looked up, not searched: a file may hold thousands). */
  const kept = new Map<string, CamtSection>();
  const keyOf = (s: CamtSection) =>
    s.id === '' ? null : JSON.stringify([s.account.accountNumber, s.account.currency, s.id]);
  const dropped = new Set<CamtSection>();
  // An original statement repeated unmarked (the same Id again: a statement sent twice) is one statement.
  for (const s of sections.filter((x) => x.copy === '')) {
    const key = keyOf(s);
    const earlier = key === null ? undefined : kept.get(key);
    if (earlier === undefined) {
      if (key !== null) {
        kept.set(key, s);
      }
      continue;
    }
    const why = difference(s.account, [earlier]);
    if (why !== undefined) {
      throw new StatementFileError(
        `the statement repeats the Id of the statement of line ${earlier.line} (${JSON.stringify(s.id)}) but ` +
          `differs from it: ${why}. Which is right cannot be told: send each statement once`,
        s.line,
        'statement_duplicate_differs',
      );
    }
    dropped.add(s);
  }
  for (const s of sections) {
    if (s.copy === '') {
      continue;
    }
    const key = keyOf(s);
    const original = key === null ? undefined : kept.get(key);
    if (original === undefined) {
      if (key !== null) {
        kept.set(key, s);
      }
      s.account.copyDays = [...daysOf(s.account)].sort();
      s.account.entries = s.account.entries.map((e) => ({ ...e, fromCopy: true }));
      s.account.balances = s.account.balances.map((b) => ({ ...b, fromCopy: true }));
      continue;
    }
    const why = difference(s.account, [original]);
    if (why !== undefined) {
      throw new StatementFileError(
        `the statement is marked ${s.copy} (CpyDplctInd: a copy of a statement sent before) but differs from the ` +
          `statement of line ${original.line} it copies (Id ${JSON.stringify(s.id)}): ${why}. Which is ` +
          'right cannot be told: send the original statement without its copy',
        s.line,
        'statement_duplicate_differs',
      );
    }
    dropped.add(s);
  }
  return sections.filter((s) => !dropped.has(s));
}
