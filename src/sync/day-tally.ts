import type { NormalizedTransaction } from '../normalization/transactions.ts';
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
  complete: boolean;
  days: Map<IsoDate, DayCount>;
}

/**
 * Tallies what the bank reported per business day during a posted (prior-day/range) fetch: item
 * counts, credit and debit totals, and how often each fingerprint occurred. Validation compares it
 * with the rows we hold (coverage, duplicates). Only walks that reached their last page count; when
 * several complete walks cover a day (a restart after the data shifted), the latest one wins.
 */
export class PostedDayTally {
  readonly #walks = new Map<number, Walk>();

  add(walk: number, pageNumber: number, totalPages: number, records: readonly NormalizedTransaction[]): void {
    let w = this.#walks.get(walk);
    if (!w) {
      w = { complete: false, days: new Map() };
      this.#walks.set(walk, w);
    }
    for (const r of records) {
      if (r.recordClass !== 'P') {
        continue;
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
    if (pageNumber >= totalPages) {
      w.complete = true;
    }
  }

  /** One row per fetched date (dates the bank reported nothing for get zero counts). */
  rows(account: AccountRef, dates: readonly IsoDate[], runId: string | null, fetchedAt: Date): BankDayFetchRow[] {
    const latest = new Map<IsoDate, DayCount>();
    for (const [, w] of [...this.#walks].sort(([a], [b]) => a - b)) {
      if (w.complete) {
        for (const [date, count] of w.days) {
          latest.set(date, count);
        }
      }
    }
    return dates.map((date) => {
      const c = latest.get(date);
      return {
        account_id: account.id,
        organization_id: account.organizationId,
        booking_date: date,
        sync_run_id: runId,
        fetched_at: fetchedAt.toISOString(),
        record_count: (c?.creditCount ?? 0) + (c?.debitCount ?? 0),
        credit_count: c?.creditCount ?? 0,
        debit_count: c?.debitCount ?? 0,
        credits_minor: (c?.credits ?? 0n).toString(),
        debits_minor: (c?.debits ?? 0n).toString(),
        repeated_fingerprints: Object.fromEntries([...(c?.fingerprints ?? [])].filter(([, n]) => n > 1)),
      };
    });
  }
}
