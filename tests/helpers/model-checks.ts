import type { Express } from 'express';
import request from 'supertest';
import type { IsoDate } from '../../src/shared/time.ts';
import type { AccountDayView } from '../../src/simulator/bank-view.ts';
import type { Database } from '../../src/storage/db.ts';
import {
  apiProjection,
  expectedRow,
  rowProjection,
  storedLiveRows,
  type ApiTransaction,
  type LiveRow,
  type StoredProof,
} from './model-rows.ts';

/**
 * The model-based test's judgements (tests/helpers/model-bank.ts runs the steps): per account-day, the
 * views of the bank the stored live set may equal, and what is wrong when it equals none of them.
 */
export interface Candidate {
  key: string;
  rows: Map<string, LiveRow>;
  view: AccountDayView;
  /** Set when a step had to cover the day with exactly this view. */
  required: boolean;
}

export interface DayModel {
  candidates: Candidate[];
  unsettled: boolean;
}

export class ModelViolation extends Error {}

export function candidateOf(view: AccountDayView, required: boolean): Candidate {
  const rows = new Map<string, LiveRow>();
  for (const r of view.records) {
    const row = expectedRow(view, r);
    rows.set(`${row.key}#${rows.size}`, row);
  }
  const key = [...rows.values()]
    .map((r) => r.key)
    .sort()
    .join('\n');
  return { key, rows, view, required };
}

export const EMPTY_VIEW = (accountId: string, date: IsoDate): AccountDayView => ({
  accountId,
  date,
  state: 'future',
  currency: '',
  decimalLocation: 0,
  records: [],
  final: null,
  unrevealedNetMinor: '0',
});

export function dedupe(cs: Candidate[]): Candidate[] {
  const seen = new Set<string>();
  return cs.filter((c) => (seen.has(c.key) ? false : (seen.add(c.key), true)));
}

function describeRows(rows: Iterable<LiveRow>): string {
  return [...rows].map((r) => `    ${r.summary}`).join('\n') || '    (none)';
}

/** Exact: the stored live rows are one of the allowed views, row for row; and its balance proof holds. */
export function exactProblem(m: DayModel, stored: LiveRow[], proof: StoredProof | undefined): string | undefined {
  const key = stored
    .map((r) => r.key)
    .sort()
    .join('\n');
  const hit = m.candidates.find((c) => c.key === key);
  if (!hit) {
    const best = m.candidates.at(-1)!;
    const want = [...best.rows.values()].map((r) => r.key);
    const missing = [...best.rows.values()].filter((r) => !stored.some((s) => s.key === r.key));
    const extra = stored.filter((s) => !want.includes(s.key));
    const dupes = stored.filter((s, i) => stored.findIndex((t) => t.key === s.key) !== i);
    return [
      `stored live set is none of the bank's ${m.candidates.length} view(s) of the day; against the latest (${best.view.state}${best.required ? ', required' : ''}):`,
      `  missing (${missing.length}):\n${describeRows(missing)}`,
      `  extra (${extra.length}):\n${describeRows(extra)}`,
      ...(dupes.length > 0 ? [`  duplicates (${dupes.length}):\n${describeRows(dupes)}`] : []),
      ...(missing.length + extra.length === 0 ? ['  (same rows, different multiplicity)'] : []),
      ...diffFields(missing, extra),
    ].join('\n');
  }
  // The balance proof: on a closed day pinned by a required posted fetch, J.P. Morgan's final balance is
  // stored to the minor unit and opening + credits − debits = closing, short by exactly the late postings
  // the bank has not revealed yet.
  const v = hit.view;
  if (hit.required && v.state === 'closed' && v.final && m.candidates.length === 1) {
    if (!proof) {
      return 'no balance proof (account_days) for a fetched closed day';
    }
    const want = {
      opening: v.final.openingLedgerMinor,
      closing: v.final.endingLedgerMinor,
      difference: v.unrevealedNetMinor,
      state: v.unrevealedNetMinor === '0' ? 'proved' : 'broken',
    };
    const got = {
      opening: proof.openingLedgerMinor,
      closing: proof.closingLedgerMinor,
      difference: proof.differenceMinor ?? '0',
      state: proof.state,
    };
    if (JSON.stringify(want) !== JSON.stringify(got)) {
      return `balance proof: expected ${JSON.stringify(want)}, stored ${JSON.stringify(got)} (reason ${proof.reason ?? '-'})`;
    }
  }
  return undefined;
}

/** For rows that differ in a field or two, say which (a mangled reference or narrative shows here). */
function diffFields(missing: LiveRow[], extra: LiveRow[]): string[] {
  const out: string[] = [];
  for (const e of extra) {
    const twin = missing.find((m) => m.identity === e.identity);
    if (!twin) {
      continue;
    }
    for (const f of Object.keys(twin.fields) as (keyof LiveRow['fields'])[]) {
      const want = JSON.stringify(twin.fields[f]);
      const got = JSON.stringify(e.fields[f]);
      if (want !== got) {
        let at = 0;
        while (at < want.length && want[at] === got[at]) {
          at++;
        }
        const from = Math.max(0, at - 60);
        out.push(
          `  ${twin.identity} ${f} differs at ${at}: bank …${want.slice(from, at + 120)}… / stored …${got.slice(from, at + 120)}…`,
        );
      }
    }
  }
  return out;
}

/** Unsettled (a sync failed for good): every stored row is a record of one of the views, none twice. */
export function looseProblem(m: DayModel, stored: LiveRow[]): string | undefined {
  const known = new Set(m.candidates.flatMap((c) => [...c.rows.values()].map((r) => r.key)));
  const unknown = stored.filter((s) => !known.has(s.key));
  const maxCount = new Map<string, number>();
  for (const c of m.candidates) {
    const counts = new Map<string, number>();
    for (const r of c.rows.values()) {
      counts.set(r.key, (counts.get(r.key) ?? 0) + 1);
    }
    for (const [k, n] of counts) {
      maxCount.set(k, Math.max(n, maxCount.get(k) ?? 0));
    }
  }
  const counts = new Map<string, number>();
  for (const s of stored) {
    counts.set(s.key, (counts.get(s.key) ?? 0) + 1);
  }
  const dupes = stored.filter((s) => (counts.get(s.key) ?? 0) > (maxCount.get(s.key) ?? 0));
  if (unknown.length + dupes.length === 0) {
    return undefined;
  }
  return `unsettled day (a sync failed): stored rows the bank never sent (${unknown.length}):\n${describeRows(unknown)}\n  more copies than the bank sent (${dupes.length}):\n${describeRows(dupes)}`;
}

/** GET /v1/transactions (live statuses, every page) against the stored live rows: the same rows, exact text. */
export async function checkApi(
  api: { app: Express; key: string },
  db: Database,
  accountId: string,
  label: string,
  from: IsoDate,
  to: IsoDate,
): Promise<void> {
  const got: string[] = [];
  let cursor: string | null = null;
  do {
    const q = `accountId=${accountId}&status=pending,posted&bookingDateFrom=${from}&bookingDateTo=${to}&limit=500${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
    const res = await request(api.app).get(`/v1/transactions?${q}`).set('authorization', `Bearer ${api.key}`);
    if (res.status !== 200) {
      throw new ModelViolation(`read API for ${label}: ${res.status} ${JSON.stringify(res.body).slice(0, 500)}`);
    }
    const body = res.body as { data: ApiTransaction[]; nextCursor: string | null };
    got.push(...body.data.map(apiProjection));
    cursor = body.nextCursor;
  } while (cursor);
  const stored = [...(await storedLiveRows(db, accountId, from, to)).values()].flat().map(rowProjection);
  const missing = stored.filter((r) => !got.includes(r));
  const extra = got.filter((r) => !stored.includes(r));
  if (missing.length + extra.length > 0 || got.length !== stored.length) {
    throw new ModelViolation(
      `read API live set of ${label} differs from the stored one (${got.length} vs ${stored.length} rows):\n  stored, not served:\n    ${missing.join('\n    ').slice(0, 3000)}\n  served, not stored:\n    ${extra.join('\n    ').slice(0, 3000)}`,
    );
  }
}
