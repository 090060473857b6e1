import { sql } from 'kysely';
import { toMinorUnits } from '../../../src/shared/money.ts';
import type { IsoDate } from '../../../src/shared/time.ts';
import type { RunningSimulator } from '../../../src/simulator/index.ts';
import type { Database } from '../../../src/storage/db.ts';

/**
 * The oracle: our database against the simulator's ground truth, to the minor unit. Transactions are
 * matched by J.P. Morgan id (amount, direction, booking and value date, status posted; a row the bank sent without an
 * id, by that content among the items no other row is); final balances
 * by account and day (opening/closing ledger and available). Anything we hold that the bank does not
 * is a duplicate; anything the bank has that we lack is missing.
 */
export interface Comparison {
  rowsCompared: number;
  duplicates: number;
  missing: number;
  mismatched: number;
  /** Final balances the bank has and we lack (validation must not call those days proved). */
  missingBalances: { accountId: string; date: IsoDate }[];
  /** Human-readable details of the first problems (for the assertion message). */
  problems: string[];
}

export interface Scope {
  accountId: string;
  jpmAccountId: string;
  decimalLocation: number;
  from: IsoDate;
  to: IsoDate;
  /** Which data the scope covers (a balances-only window, say). Default both. */
  kinds?: readonly ('transactions' | 'balances')[];
}

export function emptyComparison(): Comparison {
  return { rowsCompared: 0, duplicates: 0, missing: 0, mismatched: 0, missingBalances: [], problems: [] };
}

function merge(into: Comparison, c: Comparison): Comparison {
  into.rowsCompared += c.rowsCompared;
  into.duplicates += c.duplicates;
  into.missing += c.missing;
  into.mismatched += c.mismatched;
  into.missingBalances.push(...c.missingBalances);
  into.problems.push(...c.problems.slice(0, Math.max(0, 20 - into.problems.length)));
  return into;
}

export interface CompareOptions {
  /**
   * Compare only live rows (posted or pending): rows a later version replaced (`superseded`, e.g. an intraday row
   * once the final day is in) or the bank withdrew (`removed`) are history, not the ledger. Default: every row.
   */
  liveOnly?: boolean;
}

export async function compareWithTruth(
  db: Database,
  sim: RunningSimulator,
  scopes: readonly Scope[],
  options: CompareOptions = {},
): Promise<Comparison> {
  const truth = sim.groundTruth();
  const total = emptyComparison();
  for (const s of scopes) {
    const gt = truth.accounts.find((a) => a.accountId === s.jpmAccountId);
    if (!gt) {
      throw new Error(`no ground truth for account ${s.jpmAccountId}`);
    }
    const c = emptyComparison();
    const problem = (text: string) =>
      c.problems.length < 20 && c.problems.push(`${s.accountId} ${s.from}..${s.to}: ${text}`);
    const kinds = s.kinds ?? ['transactions', 'balances'];
    if (kinds.includes('transactions')) {
      const expected = new Map<string, string>();
      for (const x of gt.transactions.filter((x) => x.asOfDate >= s.from && x.asOfDate <= s.to)) {
        expected.set(
          x.transactionId,
          `${toMinorUnits(x.amount, s.decimalLocation)}|${x.debitCreditCode.toLowerCase()}|${x.asOfDate}|${x.valueDate}|posted`,
        );
      }
      const rows = await db
        .selectFrom('transactions')
        .select(['jpm_transaction_id', 'amount_minor', 'direction', 'booking_date', 'value_date', 'status'])
        .where('account_id', '=', s.accountId)
        .where('booking_date', '>=', s.from)
        .where('booking_date', '<=', s.to)
        .$if(options.liveOnly === true, (q) => q.where('status', 'in', ['posted', 'pending']))
        .execute();
      const seen = new Set<string>();
      const idless: typeof rows = [];
      for (const r of rows) {
        if (/^ *$/.test(r.jpm_transaction_id)) {
          // The bank sent it without an id (the blank-ids fault): it must be one of its items no other row is.
          idless.push(r);
          continue;
        }
        const want = expected.get(r.jpm_transaction_id);
        if (want === undefined || seen.has(r.jpm_transaction_id)) {
          c.duplicates++;
          problem(
            `row ${r.jpm_transaction_id} (${r.booking_date} ${r.direction} ${String(r.amount_minor)} ${r.status}) is not the bank's`,
          );
          continue;
        }
        seen.add(r.jpm_transaction_id);
        const got = `${BigInt(r.amount_minor)}|${r.direction}|${r.booking_date}|${r.value_date ?? ''}|${r.status}`;
        if (got !== want) {
          c.mismatched++;
          problem(`row ${r.jpm_transaction_id}: stored ${got}, bank ${want}`);
        }
      }
      for (const r of idless) {
        const got = `${BigInt(r.amount_minor)}|${r.direction}|${r.booking_date}|${r.value_date ?? ''}|${r.status}`;
        const id = [...expected].find(([x, want]) => !seen.has(x) && want === got)?.[0];
        if (id === undefined) {
          c.duplicates++;
          problem(`row without an id (${got}) is not the bank's`);
        } else {
          seen.add(id);
        }
      }
      for (const id of expected.keys()) {
        if (!seen.has(id)) {
          c.missing++;
          problem(`transaction ${id} missing`);
        }
      }
      c.rowsCompared += expected.size;
    }
    if (kinds.includes('balances')) {
      const rows = await db
        .selectFrom('balances')
        .select([
          'as_of_date',
          'opening_ledger_minor',
          'ending_ledger_minor',
          'opening_available_minor',
          'ending_available_minor',
        ])
        .where('account_id', '=', s.accountId)
        .where('kind', '=', 'final')
        .where('as_of_date', '>=', s.from)
        .where('as_of_date', '<=', s.to)
        .execute();
      const byDate = new Map(rows.map((r) => [r.as_of_date, r]));
      const str = (v: string | number | bigint | null) => (v === null ? 'null' : BigInt(v).toString());
      for (const b of gt.balances.filter((b) => b.asOfDate >= s.from && b.asOfDate <= s.to)) {
        const r = byDate.get(b.asOfDate);
        byDate.delete(b.asOfDate);
        c.rowsCompared++;
        if (!r) {
          c.missing++;
          c.missingBalances.push({ accountId: s.accountId, date: b.asOfDate });
          problem(`final balance of ${b.asOfDate} missing`);
          continue;
        }
        const want = [b.openingLedger, b.endingLedger, b.openingAvailable, b.endingAvailable]
          .map((v) => toMinorUnits(v, s.decimalLocation).toString())
          .join('|');
        const got = [r.opening_ledger_minor, r.ending_ledger_minor, r.opening_available_minor, r.ending_available_minor]
          .map(str)
          .join('|');
        if (want !== got) {
          c.mismatched++;
          problem(`final balance of ${b.asOfDate}: stored ${got}, bank ${want}`);
        }
      }
      for (const extra of byDate.keys()) {
        c.duplicates++;
        problem(`final balance of ${extra} is not the bank's`);
      }
    }
    merge(total, c);
  }
  return total;
}

/** Parent runs not finished (queued or running, or without finished_at) in the database. */
export async function unfinishedRuns(db: Database): Promise<{ id: string; status: string }[]> {
  return db
    .selectFrom('sync_runs')
    .select(['id', 'status'])
    .where('parent_run_id', 'is', null)
    .where((eb) => eb.or([eb('status', 'in', ['queued', 'running']), eb('finished_at', 'is', null)]))
    .execute();
}

/** Windows of runs, with the dates and kinds they claim, for the "never partial data presented as complete" check. */
export async function windowsOf(db: Database, parentRunIds: readonly string[]) {
  if (parentRunIds.length === 0) {
    return [];
  }
  return db
    .selectFrom('sync_runs')
    .select([
      'id',
      'parent_run_id',
      'account_id',
      'kind',
      'window_from',
      'window_to',
      'status',
      'error_code',
      'error_message',
      'attempts',
    ])
    .where('parent_run_id', 'in', parentRunIds)
    .execute();
}

/**
 * Same J.P. Morgan id twice for an account (ids of only spaces are none), or two live rows with one fingerprint key:
 * zero if the unique keys hold.
 */
export async function duplicateKeys(db: Database): Promise<number> {
  const r = await sql<{ n: number }>`
    select (select count(*) from (select account_id, jpm_transaction_id from transactions where status in ('posted', 'pending')
              and btrim(jpm_transaction_id, ' ') <> '' group by 1, 2 having count(*) > 1) a)
         + (select count(*) from (select account_id, fingerprint_key from transactions where status in ('posted', 'pending') group by 1, 2 having count(*) > 1) b)
         + (select count(*) from (select account_id, as_of_date, kind from balances group by 1, 2, 3 having count(*) > 1) c) as n`.execute(
    db,
  );
  return Number(r.rows[0]?.n ?? 0);
}
