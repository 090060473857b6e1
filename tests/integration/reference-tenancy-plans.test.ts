import { Kysely, PostgresDialect, type CompiledQuery } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPool, type DB, type Database } from '../../src/storage/db.ts';
import { listTransactions, type TransactionFilter } from '../../src/storage/read.repo.ts';
import { createAccount, createTenancy } from '../factories/tenancy.ts';
import { ingestWire, wireTransaction } from '../factories/transactions.ts';
import { createTestDb, type TestDb } from '../helpers/db.ts';

/**
 * `reference=` with one organization's key must cost that organization the same whatever other organizations hold:
 * a customer reference is the customers' own text, so another organization can have thousands of rows of a reference
 * this one has a few of, or none. With the organization last in the reference index, the scoped page read every
 * organization's entries of the reference (one tenant's data set another's latency). Never-analyzed tables, as the
 * plan test; the page's statements are run with EXPLAIN (ANALYZE, BUFFERS) under the settings they were sent with.
 */
/** A page's planner settings (`set local …`, sent with its BEGIN in one message), as sent. */
const SETTINGS = /^\s*(begin;\s*)?set local /i;

/** The planner settings a call sent, without their BEGIN, to replay in a transaction before its statements. */
function sentSettings(sent: CompiledQuery[]): CompiledQuery[] {
  return sent.filter((q) => SETTINGS.test(q.sql)).map((q) => ({ ...q, sql: q.sql.replace(/^\s*begin;\s*/i, '') }));
}

interface PlanNode {
  'Relation Name'?: string;
  'Actual Rows'?: number;
  'Actual Loops'?: number;
  'Rows Removed by Filter'?: number;
  'Rows Removed by Index Recheck'?: number;
  'Shared Hit Blocks'?: number;
  'Shared Read Blocks'?: number;
  Plans?: PlanNode[];
}

const DAYS = ['2026-11-02', '2026-11-03', '2026-11-04', '2026-11-05', '2026-11-06'];

describe('reference= of one organization on a never-analyzed table holding other organizations', () => {
  let t: TestDb;
  let rec: Database;
  let seen: CompiledQuery[] = [];
  let own: { organizationId: string };
  let other: { id: string; organizationId: string; jpmAccountId: string };
  let otherRows = 0;

  /** Rows of `transactions` read and shared buffers touched by the page's statements (planning excluded). */
  async function cost(
    filter: TransactionFilter,
    sort: 'bookingDate' | '-bookingDate',
  ): Promise<{ rows: number; buffers: number }> {
    seen = [];
    await listTransactions(rec, filter, { sort, limit: 20 });
    const sent = seen;
    const settings = sentSettings(sent);
    let rows = 0;
    let buffers = 0;
    const visit = (n: PlanNode) => {
      if (n['Relation Name'] === 'transactions') {
        rows +=
          ((n['Actual Rows'] ?? 0) + (n['Rows Removed by Filter'] ?? 0) + (n['Rows Removed by Index Recheck'] ?? 0)) *
          (n['Actual Loops'] ?? 1);
      }
      for (const c of n.Plans ?? []) {
        visit(c);
      }
    };
    for (const q of sent.filter((x) => /\btransactions\b/.test(x.sql) && !SETTINGS.test(x.sql))) {
      await t.db.transaction().execute(async (trx) => {
        for (const s of settings) {
          await trx.executeQuery(s);
        }
        const r = await trx.executeQuery<{ 'QUERY PLAN': { Plan: PlanNode }[] }>({
          ...q,
          sql: `explain (analyze, buffers, format json) ${q.sql}`,
        });
        const plan = r.rows[0]!['QUERY PLAN'][0]!.Plan;
        visit(plan);
        buffers += (plan['Shared Hit Blocks'] ?? 0) + (plan['Shared Read Blocks'] ?? 0);
      });
    }
    return { rows, buffers };
  }

  /** `n` more rows of the other organization, every one carrying the references the scoped one asks for. */
  async function addOtherRows(n: number): Promise<void> {
    const rows = Array.from({ length: n }, (_, i) =>
      wireTransaction({
        transactionId: `O-${otherRows + i}`,
        jpmAccountId: other.jpmAccountId,
        asOfDate: DAYS[i % DAYS.length]!,
        amount: `${i + 1}.00`,
        postCode: 'P',
        bankReference: i % 2 === 0 ? 'SHARED-BANK-REF' : 'ONLY-ELSEWHERE-BANK',
        customerReference: i % 2 === 0 ? 'SHARED-REF' : 'ONLY-ELSEWHERE',
      }),
    );
    for (let i = 0; i < rows.length; i += 500) {
      await ingestWire(t.db, other, rows.slice(i, i + 500));
    }
    otherRows += n;
  }

  beforeAll(async () => {
    t = await createTestDb();
    const a = await createTenancy(t.db, { name: 'Scoped' });
    const b = await createTenancy(t.db, { name: 'Other' });
    own = a;
    const mine = await createAccount(t.db, a);
    other = await createAccount(t.db, b);
    // The scoped organization: 200 rows, 4 of them with the references the other one has many of.
    await ingestWire(
      t.db,
      mine,
      Array.from({ length: 200 }, (_, i) =>
        wireTransaction({
          transactionId: `A-${i}`,
          jpmAccountId: mine.jpmAccountId,
          asOfDate: DAYS[i % DAYS.length]!,
          amount: `${i + 1}.50`,
          postCode: 'P',
          bankReference: i % 50 === 0 ? 'SHARED-BANK-REF' : `BR-A-${i}`,
          customerReference: i % 50 === 0 ? 'SHARED-REF' : `C-A-${i}`,
        }),
      ),
    );
    // Enough for the reference indexes to have more than one level already.
    await addOtherRows(1000);
    rec = new Kysely<DB>({
      dialect: new PostgresDialect({ pool: createPool({ url: t.url, poolMax: 2 }) }),
      log(event) {
        if (event.level === 'query') {
          seen.push(event.query);
        }
      },
    });
  }, 120_000);

  afterAll(async () => {
    await rec.destroy();
    await t.drop();
  });

  it('reads the same rows and pages whether the other organization holds 1,000 or 5,000 rows of the reference', async () => {
    const cases: [string, TransactionFilter][] = [
      ['a customer reference it has 4 rows of', { organizationId: own.organizationId, reference: 'SHARED-REF' }],
      ['a bank reference it has 4 rows of', { organizationId: own.organizationId, reference: 'SHARED-BANK-REF' }],
      ['a customer reference it has none of', { organizationId: own.organizationId, reference: 'ONLY-ELSEWHERE' }],
      ['a bank reference it has none of', { organizationId: own.organizationId, reference: 'ONLY-ELSEWHERE-BANK' }],
    ];
    const measure = async () => {
      const out: Record<string, { rows: number; buffers: number }> = {};
      for (const [name, filter] of cases) {
        for (const sort of ['-bookingDate', 'bookingDate'] as const) {
          out[`${name} ${sort}`] = await cost(filter, sort);
        }
      }
      return out;
    };
    const before = await measure();
    await addOtherRows(4000);
    const after = await measure();
    expect(after).toEqual(before);
    // Only its own rows: the 4 (or none) and nothing of the other organization.
    for (const [name, c] of Object.entries(after)) {
      expect([name, c.rows]).toEqual([name, name.includes('none of') ? 0 : 4]);
    }
  });

  it('with another filter, in firstSeen order and with q=, pages only its own rows of the reference that match it', async () => {
    // The reference's two columns joined by OR, unbracketed among the other conditions, let every row of the customer
    // reference through whatever the other filters said (AND binds first); the organization held only because the
    // walk and the reads that feed the filter are scoped to it.
    const extras: [TransactionFilter, number][] = [
      [{ statuses: ['posted'] }, 4],
      [{ statuses: ['removed'] }, 0],
      [{ direction: 'debit' }, 0],
      [{ amountMax: '1.00' }, 0],
      [{ text: 'misc' }, 4],
      [{ text: 'misc', statuses: ['removed'] }, 0],
      [{ text: 'no such words' }, 0],
    ];
    for (const [extra, n] of extras) {
      for (const sort of ['firstSeen', 'bookingDate', '-bookingDate'] as const) {
        const filter: TransactionFilter = { organizationId: own.organizationId, reference: 'SHARED-REF', ...extra };
        const rows = await listTransactions(t.db, filter, { sort, limit: 20 });
        expect([
          JSON.stringify(extra),
          sort,
          rows.length,
          rows.every((r) => r.organization_id === own.organizationId),
        ]).toEqual([JSON.stringify(extra), sort, n, true]);
      }
    }
  });
});
