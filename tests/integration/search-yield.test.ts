import { sql } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  refreshSearchLagMetric,
  searchYieldDelayAfter,
  startSearchIndexLoop,
  type SearchYieldSettings,
} from '../../src/events/search-index.ts';
import { createLogger } from '../../src/shared/logger.ts';
import { searchIndexYielding } from '../../src/shared/metrics.ts';
import { feedActivityQuery, readSearchPosition } from '../../src/storage/search.repo.ts';
import { createAccount, createTenancy } from '../factories/tenancy.ts';
import { ingestWire, wireTransaction } from '../factories/transactions.ts';
import { createTestDb, type TestDb } from '../helpers/db.ts';
import { catchUpSearch } from '../helpers/search-step.ts';

/**
 * The search step yields to busy ingestion (events/search-index.ts): after a full batch it pauses while the feed's
 * newest event is fresh and its own lag is under the bound, and runs at once otherwise. Real feed, real loop;
 * the feed's ages are set by moving events' `created_at` back.
 */
describe('search step yield to ingestion', () => {
  let t: TestDb;
  let account: { id: string; organizationId: string; jpmAccountId: string };
  let seq = 0;
  const settings: SearchYieldSettings = { busyShare: 0.25, maxLagSeconds: 600, busyWindowMs: 5_000 };

  /** Stores `n` new transactions through the ingest path (one change event each, committed). */
  async function ingest(n: number): Promise<void> {
    const records = Array.from({ length: n }, () => {
      seq += 1;
      return wireTransaction({
        transactionId: `yield-${seq}`,
        jpmAccountId: account.jpmAccountId,
        shortDescription: `Yield payment ${seq}`,
      });
    });
    await ingestWire(t.db, account, records);
  }

  /** Moves events back in time: all of them, or those not applied yet except the newest. */
  async function age(seconds: number, which: 'all' | 'pending-but-newest'): Promise<void> {
    if (which === 'all') {
      await sql`update change_events set created_at = created_at - make_interval(secs => ${seconds})`.execute(t.db);
      return;
    }
    const p = await readSearchPosition(t.db);
    await sql`
      update change_events set created_at = created_at - make_interval(secs => ${seconds})
      where (xid, id) > (${p.xid}::xid8, ${p.id}::bigint)
        and (xid, id) < (select xid, id from change_events order by xid desc, id desc limit 1)`.execute(t.db);
  }

  /** Change events after the step's position. */
  async function pending(): Promise<number> {
    const p = await readSearchPosition(t.db);
    const r = await sql<{ n: string }>`
      select count(*)::text as n from change_events where (xid, id) > (${p.xid}::xid8, ${p.id}::bigint)`.execute(t.db);
    return Number(r.rows[0]?.n ?? 0);
  }

  /** Runs the loop until no event is left after its position (at most ~5 s). */
  async function waitUntilCaughtUp(busyShare: number): Promise<void> {
    const loop = startSearchIndexLoop(t.db, {
      batchSize: 2,
      intervalMs: 50,
      logger: createLogger('events'),
      yield: { ...settings, busyShare },
    });
    try {
      for (let i = 0; i < 200 && (await pending()) > 0; i++) {
        await new Promise((r) => setTimeout(r, 25));
      }
    } finally {
      await loop.stop();
    }
  }

  beforeAll(async () => {
    t = await createTestDb();
    const tenancy = await createTenancy(t.db, { name: 'Yield Org' });
    account = await createAccount(t.db, tenancy);
  });

  beforeEach(async () => {
    await catchUpSearch(t.db);
  });

  afterAll(async () => {
    await t.drop();
  });

  it('reads the feed by its (xid, id) index from both ends, without statistics (no sort, no sequential scan)', async () => {
    await ingest(8);
    interface PlanNode {
      'Node Type': string;
      'Relation Name'?: string;
      'Index Name'?: string;
      Plans?: PlanNode[];
    }
    const q = feedActivityQuery(await readSearchPosition(t.db)).compile(t.db);
    const r = await t.db.executeQuery<{ 'QUERY PLAN': { Plan: PlanNode }[] }>({
      ...q,
      sql: `explain (format json) ${q.sql}`,
    });
    const nodes: string[] = [];
    const visit = (node: PlanNode) => {
      nodes.push(`${node['Node Type']}${node['Index Name'] ? ` ${node['Index Name']}` : ''}`);
      node.Plans?.forEach(visit);
    };
    visit(r.rows[0]!['QUERY PLAN'][0]!.Plan);
    expect(nodes.filter((n) => n.startsWith('Index Scan'))).toEqual([
      'Index Scan change_events_xid_id_idx',
      'Index Scan change_events_xid_id_idx',
    ]);
    expect(nodes.filter((n) => n === 'Sort' || n === 'Seq Scan')).toEqual([]);
  });

  it('busy feed, lag under the bound: the step pauses elapsed × (1/share − 1) after a full batch, and /metrics says it yields', async () => {
    await ingest(8);
    const position = await readSearchPosition(t.db);
    expect(await searchYieldDelayAfter(t.db, position, 40, settings)).toBe(120);
    expect(await searchYieldDelayAfter(t.db, position, 40, { ...settings, busyShare: 1 })).toBe(0);
    await refreshSearchLagMetric(t.db, settings);
    expect((await searchIndexYielding.get()).values[0]?.value).toBe(1);

    // The loop: a tiny share makes the pause after the first full batch last minutes; one batch of 2 is applied
    // (the 8 events commit together, so the first batch that sees them is full), and stop() does not wait for the pause.
    // The events show once every older transaction of the (shared) cluster has ended: wait for the first batch (at
    // most 15 s on a busy machine), then see that the pause holds the rest.
    const loop = startSearchIndexLoop(t.db, {
      batchSize: 2,
      intervalMs: 50,
      logger: createLogger('events'),
      yield: { ...settings, busyShare: 0.00001 },
    });
    let stopMs: number;
    try {
      const deadline = Date.now() + 15_000;
      while (Date.now() < deadline && (await pending()) === 8) {
        await new Promise((r) => setTimeout(r, 25));
      }
      await new Promise((r) => setTimeout(r, 300));
      expect(await pending()).toBe(6);
    } finally {
      const before = performance.now();
      await loop.stop();
      stopMs = performance.now() - before;
    }
    expect(stopMs).toBeLessThan(500);
    // Share 1 (never yield): the same feed is applied at once.
    await waitUntilCaughtUp(1);
    expect(await pending()).toBe(0);
  });

  /**
   * After ageing the feed: the step does not yield (no pause, gauge 0), and with a share so small that any pause
   * would last minutes the loop still catches up at once.
   */
  async function expectNoYield(): Promise<void> {
    const position = await readSearchPosition(t.db);
    expect(await searchYieldDelayAfter(t.db, position, 40, settings)).toBe(0);
    await refreshSearchLagMetric(t.db, settings);
    expect((await searchIndexYielding.get()).values[0]?.value).toBe(0);
    await waitUntilCaughtUp(0.00001);
    expect(await pending()).toBe(0);
  }

  it('stale newest event (ingestion idle): no pause, the step catches up at once', async () => {
    await ingest(8);
    await age(10, 'all');
    await expectNoYield();
  });

  it('lag older than the bound: no pause even while ingestion is busy', async () => {
    await ingest(8);
    // The old ones are applied without a pause; the last full batch takes the newest with them.
    await age(700, 'pending-but-newest');
    await expectNoYield();
  });
});
