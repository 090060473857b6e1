import { identityReference, isIdentityId } from '../normalization/identity.ts';
import type { NormalizedTransaction } from '../normalization/transactions.ts';
import type { LooseCandidate } from '../storage/transactions.repo.ts';

/** The rule of a match made although one channel left out a field the other carries (README, "One identity across channels"). */
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
  /** The sizes of the two sides of the look-alike group the match was made in. */
  group: { records: number; rows: number };
}

const FIELDS = [
  { field: 'baiTypeCode', record: (t: NormalizedTransaction) => t.baiTypeCode ?? '', row: (e: LooseCandidate) => e.bai_type_code ?? '' },
  { field: 'bankReference', record: (t: NormalizedTransaction) => identityReference(t.bankReference), row: (e: LooseCandidate) => identityReference(e.bank_reference) },
  { field: 'customerReference', record: (t: NormalizedTransaction) => identityReference(t.customerReference), row: (e: LooseCandidate) => identityReference(e.customer_reference) },
] as const;

/** The fields one side lacks, when every other field is equal (as the fingerprint compares them); undefined when two values differ or none is missing. */
function compare(t: NormalizedTransaction, e: LooseCandidate): { missing: MissingField[]; matched: string[] } | undefined {
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
  return missing.length === 0 ? undefined : { missing, matched };
}

/** The group of look-alikes: record class, booking date, direction, amount and currency. */
function groupOf(cls: string, date: string, direction: string, amountMinor: string, currency: string): string {
  return `${cls}|${date}|${direction}|${amountMinor}|${currency}`;
}

export function recordGroup(t: NormalizedTransaction): string {
  return groupOf(t.recordClass, t.bookingDate, t.direction, t.amountMinor.toString(), t.currency);
}

const fingerprintOf = (key: string) => key.split(':')[1] ?? key;
const occurrenceOf = (key: string) => Number(key.split(':')[2] ?? 0);

/**
 * Pairs records that matched nothing (no id, no fingerprint key) with rows of another channel that report
 * the same item with a field left out on one side. Never two different values: each of BAI type code, bank
 * and customer reference is equal (trimmed) or missing on one side. Never two J.P. Morgan ids. Within a
 * group of look-alikes (class, booking date, direction, amount, currency), records and rows are joined where
 * compatible; each connected set is merged only when it is unambiguous: every record is compatible with every
 * row, there are as many records as rows, and one side is indistinguishable (one fingerprint), so any
 * one-to-one mapping states the same facts. It is made in occurrence order (records in walk order, rows by
 * occurrence number then id). A group that a row taken by an earlier page of the walk belongs to is left alone
 * (the walk's part of it is not all on this page). Everything else stays apart.
 */
export function looseMatches(
  records: readonly NormalizedTransaction[], candidates: readonly LooseCandidate[], taken: ReadonlySet<string>, earlier: ReadonlySet<string>,
): LooseMatch[] {
  const rowsByGroup = Map.groupBy(candidates, (e) => groupOf(e.post_code, e.booking_date, e.direction, e.amount_minor, e.currency));
  const out: LooseMatch[] = [];
  for (const [group, recs] of Map.groupBy(records, recordGroup)) {
    const all = rowsByGroup.get(group) ?? [];
    if (all.some((e) => earlier.has(e.id))) {
      continue;
    }
    const rows = all.filter((e) => !taken.has(e.id));
    const edges = new Map<string, ReturnType<typeof compare>>();
    const parent = new Map<string, string>();
    const find = (x: string): string => {
      let p = parent.get(x) ?? x;
      while (p !== (parent.get(p) ?? p)) {
        p = parent.get(p) ?? p;
      }
      return p;
    };
    recs.forEach((t, i) => {
      for (const e of rows) {
        const c = e.source !== t.source && !(t.identityById && isIdentityId(e.jpm_transaction_id)) ? compare(t, e) : undefined;
        if (c) {
          edges.set(`${i}|${e.id}`, c);
          parent.set(find(`r${i}`), find(`s${e.id}`));
        }
      }
    });
    const components = new Map<string, { recs: number[]; rows: LooseCandidate[] }>();
    recs.forEach((_, i) => {
      if (parent.has(`r${i}`)) {
        const c = components.get(find(`r${i}`)) ?? { recs: [], rows: [] };
        c.recs.push(i);
        components.set(find(`r${i}`), c);
      }
    });
    for (const e of rows) {
      components.get(find(`s${e.id}`))?.rows.push(e);
    }
    for (const c of components.values()) {
      const complete = c.recs.every((i) => c.rows.every((e) => edges.has(`${i}|${e.id}`)));
      const oneRecordFingerprint = new Set(c.recs.map((i) => fingerprintOf(recs[i]!.fingerprintKey))).size === 1;
      const oneRowFingerprint = new Set(c.rows.map((e) => fingerprintOf(e.fingerprint_key))).size === 1;
      if (!complete || c.recs.length !== c.rows.length || !(oneRecordFingerprint || oneRowFingerprint)) {
        continue;
      }
      const rowsInOrder = [...c.rows].sort((a, b) => occurrenceOf(a.fingerprint_key) - occurrenceOf(b.fingerprint_key) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
      c.recs.forEach((i, k) => {
        const row = rowsInOrder[k]!;
        const fit = edges.get(`${i}|${row.id}`)!;
        out.push({ record: recs[i]!, row, missing: fit.missing, matched: fit.matched, group: { records: c.recs.length, rows: c.rows.length } });
      });
    }
  }
  return out;
}
