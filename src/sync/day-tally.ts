import type { NormalizedTransaction } from '../normalization/transactions.ts';
import { hasBankId } from '../shared/ids.ts';
import type { IsoDate } from '../shared/time.ts';
import type { BankDayFetchRow } from '../storage/bank-day-fetches.repo.ts';
import type { AccountRef } from './ingest.ts';

interface DayCount {
  creditCount: number;
  debitCount: number;
  credits: bigint;
  debits: bigint;
  fingerprints: Map<string, number>;
}

interface Walk {
  slice: number;
  /** The database clock before the walk's first page was asked for. */
  readAt: string;
  days: Map<IsoDate, DayCount>;
  /** The bank's ids the walk counted: one id is one transaction, however often the walk's pages list it. */
  ids: Set<string>;
}

/**
 * Tallies what the bank reported per business day during a posted (prior-day/range) fetch: item
 * counts, credit and debit totals, and how often each fingerprint occurred. Validation compares it
 * with the rows we hold (coverage, duplicates). Read once the fetch ended without an error (the client throws
 * on a walk it could not complete). Of the walks of one sub-range (`slice`), only the last counts, for every day of
 * it: the client abandoned the earlier ones (the data shifted, or the pages did not add up to `totalRecords`), so a
 * day only an earlier walk held a record of counts nothing. The last one may end before `totalPages` (the client
 * stops at an empty page once every record is in).
 */
export class PostedDayTally {
  readonly #walks = new Map<number, Walk>();

  /** `readAt`: the database clock before the request of the page (its walk's start when it is the walk's first). */
  add(walk: { walk: number; slice: number; readAt: string }, records: readonly NormalizedTransaction[]): void {
    let w = this.#walks.get(walk.walk);
    if (!w) {
      w = { slice: walk.slice, readAt: walk.readAt, days: new Map(), ids: new Set() };
      this.#walks.set(walk.walk, w);
    }
    for (const r of records) {
      if (r.recordClass !== 'P') {
        continue;
      }
      if (r.identityById) {
        // The same id again in the walk (listed twice, or its pages shifted) is the transaction stored once.
        if (w.ids.has(r.jpmTransactionId)) {
          continue;
        }
        w.ids.add(r.jpmTransactionId);
      }
      let d = w.days.get(r.bookingDate);
      if (!d) {
        d = { creditCount: 0, debitCount: 0, credits: 0n, debits: 0n, fingerprints: new Map() };
        w.days.set(r.bookingDate, d);
      }
      if (r.direction === 'credit') {
        d.creditCount++;
        d.credits += r.amountMinor;
      } else {
        d.debitCount++;
        d.debits += r.amountMinor;
      }
      const fp = r.fingerprintKey.split(':')[1] ?? r.fingerprintKey;
      d.fingerprints.set(fp, (d.fingerprints.get(fp) ?? 0) + 1);
    }
  }

  /**
   * One row per fetched date (dates the bank reported nothing for get zero counts), dated (`read_at`) by the start of
   * the walk whose counts it holds: a day a sub-range's last walk held a record of by that walk's start (a restarted
   * walk began reading after the one it replaced), a day no walk held a record of by the earliest start of the
   * sub-ranges' last walks (the tally does not know which sub-range the day was in; never later than its reading), or
   * `startedAt` (the fetch's start) when no walk was added.
   */
  rows(
    account: AccountRef,
    dates: readonly IsoDate[],
    runId: string | null,
    fetchedAt: Date,
    startedAt: string,
  ): BankDayFetchRow[] {
    const lastOfSlice = new Map<number, Walk>();
    for (const [, w] of [...this.#walks].sort(([a], [b]) => a - b)) {
      lastOfSlice.set(w.slice, w);
    }
    const latest = new Map<IsoDate, { count: DayCount; readAt: string }>();
    let earliest: string | undefined;
    for (const w of lastOfSlice.values()) {
      earliest = earliest === undefined || w.readAt < earliest ? w.readAt : earliest;
      for (const [date, count] of w.days) {
        latest.set(date, { count, readAt: w.readAt });
      }
    }
    return dates.map((date) => {
      const c = latest.get(date)?.count;
      const readAt = latest.get(date)?.readAt ?? earliest ?? startedAt;
      return {
        account_id: account.id,
        organization_id: account.organizationId,
        booking_date: date,
        sync_run_id: runId,
        fetched_at: fetchedAt.toISOString(),
        read_at: readAt,
        record_count: (c?.creditCount ?? 0) + (c?.debitCount ?? 0),
        credit_count: c?.creditCount ?? 0,
        debit_count: c?.debitCount ?? 0,
        credits_minor: (c?.credits ?? 0n).toString(),
        debits_minor: (c?.debits ?? 0n).toString(),
        // Sorted by key, as jsonb keeps them, so a stored row and a fresh one compare equal as JSON text.
        repeated_fingerprints: Object.fromEntries(
          [...(c?.fingerprints ?? [])].filter(([, n]) => n > 1).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
        ),
      };
    });
  }
}

interface SnapshotWalk {
  ids: Set<string>;
  /** One key per item of the walk (every record and reject, any account). */
  shown: Set<string>;
  pages: Set<number>;
  lastPage: boolean;
  totalPages: number;
  totalRecords: number;
  /** Records and rejects the bank sent in this walk (all accounts of the request). */
  seen: number;
  /** A record of ours was unusable and carried no J.P. Morgan id: absence cannot be proved. */
  unidentifiedReject: boolean;
  dates: Set<IsoDate>;
}

/** What a complete current-day walk showed: the ids of the account's intraday items, and the walk's shape. */
export interface CompleteSnapshot {
  walk: number;
  ids: ReadonlySet<string>;
  totalPages: number;
  totalRecords: number;
  /** Booking dates of the intraday records in the walk. */
  dates: readonly IsoDate[];
  /**
   * Every item of the walk, keyed by the bank's id (or, without one, its fingerprint and occurrence): what two
   * walks compare to tell whether the snapshot held still between them (see `sameItems`).
   */
  shown: ReadonlySet<string>;
  /**
   * False when a record could not be identified, the walk saw fewer or more records than `totalRecords`, or
   * an item twice: the walk may restore rows but not remove any.
   */
  provesAbsence: boolean;
}

/**
 * Whether two complete walks showed the same items. J.P. Morgan pages the current day by page number over a
 * snapshot that may change between two pages of one walk without changing `totalRecords` (an item withdrawn
 * on a page already read, another added): items after the withdrawn one move up one place, and the one that
 * crosses into the page already read is never seen, though the bank shows it throughout. A walk that saw
 * exactly `totalRecords` distinct items and still missed a shown item must have seen an item that the bank
 * withdrew during the walk (it saw as many items as the snapshot holds, one of them not in the snapshot at its
 * end). A later walk no longer shows that item, so the two walks differ. Two complete walks, one after the
 * other, that show the same items therefore prove that what the first lacks was not in the bank's snapshot
 * while it was read (unless a withdrawn item came back within those seconds; the next walk then restores it).
 */
export function sameItems(a: CompleteSnapshot, b: CompleteSnapshot): boolean {
  return a.shown.size === b.shown.size && [...a.shown].every((k) => b.shown.has(k));
}

function rejectId(raw: unknown): string | undefined {
  if (typeof raw === 'object' && raw !== null && 'transactionId' in raw) {
    const id = raw.transactionId;
    return hasBankId(id) ? id : undefined;
  }
  return undefined;
}

/**
 * The current-day (CURRENT_DAY) view is a full snapshot of the day's intraday items on every call.
 * This collects, per walk, the J.P. Morgan ids of the account's intraday records, so that after the
 * walk a stored pending item the bank no longer shows can leave the live set. Only the LAST walk
 * counts, and only when it is complete: every page 1..totalPages seen, and as many records as the
 * bank's `totalRecords`. A walk that restarted (the data shifted), failed or stopped early never
 * reaches `complete()`. Even a complete walk's gaps are withdrawals only once another walk shows the same
 * items (`sameItems`, used by intraday.ts).
 */
export class CurrentDaySnapshot {
  readonly #walks = new Map<number, SnapshotWalk>();
  #last: number | undefined;

  /** The number of the last walk added (0 before any): a second walk of the same snapshot numbers its walks on. */
  get lastWalk(): number {
    return this.#last ?? 0;
  }

  /**
   * `otherItems`: the keys of the page's records and rejects that name another account (their bank id with
   * the account), undefined for one without an id.
   */
  add(
    walk: number,
    page: { pageNumber: number; totalPages: number; totalRecords: number; fetched: number },
    records: readonly NormalizedTransaction[],
    rejectsOfAccount: readonly { raw: unknown }[],
    otherItems: readonly (string | undefined)[] = [],
  ): void {
    let w = this.#walks.get(walk);
    if (!w) {
      w = {
        ids: new Set(),
        shown: new Set(),
        pages: new Set(),
        lastPage: false,
        totalPages: page.totalPages,
        totalRecords: page.totalRecords,
        seen: 0,
        unidentifiedReject: false,
        dates: new Set(),
      };
      this.#walks.set(walk, w);
    }
    this.#last = walk;
    w.pages.add(page.pageNumber);
    w.seen += page.fetched;
    if (page.totalPages !== w.totalPages || page.totalRecords !== w.totalRecords) {
      // The client restarts a walk whose totals change; if it ever did not, the walk proves nothing.
      w.unidentifiedReject = true;
    }
    for (const r of records) {
      if (r.recordClass === 'I') {
        w.ids.add(r.jpmTransactionId);
        w.dates.add(r.bookingDate);
      }
      const key = r.identityById ? r.jpmTransactionId : `fingerprint ${r.fingerprintKey}`;
      w.shown.add(r.recordClass === 'I' ? key : `${r.recordClass} ${key}`);
    }
    for (const r of rejectsOfAccount) {
      const id = rejectId(r.raw);
      if (id === undefined) {
        w.unidentifiedReject = true;
      } else {
        w.ids.add(id);
        w.shown.add(id);
      }
    }
    for (const key of otherItems) {
      if (key === undefined) {
        w.unidentifiedReject = true;
      } else {
        w.shown.add(`other ${key}`);
      }
    }
    if (page.pageNumber >= page.totalPages) {
      w.lastPage = true;
    }
  }

  /**
   * The last walk when it is complete, else undefined (nothing may be removed). Read once the walk ended: every page
   * 1..`totalPages` seen, or pages 1..n holding `totalRecords` records (the client ends a walk at an empty page once
   * every record is in, when the bank claims more pages than it has).
   */
  complete(): CompleteSnapshot | undefined {
    const w = this.#last === undefined ? undefined : this.#walks.get(this.#last);
    if (!w || this.#last === undefined) {
      return undefined;
    }
    const read = Math.max(0, ...w.pages);
    for (let p = 1; p <= read; p++) {
      if (!w.pages.has(p)) {
        return undefined;
      }
    }
    if (!(w.lastPage && read >= w.totalPages) && !(read > 0 && w.seen === w.totalRecords)) {
      return undefined;
    }
    return {
      walk: this.#last,
      ids: w.ids,
      totalPages: w.totalPages,
      totalRecords: w.totalRecords,
      dates: [...w.dates].sort(),
      shown: w.shown,
      // Distinct items, as many as the bank counts: the premise of `sameItems`.
      provesAbsence: !w.unidentifiedReject && w.seen === w.totalRecords && w.shown.size === w.seen,
    };
  }
}
