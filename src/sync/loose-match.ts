import { identityReference, isIdentityId } from '../normalization/identity.ts';
import type { NormalizedTransaction } from '../normalization/transactions.ts';
import type { LookAlikes } from '../storage/transaction-aliases.repo.ts';
import type { LooseCandidate } from '../storage/transactions.repo.ts';

/**
 * The rule of a match made although one channel left out a field the other carries (README, "One identity across
 * channels").
 */
export const LOOSE_MATCH_RULE = 'missing_field_across_channels';

/** A field one side left out: which one, the channel that left it out, and the other side's value. */
export interface MissingField {
  field: 'baiTypeCode' | 'bankReference' | 'customerReference';
  missingIn: string;
  value: string;
}

export interface LooseMatch {
  record: NormalizedTransaction;
  row: LooseCandidate;
  missing: MissingField[];
  /** The optional fields both sides carry alike. */
  matched: string[];
  /** The sizes of the two sides of the set the match was made in. */
  group: { records: number; rows: number };
  /**
   * The whole look-alike group the match was made in, rows taken by another match of the page included (an exact
   * key's, an alias's): a takeover notes every field the record left out that a row of it carried, keeping none of
   * the row's values (`takeOverColumns`, ingest.ts). Stored with the match's aliases for later takeovers.
   */
  lookAlikes: LookAlikes;
}

const FIELDS = [
  {
    field: 'baiTypeCode',
    record: (t: NormalizedTransaction) => t.baiTypeCode ?? '',
    row: (e: LooseCandidate) => e.bai_type_code ?? '',
  },
  {
    field: 'bankReference',
    record: (t: NormalizedTransaction) => identityReference(t.bankReference),
    row: (e: LooseCandidate) => identityReference(e.bank_reference),
  },
  {
    field: 'customerReference',
    record: (t: NormalizedTransaction) => identityReference(t.customerReference),
    row: (e: LooseCandidate) => identityReference(e.customer_reference),
  },
] as const;

export type LooseField = MissingField['field'];

/** The optional fields the match compares, in order. */
export const LOOSE_FIELDS: readonly LooseField[] = FIELDS.map((f) => f.field);

const fingerprintOf = (key: string) => key.split(':')[1] ?? key;

/** The record's value of a field as the match compares it (trimmed; '' when the record left it out). */
export function recordValue(t: NormalizedTransaction, field: LooseField): string {
  return FIELDS.find((f) => f.field === field)!.record(t);
}

/**
 * The fields one side lacks and those both carry alike (as the fingerprint compares them); undefined when two values
 * differ.
 */
export function compareFields(
  t: NormalizedTransaction,
  e: LooseCandidate,
): { missing: MissingField[]; matched: string[] } | undefined {
  const missing: MissingField[] = [];
  const matched: string[] = [];
  for (const f of FIELDS) {
    const [a, b] = [f.record(t), f.row(e)];
    if (a === b) {
      matched.push(f.field);
    } else if (a === '') {
      missing.push({ field: f.field, missingIn: t.source, value: b });
    } else if (b === '') {
      missing.push({ field: f.field, missingIn: e.source, value: a });
    } else {
      return undefined;
    }
  }
  return { missing, matched };
}

/**
 * `compareFields` when a field is missing on one side, else undefined: equal everywhere is the fingerprint's
 * match, not this one's, unless the fingerprints differ. That happens only when a row's fields are not those its
 * fingerprint key was made of, which no takeover makes any more (ingest.ts `takeOverColumns` keeps nothing from
 * the other channel); the exception stays for such a row, which another file channel's report of the item, equal
 * to it everywhere, would never reach by key.
 */
function compare(
  t: NormalizedTransaction,
  e: LooseCandidate,
): { missing: MissingField[]; matched: string[] } | undefined {
  const c = compareFields(t, e);
  const sameFingerprint = fingerprintOf(t.fingerprintKey) === fingerprintOf(e.fingerprint_key);
  return c === undefined || (c.missing.length === 0 && sameFingerprint) ? undefined : c;
}

/**
 * The look-alike group of these records (one group, one channel: a page's) against its rows of the other channels,
 * free or taken: counts, the rows' channels, and the optional fields any of those rows carries.
 */
function lookAlikesOf(recs: readonly NormalizedTransaction[], all: readonly LooseCandidate[]): LookAlikes {
  const own = new Set<string>(recs.map((t) => t.source));
  const others = all.filter((e) => !own.has(e.source));
  return {
    records: recs.length,
    rows: others.length,
    sources: [...new Set(others.map((e) => e.source))].sort(),
    fields: FIELDS.filter((f) => others.some((e) => f.row(e) !== '')).map((f) => f.field),
  };
}

/**
 * Only posted and prior-day items (record class P) are matched loosely: an intraday item may be withdrawn and
 * another of the same amount reported in its place, and a file's intraday line without the bank's reference
 * would then confirm the withdrawn one and the other item would never be stored.
 */
export const LOOSE_MATCH_CLASS = 'P';

/** The group of look-alikes: record class, booking date, direction, amount and currency. */
function groupOf(cls: string, date: string, direction: string, amountMinor: string, currency: string): string {
  return `${cls}|${date}|${direction}|${amountMinor}|${currency}`;
}

export function recordGroup(t: NormalizedTransaction): string {
  return groupOf(t.recordClass, t.bookingDate, t.direction, t.amountMinor.toString(), t.currency);
}

export function rowGroup(e: LooseCandidate): string {
  return groupOf(e.post_code, e.booking_date, e.direction, e.amount_minor, e.currency);
}

const occurrenceOf = (key: string) => Number(key.split(':')[2] ?? 0);

/**
 * Pairs posted and prior-day records (class P, `LOOSE_MATCH_CLASS`) that matched nothing (no id, no fingerprint
 * key, no alias) with rows of another channel that report
 * the same item with a field left out on one side. Never two different values: each of BAI type code, bank
 * and customer reference is equal (trimmed) or missing on one side. Never two J.P. Morgan ids. Within a
 * group of look-alikes (class, booking date, direction, amount, currency), records and rows are joined where
 * compatible; each connected set is merged only when it is unambiguous: every record is compatible with every
 * row, there are as many records as rows, and one side is indistinguishable (one fingerprint), so any
 * one-to-one mapping states the same facts (a takeover keeps none of a row's values: `lookAlikes`). It is made in
 * occurrence order (records in walk order, rows by occurrence number then id). A group that a row taken by an earlier
 * page of the walk belongs to is left alone (the walk's part of it is not all on this page). Everything else stays
 * apart. A match made is recorded as an alias of the row (ingest.ts), which later walks find by exact key, whatever
 * their pages. `work` counts the steps taken (pairs compared and union-find links followed): near-linear in the pairs.
 */
export function looseMatches(
  records: readonly NormalizedTransaction[],
  candidates: readonly LooseCandidate[],
  taken: ReadonlySet<string>,
  earlier: ReadonlySet<string>,
  work?: { steps: number },
): LooseMatch[] {
  const rowsByGroup = Map.groupBy(
    candidates.filter((e) => e.post_code === LOOSE_MATCH_CLASS),
    rowGroup,
  );
  const out: LooseMatch[] = [];
  for (const [group, recs] of Map.groupBy(
    records.filter((t) => t.recordClass === LOOSE_MATCH_CLASS),
    recordGroup,
  )) {
    const all = rowsByGroup.get(group) ?? [];
    if (all.some((e) => earlier.has(e.id))) {
      continue;
    }
    const rows = all.filter((e) => !taken.has(e.id));
    if (rows.length === 0) {
      continue;
    }
    const lookAlikes = lookAlikesOf(recs, all);
    // Union-find over records 0..n-1 and rows n..n+m-1, by size with path compression (near-linear in the edges).
    const n = recs.length;
    const parent = Array.from({ length: n + rows.length }, (_, i) => i);
    const size = new Array<number>(n + rows.length).fill(1);
    const find = (x: number): number => {
      let root = x;
      while (parent[root]! !== root) {
        root = parent[root]!;
        if (work) {
          work.steps++;
        }
      }
      while (parent[x]! !== root) {
        const next = parent[x]!;
        parent[x] = root;
        x = next;
      }
      return root;
    };
    const union = (a: number, b: number) => {
      let [x, y] = [find(a), find(b)];
      if (x === y) {
        return;
      }
      if (size[x]! < size[y]!) {
        [x, y] = [y, x];
      }
      parent[y] = x;
      size[x]! += size[y]!;
    };
    /** The fit of record i and row j, where compatible: edges[i][j]. */
    const edges = recs.map(() => new Map<number, NonNullable<ReturnType<typeof compare>>>());
    recs.forEach((t, i) => {
      rows.forEach((e, j) => {
        if (work) {
          work.steps++;
        }
        const c =
          e.source !== t.source && !(t.identityById && isIdentityId(e.jpm_transaction_id)) ? compare(t, e) : undefined;
        if (c) {
          edges[i]!.set(j, c);
          union(i, n + j);
        }
      });
    });
    const index = new Map(rows.map((e, j) => [e.id, j]));
    const components = new Map<number, { recs: number[]; rows: number[] }>();
    for (let x = 0; x < n + rows.length; x++) {
      if (x < n && edges[x]!.size === 0) {
        continue;
      }
      const root = find(x);
      const c = components.get(root) ?? { recs: [], rows: [] };
      if (x < n) {
        c.recs.push(x);
      } else {
        c.rows.push(x - n);
      }
      components.set(root, c);
    }
    for (const c of components.values()) {
      // Counts that cannot balance, or a pair not compatible, leave the set apart.
      if (c.recs.length !== c.rows.length || c.recs.some((i) => edges[i]!.size < c.rows.length)) {
        continue;
      }
      const oneRecordFingerprint = new Set(c.recs.map((i) => fingerprintOf(recs[i]!.fingerprintKey))).size === 1;
      const oneRowFingerprint = new Set(c.rows.map((j) => fingerprintOf(rows[j]!.fingerprint_key))).size === 1;
      if (!(oneRecordFingerprint || oneRowFingerprint)) {
        continue;
      }
      const rowsInOrder = c.rows
        .map((j) => rows[j]!)
        .sort(
          (a, b) =>
            occurrenceOf(a.fingerprint_key) - occurrenceOf(b.fingerprint_key) ||
            (a.id < b.id ? -1 : a.id > b.id ? 1 : 0),
        );
      c.recs.forEach((i, k) => {
        const row = rowsInOrder[k]!;
        const fit = edges[i]!.get(index.get(row.id)!)!;
        out.push({
          record: recs[i]!,
          row,
          missing: fit.missing,
          matched: fit.matched,
          group: { records: c.recs.length, rows: c.rows.length },
          lookAlikes,
        });
      });
    }
  }
  return out;
}
