import type { IsoDate } from '../shared/time.ts';
import { StatementFileError, type StatementAccount, type StatementEntry, type StatementReject } from './types.ts';

/**
 * One account's part of one BAI2 group (an 03 record to its 49), with what the group header says of it. Pure.
 */
export interface GroupSection {
  account: StatementAccount;
  date: IsoDate;
  sameDay: boolean;
  /** An interim report (as-of-date modifier 1 previous-day, 3 same-day): not yet all of the day. */
  partial: boolean;
  correction: boolean;
  /** The 02 record's line. */
  line: number;
}

/** The facts identity compares (normalize.ts `fingerprint`): equal keys are occurrences of one item. */
function itemKey(e: StatementEntry): string {
  return [
    e.direction,
    e.amountMinor,
    e.currency,
    e.typeCode ?? '',
    e.bankReference.trim(),
    e.customerReference.trim(),
  ].join('|');
}

function countByKey(entries: readonly StatementEntry[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const e of entries) {
    counts.set(itemKey(e), (counts.get(itemKey(e)) ?? 0) + 1);
  }
  return counts;
}

/** The first entry of `entries` whose occurrences outnumber those of `within`, or undefined. */
function firstBeyond(
  entries: readonly StatementEntry[],
  within: readonly StatementEntry[],
): StatementEntry | undefined {
  const left = countByKey(within);
  return entries.find((e) => {
    const n = left.get(itemKey(e)) ?? 0;
    left.set(itemKey(e), n - 1);
    return n <= 0;
  });
}

/** The occurrences of `later` plus those of `earlier` beyond them, per item (an interim report adds to the one before). */
function union(earlier: readonly StatementEntry[], later: readonly StatementEntry[]): StatementEntry[] {
  const have = countByKey(later);
  const extra = earlier.filter((e) => {
    const n = have.get(itemKey(e)) ?? 0;
    have.set(itemKey(e), n - 1);
    return n <= 0;
  });
  return [...extra, ...later];
}

function uniqueRejects(rejects: readonly StatementReject[]): StatementReject[] {
  const seen = new Set<string>();
  return rejects.filter((r) => !seen.has(r.text) && seen.add(r.text));
}

const masked = (n: string) => `****${n.trim().slice(-4)}`;

const AMOUNTS = ['openingLedgerMinor', 'closingLedgerMinor', 'openingAvailableMinor', 'closingAvailableMinor'] as const;

/**
 * The account reported twice in one group (some banks split an account's report into sections, each with its 49):
 * one report, the items of both; their balances complete each other, and two different amounts of one balance
 * refuse the file (which is the day's cannot be told).
 */
function sameGroup(before: GroupSection, s: GroupSection): GroupSection {
  const balances = before.account.balances.map((b) => ({ ...b }));
  for (const b of s.account.balances) {
    const same = balances.find((x) => x.date === b.date && x.kind === b.kind);
    if (!same) {
      balances.push(b);
      continue;
    }
    for (const f of AMOUNTS) {
      if (same[f] !== null && b[f] !== null && same[f] !== b[f]) {
        throw new StatementFileError(
          `account ${masked(s.account.accountNumber)} is reported twice in the group of line ${s.line}, with ` +
            `different balances for ${b.date} (lines ${same.at.line} and ${b.at.line}): which is the day's cannot ` +
            'be told. Report each account once per group',
          b.at.line,
          'statement_groups_conflict',
        );
      }
      same[f] ??= b[f];
    }
  }
  return {
    ...before,
    account: {
      ...before.account,
      entries: [...before.account.entries, ...s.account.entries],
      balances,
      rejects: [...before.account.rejects, ...s.account.rejects],
    },
  };
}

/**
 * The same account and as-of date reported by several groups of one file (an intraday and a previous-day group are
 * different reports: their items are pending and posted). Read as J.P. Morgan sends them, in file order:
 * - a complete report (final previous-day or same-day, or a correction) replaces what the groups before it said of
 *   the day: the later complete report wins; a group sent twice is thus stored once;
 * - an interim report after an interim report adds what it holds beyond it (each item once: the later one's
 *   occurrences, and the earlier one's beyond those), its balances the later ones;
 * - an interim report after the day's complete report that holds nothing beyond it is part of it; one that holds
 *   more cannot be decided (which is right?) and refuses the file (`statement_groups_conflict`, naming both lines).
 * A day any group of which is a correction stays a correction day (the import's stored-day check applies). The same
 * account twice in one group is one report (`sameGroup`).
 */
export function resolveGroupOverlaps(sections: readonly GroupSection[]): GroupSection[] {
  const kept = new Map<string, GroupSection>();
  for (const s of sections) {
    const key = [s.account.accountNumber.trim().replace(/^0+/, ''), s.account.currency, s.date, s.sameDay].join('|');
    const before = kept.get(key);
    if (!before) {
      kept.set(key, s);
      continue;
    }
    if (before.line === s.line) {
      kept.set(key, sameGroup(before, s));
      continue;
    }
    const correction = before.correction || s.correction;
    if (!s.partial || s.correction) {
      kept.delete(key); // the later report keeps its place in file order
      kept.set(key, { ...s, partial: false, correction });
      continue;
    }
    if (!before.partial) {
      const beyond = firstBeyond(s.account.entries, before.account.entries);
      if (beyond) {
        throw new StatementFileError(
          `the group of line ${s.line} is an interim ${s.sameDay ? 'same-day' : 'previous-day'} report of account ` +
            `${masked(s.account.accountNumber)} for ${s.date}, after the final report of that day (group of line ` +
            `${before.line}), and holds an item the final report lacks (line ${beyond.at.line}): which report is ` +
            "right cannot be told. Send the day's final report alone, or put the interim report before it",
          s.line,
          'statement_groups_conflict',
        );
      }
      kept.set(key, { ...before, correction });
      continue;
    }
    kept.set(key, {
      ...s,
      correction,
      account: {
        ...s.account,
        entries: union(before.account.entries, s.account.entries),
        balances: s.account.balances.length > 0 ? s.account.balances : before.account.balances,
        rejects: uniqueRejects([...before.account.rejects, ...s.account.rejects]),
      },
    });
  }
  return [...kept.values()].map((s) => ({
    ...s,
    account: {
      ...s.account,
      interimDays: s.partial && !s.sameDay ? [s.date] : [],
      correctionDays: s.correction ? [s.date] : [],
    },
  }));
}
