import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { comparePositions, purgeChangeFeed, resetChangeFeed } from '../../src/events/change-feed.ts';
import { runSearchIndexBatch } from '../../src/events/search-index.ts';
import {
  compileListTransactions,
  listTransactions,
  TRANSACTION_SORTS,
  type TransactionFilter,
  type TransactionSort,
} from '../../src/storage/read.repo.ts';
import { readSearchPosition } from '../../src/storage/search.repo.ts';
import { createAccount, createTenancy } from '../factories/tenancy.ts';
import { ingestWire, wireTransaction, type WireOptions } from '../factories/transactions.ts';
import { createTestDb, type TestDb } from '../helpers/db.ts';
import { catchUpSearch, catchUpWebhookProducer } from '../helpers/search-step.ts';

/**
 * Text search (`q=`) after commit: `transaction_search` is filled by the search step, and `q=` answers from it
 * plus, read from `transactions`, the rows changed since the step's position. Every answer here is compared with
 * the rows' current descriptions, before the step has run and after.
 */
interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  Plans?: PlanNode[];
}

describe('text search after commit', () => {
  let t: TestDb;
  let orgA: string;
  let orgB: string;
  let a1: { id: string; organizationId: string; jpmAccountId: string };
  let a2: { id: string; organizationId: string; jpmAccountId: string };
  let b1: { id: string; organizationId: string; jpmAccountId: string };

  const wire = (account: { jpmAccountId: string }, o: Omit<WireOptions, 'jpmAccountId'>) =>
    wireTransaction({ ...o, jpmAccountId: account.jpmAccountId });

  const catchUp = () => catchUpSearch(t.db);

  async function searchRow(
    transactionId: string,
  ): Promise<{ description: string; organization_id: string } | undefined> {
    return t.db
      .selectFrom('transaction_search')
      .select(['description', 'organization_id'])
      .where('transaction_id', '=', transactionId)
      .executeTakeFirst();
  }

  async function idOf(accountId: string, jpmTransactionId: string): Promise<string> {
    const r = await t.db
      .selectFrom('transactions')
      .select('id')
      .where('account_id', '=', accountId)
      .where('jpm_transaction_id', '=', jpmTransactionId)
      .executeTakeFirstOrThrow();
    return r.id;
  }

  async function search(filter: TransactionFilter, sort: TransactionSort = '-bookingDate'): Promise<string[]> {
    return (await listTransactions(t.db, filter, { sort, limit: 500 })).map((r) => r.id);
  }

  /**
   * Waits (25 ms polls, up to 10 s) until the newest change event is older than every running write transaction of
   * the cluster: the step reads only events with xid < pg_snapshot_xmin(pg_current_snapshot()), and other test files
   * or a benchmark on the same cluster may hold an older transaction open for a while.
   */
  async function waitUntilFeedReadable(): Promise<void> {
    for (let i = 0; i < 400; i++) {
      const r = await sql<{ readable: boolean }>`
        select coalesce(pg_snapshot_xmin(pg_current_snapshot()) > (select e.xid from change_events e order by e.xid desc, e.id desc limit 1), true) as readable`.execute(
        t.db,
      );
      if (r.rows[0]?.readable) {
        return;
      }
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error(
      'the newest change event stayed unreadable for 10 s: another session of the cluster holds an older write transaction open',
    );
  }

  /** Every page of a listing, `limit` rows at a time, following the cursor as the API does. */
  async function walk(filter: TransactionFilter, sort: TransactionSort, limit: number): Promise<string[]> {
    const out: string[] = [];
    let after: { bookingDate: string; id: string } | undefined;
    for (;;) {
      const rows = await listTransactions(t.db, filter, { sort, after, limit });
      out.push(...rows.slice(0, limit).map((r) => r.id));
      const last = rows[limit - 1];
      if (rows.length <= limit || !last) {
        return out;
      }
      after = { bookingDate: last.booking_date, id: last.id };
    }
  }

  /** The same listing without `q=`, its rows then filtered by their current description (what `q=` promises). */
  async function expected(filter: TransactionFilter & { text: string }, sort: TransactionSort): Promise<string[]> {
    const { text, ...rest } = filter;
    const rows = await listTransactions(t.db, rest, { sort, limit: 100_000 });
    return rows.filter((r) => r.description.toLowerCase().includes(text.toLowerCase())).map((r) => r.id);
  }

  beforeAll(async () => {
    t = await createTestDb();
    const ta = await createTenancy(t.db, { name: 'Org A' });
    const tb = await createTenancy(t.db, { name: 'Org B' });
    orgA = ta.organizationId;
    orgB = tb.organizationId;
    a1 = await createAccount(t.db, ta);
    a2 = await createAccount(t.db, ta);
    b1 = await createAccount(t.db, tb);
    await catchUp();
  });
  afterAll(async () => {
    await t.drop();
  });

  it('finds a row the moment it is stored (before the step has run) and after the step', async () => {
    await ingestWire(t.db, a1, [wire(a1, { transactionId: 'Z-1', shortDescription: 'WIRE ZEBRA LOGISTICS' })]);
    const id = await idOf(a1.id, 'Z-1');
    expect(await searchRow(id)).toBeUndefined();
    expect(await search({ text: 'zebra' })).toEqual([id]);
    expect(await search({ organizationId: orgA, text: 'Zebra Log' })).toEqual([id]);
    await catchUp();
    expect(await searchRow(id)).toEqual({ description: 'WIRE ZEBRA LOGISTICS', organization_id: orgA });
    expect(await search({ text: 'zebra' })).toEqual([id]);
    expect(await search({ text: 'zebras' })).toEqual([]);
  });

  it('reads the rows changed since the position through the (xid, id) indexes, never a scan of the feed or the table (never analyzed)', async () => {
    // A feed of a few thousand events (a third of it looks like a scan to a planner without statistics).
    for (let p = 0; p < 8; p++) {
      await ingestWire(
        t.db,
        a1,
        Array.from({ length: 500 }, (_, i) =>
          wire(a1, { transactionId: `X-${p}-${i}`, shortDescription: `PLAN CHECK ${p} ${i}` }),
        ),
      );
    }
    // The scans of `transactions` and `change_events` in the plan, as "<node type> <table>".
    const scans = async (filter: TransactionFilter): Promise<string[]> => {
      const q = compileListTransactions(t.db, filter, { sort: '-bookingDate', limit: 100 });
      const r = await t.db.executeQuery<{ 'QUERY PLAN': { Plan: PlanNode }[] }>({
        ...q,
        sql: `explain (format json) ${q.sql}`,
      });
      const out: string[] = [];
      const visit = (node: PlanNode) => {
        if (node['Relation Name'] === 'transactions' || node['Relation Name'] === 'change_events') {
          out.push(`${node['Node Type']} ${node['Relation Name']}`);
        }
        node.Plans?.forEach(visit);
      };
      visit(r.rows[0]!['QUERY PLAN'][0]!.Plan);
      return out;
    };
    for (const filter of [{ text: 'plan check' }, { text: 'plan check', organizationId: orgA }]) {
      const found = await scans(filter);
      expect(
        found.some((s) => s.endsWith('change_events')),
        JSON.stringify(filter),
      ).toBe(true);
      expect(
        found.filter((s) => s.startsWith('Seq Scan')),
        JSON.stringify(filter),
      ).toEqual([]);
    }
  });

  it('follows a description the bank changes, before and after the step', async () => {
    await ingestWire(t.db, a1, [wire(a1, { transactionId: 'C-1', shortDescription: 'INVOICE ALPHACORP 17' })]);
    const id = await idOf(a1.id, 'C-1');
    await catchUp();
    expect(await search({ text: 'alphacorp' })).toEqual([id]);
    await ingestWire(t.db, a1, [wire(a1, { transactionId: 'C-1', shortDescription: 'INVOICE BETAWORKS 17' })]);
    // The search row still holds the old text: it must not be trusted.
    expect((await searchRow(id))?.description).toBe('INVOICE ALPHACORP 17');
    expect(await search({ text: 'alphacorp' })).toEqual([]);
    expect(await search({ text: 'betaworks' })).toEqual([id]);
    await catchUp();
    expect((await searchRow(id))?.description).toBe('INVOICE BETAWORKS 17');
    expect(await search({ text: 'alphacorp' })).toEqual([]);
    expect(await search({ text: 'betaworks' })).toEqual([id]);
  });

  it("never shows another organization's rows, from the search table or from the rows changed since", async () => {
    await ingestWire(t.db, a2, [wire(a2, { transactionId: 'O-1', shortDescription: 'ACH OCTOPUS HOLDINGS' })]);
    await ingestWire(t.db, b1, [wire(b1, { transactionId: 'O-1', shortDescription: 'ACH OCTOPUS HOLDINGS' })]);
    const inA = await idOf(a2.id, 'O-1');
    const inB = await idOf(b1.id, 'O-1');
    for (const stepped of [false, true]) {
      if (stepped) {
        await catchUp();
      }
      expect(await search({ organizationId: orgA, text: 'octopus' }), `stepped: ${String(stepped)}`).toEqual([inA]);
      expect(await search({ organizationId: orgB, text: 'octopus' }), `stepped: ${String(stepped)}`).toEqual([inB]);
      expect(new Set(await search({ text: 'octopus' }))).toEqual(new Set([inA, inB]));
    }
  });

  it('pages every sort and filter combination exactly, with part of the rows not yet searched and part changed since', async () => {
    const days = ['2026-11-02', '2026-11-03', '2026-11-04', '2026-11-05'];
    const batch = (prefix: string, account: typeof a1, n: number, word: (i: number) => string) =>
      Array.from({ length: n }, (_, i) =>
        wire(account, {
          transactionId: `${prefix}-${i}`,
          asOfDate: days[i % days.length]!,
          valueDate: days[(i + 1) % days.length]!,
          direction: i % 3 === 0 ? 'DEBIT' : 'CREDIT',
          amount: `${i + 1}.00`,
          shortDescription: `PAYMENT ${word(i)} REF ${prefix}${i}`,
        }),
      );
    const word = (i: number) => (i % 4 === 0 ? 'KIWI FARMS' : i % 4 === 1 ? 'kiwi farms ltd' : 'OTHER VENDOR');
    await ingestWire(t.db, a1, batch('P1', a1, 60, word));
    await ingestWire(t.db, b1, batch('P1', b1, 30, word));
    await catchUp();
    // After the step: new rows, and rows whose description changes in or out of a match.
    await ingestWire(t.db, a2, batch('P2', a2, 40, word));
    await ingestWire(
      t.db,
      a1,
      batch('P1', a1, 20, (i) => (i % 2 === 0 ? 'OTHER VENDOR' : 'KIWI FARMS AGAIN')),
    );
    const filters: (TransactionFilter & { text: string })[] = [
      { text: 'kiwi farms' },
      { text: 'KIWI', organizationId: orgA },
      { text: 'kiwi', organizationId: orgB },
      { text: 'kiwi', organizationId: orgA, accountId: a1.id },
      { text: 'kiwi', organizationId: orgA, bookingDateFrom: days[1], bookingDateTo: days[2] },
      { text: 'kiwi', organizationId: orgA, valueDateFrom: days[2], valueDateTo: days[2] },
      { text: 'kiwi', valueDateFrom: days[1], valueDateTo: days[3] },
      { text: 'kiwi', organizationId: orgA, direction: 'debit', statuses: ['posted'] },
      { text: 'kiwi', amountMin: '5.00', amountMax: '30.00' },
      { text: 'farms ltd' },
      { text: 'nothing like this' },
    ];
    for (const stepped of [false, true]) {
      if (stepped) {
        await catchUp();
      }
      for (const filter of filters) {
        for (const sort of TRANSACTION_SORTS) {
          const want = await expected(filter, sort);
          expect(await walk(filter, sort, 7), `${JSON.stringify(filter)} ${sort} stepped: ${String(stepped)}`).toEqual(
            want,
          );
        }
      }
    }
    expect((await expected({ text: 'kiwi farms' }, 'firstSeen')).length).toBeGreaterThan(30);
  });

  it('a page of a rare text past the ordered walk comes from the trigram index, exactly, whatever the walk already found', async () => {
    // One organization of its own: in newest-first order a page of 2 walks at most 300 search rows (100 per row of the
    // page, plus one), here 2 matches then 330 others, so the page needs the trigram fallback, which finds the same 2
    // again; oldest first, the walk fills the page from the 12 old matches at once.
    const tc = await createTenancy(t.db, { name: 'Org C' });
    const c1 = await createAccount(t.db, tc);
    const rows = [
      ...Array.from({ length: 2 }, (_, i) =>
        wire(c1, { transactionId: `N-new-${i}`, asOfDate: '2026-11-20', shortDescription: `NEEDLE NEW ${i}` }),
      ),
      ...Array.from({ length: 330 }, (_, i) =>
        wire(c1, {
          transactionId: `H-${i}`,
          asOfDate: i % 2 === 0 ? '2026-11-18' : '2026-11-17',
          shortDescription: `HAY ${i}`,
        }),
      ),
      ...Array.from({ length: 12 }, (_, i) =>
        wire(c1, {
          transactionId: `N-old-${i}`,
          asOfDate: i % 2 === 0 ? '2026-11-03' : '2026-11-04',
          shortDescription: `needle old ${i}`,
        }),
      ),
    ];
    await ingestWire(t.db, c1, rows);
    await catchUp();
    // After the step: one old match and one of the first two change (out of and into the text).
    await ingestWire(t.db, c1, [
      wire(c1, { transactionId: 'N-old-5', asOfDate: '2026-11-04', shortDescription: 'HAY AFTER ALL' }),
      wire(c1, { transactionId: 'H-7', asOfDate: '2026-11-17', shortDescription: 'NEEDLE AFTER ALL' }),
    ]);
    for (const stepped of [false, true]) {
      if (stepped) {
        await catchUp();
      }
      for (const filter of [{ text: 'needle', organizationId: tc.organizationId }, { text: 'NEEDLE' }]) {
        for (const sort of TRANSACTION_SORTS) {
          const want = await expected(filter, sort);
          expect(want.length, `${JSON.stringify(filter)} ${sort}`).toBe(14);
          for (const limit of [1, 2, 5]) {
            expect(
              await walk(filter, sort, limit),
              `${JSON.stringify(filter)} ${sort} limit ${limit} stepped: ${String(stepped)}`,
            ).toEqual(want);
          }
        }
      }
    }
  });

  it('the change-feed purge stops at the step position; the rows after it are still found', async () => {
    await catchUp();
    await ingestWire(t.db, a1, [wire(a1, { transactionId: 'U-1', shortDescription: 'UNSEARCHED UMBRELLA CO' })]);
    const id = await idOf(a1.id, 'U-1');
    // The webhook producer has read everything: here only the search step's position holds the purge back.
    await catchUpWebhookProducer(t.db);
    const future = new Date(Date.now() + 400 * 86_400_000);
    const purged = await purgeChangeFeed(t.db, { retentionDays: 7, now: future, batchSize: 50 });
    expect(purged.deleted).toBeGreaterThan(0);
    expect(comparePositions(purged.horizon, await readSearchPosition(t.db))).toBeLessThanOrEqual(0);
    const left = await sql<{ entity_id: string }>`select entity_id from change_events`.execute(t.db);
    expect(left.rows.map((r) => r.entity_id)).toEqual([id]);
    expect(await search({ text: 'umbrella' })).toEqual([id]);
    await catchUp();
    expect((await purgeChangeFeed(t.db, { retentionDays: 7, now: future })).deleted).toBe(1);
    expect(await search({ text: 'umbrella' })).toEqual([id]);
  });

  it('a batch that dies half way is applied again whole by the next one: nothing missed, nothing twice', async () => {
    await ingestWire(t.db, a1, [
      wire(a1, { transactionId: 'K-1', shortDescription: 'KESTREL ONE' }),
      wire(a1, { transactionId: 'K-2', shortDescription: 'KESTREL TWO' }),
    ]);
    const k1 = await idOf(a1.id, 'K-1');
    await catchUp();
    await ingestWire(t.db, a1, [
      wire(a1, { transactionId: 'K-1', shortDescription: 'KESTREL ONE RENAMED' }),
      wire(a1, { transactionId: 'K-3', shortDescription: 'KESTREL THREE' }),
    ]);
    const before = await readSearchPosition(t.db);
    // The batch must read K-1's new event to reach its row: first wait until no older transaction hides it.
    await waitUntilFeedReadable();
    // Another session holds K-1's search row, so the step's batch stops inside its upsert; then its backend is killed.
    const holder = new pg.Client({ connectionString: t.url });
    await holder.connect();
    try {
      await holder.query('begin');
      await holder.query('select 1 from transaction_search where transaction_id = $1 for update', [k1]);
      let settled = false;
      const batch = runSearchIndexBatch(t.db, { batchSize: 500 })
        .catch((err: unknown) => err)
        .finally(() => {
          settled = true;
        });
      let killed = false;
      for (let i = 0; i < 400 && !killed && !settled; i++) {
        await new Promise((r) => setTimeout(r, 25));
        const r = await holder.query<{ ok: boolean }>(`
          select pg_terminate_backend(pid) as ok from pg_stat_activity
          where datname = current_database() and pid <> pg_backend_pid() and wait_event_type = 'Lock' and query ilike '%insert into transaction_search%'`);
        killed = r.rows.some((x) => x.ok);
      }
      if (!killed && settled) {
        const r = await batch;
        throw new Error(
          `the batch finished without blocking on the held search row: ${r instanceof Error ? r.message : JSON.stringify(r)}`,
        );
      }
      expect(killed, 'the batch was never seen waiting on the held search row').toBe(true);
      expect(await batch).toBeInstanceOf(Error);
      await holder.query('rollback');
    } finally {
      await holder.end();
    }
    expect(await readSearchPosition(t.db)).toEqual(before);
    expect((await searchRow(k1))?.description).toBe('KESTREL ONE');
    // q= is exact meanwhile, and after the step has run again.
    expect(new Set(await search({ text: 'kestrel' }))).toHaveLength(3);
    expect(await search({ text: 'kestrel one renamed' })).toEqual([k1]);
    await catchUp();
    const mismatches = await sql<{ n: string }>`
      select count(*)::text as n from transactions t full join transaction_search s on s.transaction_id = t.id
      where s.transaction_id is null or t.id is null or s.description <> t.description or s.organization_id <> t.organization_id`.execute(
      t.db,
    );
    expect(mismatches.rows[0]!.n).toBe('0');
    const twice = await sql<{
      n: string;
    }>`select (count(*) - count(distinct transaction_id))::text as n from transaction_search`.execute(t.db);
    expect(twice.rows[0]!.n).toBe('0');
    expect((await searchRow(k1))?.description).toBe('KESTREL ONE RENAMED');
    expect(await search({ text: 'kestrel one renamed' })).toEqual([k1]);
  });

  it('a change-feed reset fills the search table again, so the dropped events lose nothing', async () => {
    await catchUp();
    await ingestWire(t.db, a2, [wire(a2, { transactionId: 'R-1', shortDescription: 'RESET RAVEN LTD' })]);
    const id = await idOf(a2.id, 'R-1');
    expect(await searchRow(id)).toBeUndefined();
    await resetChangeFeed(t.db);
    expect(await searchRow(id)).toEqual({ description: 'RESET RAVEN LTD', organization_id: orgA });
    expect(await search({ text: 'raven' })).toEqual([id]);
  });
});
