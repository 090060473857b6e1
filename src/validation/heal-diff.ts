import type { IsoDate } from '../shared/time.ts';
import type { Executor } from '../storage/db.ts';
import { transactionSnapshots } from '../storage/validation-ledger.repo.ts';

/** A stored transaction as the heal diff sees it (amounts as decimal strings of minor units). */
export interface RowSnapshot {
  id: string;
  jpmTransactionId: string;
  bookingDate: IsoDate;
  status: string;
  direction: string;
  amountMinor: string;
  contentHash: string;
}

export interface HealDiff {
  /** Live after the re-fetch, not live before: rows we were missing. */
  missing: Omit<RowSnapshot, 'contentHash'>[];
  /** Live before, not live after: rows the bank's data no longer supports (e.g. a pending item resolved). */
  extra: Omit<RowSnapshot, 'contentHash'>[];
  /** Live in both with different content. */
  changed: {
    id: string;
    jpmTransactionId: string;
    bookingDate: IsoDate;
    fields: string[];
    before: Partial<RowSnapshot>;
    after: Partial<RowSnapshot>;
  }[];
}

const LIVE = new Set(['posted', 'pending']);

export async function snapshotRows(
  ex: Executor,
  accountId: string,
  from: IsoDate,
  to: IsoDate,
): Promise<Map<string, RowSnapshot>> {
  const rows = await transactionSnapshots(ex, accountId, from, to);
  return new Map(
    rows.map((r) => [
      r.id,
      {
        id: r.id,
        jpmTransactionId: r.jpm_transaction_id,
        bookingDate: r.booking_date,
        status: r.status,
        direction: r.direction,
        amountMinor: String(r.amount_minor),
        contentHash: r.content_hash,
      },
    ]),
  );
}

function brief(r: RowSnapshot): Omit<RowSnapshot, 'contentHash'> {
  return {
    id: r.id,
    jpmTransactionId: r.jpmTransactionId,
    bookingDate: r.bookingDate,
    status: r.status,
    direction: r.direction,
    amountMinor: r.amountMinor,
  };
}

const COMPARED = ['jpmTransactionId', 'bookingDate', 'status', 'direction', 'amountMinor', 'contentHash'] as const;

/** Pure: what changed between two snapshots of the same account and window. */
export function diffSnapshots(
  before: ReadonlyMap<string, RowSnapshot>,
  after: ReadonlyMap<string, RowSnapshot>,
): HealDiff {
  const diff: HealDiff = { missing: [], extra: [], changed: [] };
  for (const [id, a] of after) {
    const b = before.get(id);
    if (LIVE.has(a.status) && (!b || !LIVE.has(b.status))) {
      diff.missing.push(brief(a));
    } else if (b && LIVE.has(a.status)) {
      const fields = COMPARED.filter((f) => a[f] !== b[f]);
      if (fields.length > 0) {
        const pick = (r: RowSnapshot) => Object.fromEntries(fields.map((f) => [f, r[f]])) as Partial<RowSnapshot>;
        diff.changed.push({
          id,
          jpmTransactionId: a.jpmTransactionId,
          bookingDate: a.bookingDate,
          fields,
          before: pick(b),
          after: pick(a),
        });
      }
    }
  }
  for (const [id, b] of before) {
    const a = after.get(id);
    if (LIVE.has(b.status) && (!a || !LIVE.has(a.status))) {
      diff.extra.push(brief(b));
    }
  }
  return diff;
}
