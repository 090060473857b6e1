import { createHash } from 'node:crypto';

/**
 * Identity of a bank transaction, in layers (README, "Identity and idempotency"):
 *
 * 1. J.P. Morgan's `transactionId`, per account. Stable in practice for a posted item, but a
 *    current-day (intraday) item gets a *different* id once it posts, and the bank can re-issue
 *    every id of a past day. So it cannot be the only key.
 * 2. A content fingerprint: account, booking date, direction, amount, BAI type code, bank and
 *    customer reference: what makes two items the same money movement.
 * 3. An occurrence number among records with the same fingerprint *within one walk of the bank's
 *    pages*, because three identical $25.00 fees on one day are three real fees. A walk always
 *    covers whole days, so the count per day is complete and the same on every re-sync.
 *
 * The fingerprint key `<class>:<fingerprint>:<occurrence>` separates intraday (I) from posted (P)
 * records: a pending item is never matched to a posted one by identity; that link is the
 * supersede step's decision, recorded with its rule.
 */
export interface FingerprintInput {
  jpmAccountId: string;
  bookingDate: string;
  direction: string;
  amountMinor: bigint;
  currency: string;
  baiTypeCode: string | null;
  bankReference: string;
  customerReference: string;
}

export function fingerprint(t: FingerprintInput): string {
  return createHash('sha256')
    .update([t.jpmAccountId, t.bookingDate, t.direction, t.amountMinor.toString(), t.currency, t.baiTypeCode ?? '', t.bankReference, t.customerReference].join('\u001f'))
    .digest('base64url')
    .slice(0, 22);
}

export type RecordClass = 'I' | 'P';

export function fingerprintKey(recordClass: RecordClass, fp: string, occurrence: number): string {
  return `${recordClass}:${fp}:${occurrence}`;
}

/**
 * Counts fingerprints across one walk of the bank's pages. Reset it when the client restarts a
 * walk (the data shifted under it); never share it between accounts or walks.
 */
export class OccurrenceCounter {
  private readonly seen = new Map<string, number>();

  next(recordClass: RecordClass, fp: string): number {
    const key = `${recordClass}:${fp}`;
    const n = (this.seen.get(key) ?? 0) + 1;
    this.seen.set(key, n);
    return n;
  }

  reset(): void {
    this.seen.clear();
  }
}

/** A stable hash of a record's content, to detect "unchanged" without comparing columns one by one. */
export function contentHash(parts: readonly unknown[]): string {
  return createHash('sha256').update(JSON.stringify(parts)).digest('base64url');
}
