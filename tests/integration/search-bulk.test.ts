import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { Kysely, PostgresDialect, RawNode, sql, type KyselyPlugin, type PostgresPool, type QueryId } from 'kysely';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { decideSearchBulk, runSearchBulk } from '../../src/events/search-bulk.ts';
import { refreshSearchLagMetric, runSearchIndexBatch, startSearchIndexLoop } from '../../src/events/search-index.ts';
import { createLogger } from '../../src/shared/logger.ts';
import { searchIndexBulkActive } from '../../src/shared/metrics.ts';
import type { Database, DB } from '../../src/storage/db.ts';
import { listTransactions } from '../../src/storage/read.repo.ts';
import { readSearchRebuild } from '../../src/storage/search-bulk.repo.ts';
import { readSearchPosition } from '../../src/storage/search.repo.ts';
import { createAccount, createTenancy } from '../factories/tenancy.ts';
import { ingestWire, wireTransaction } from '../factories/transactions.ts';
import { createTestDb, type TestDb } from '../helpers/db.ts';
import { captureLogLines } from '../helpers/log-capture.ts';
import { catchUpSearch } from '../helpers/search-step.ts';

/**
 * The search step's bulk catch-up (src/events/search-bulk.ts): a fresh search table filled from `transactions`,
 * indexed once and swapped in, when the step is far behind. Real Postgres, the real step and loop; the crash is a
 * SIGKILLed process of its own (tests/helpers/search-bulk-child.ts).
 */
const ROOT = join(import.meta.dirname, '..', '..');
const logs = captureLogLines('info');

type Account = { id: string; organizationId: string; jpmAccountId: string };

async function setup(): Promise<{ t: TestDb; account: Account }> {
  const t = await createTestDb();
  const account = await createAccount(t.db, await createTenancy(t.db, { name: 'Bulk Org' }));
  return { t, account };
}

async function ingest(db: Database, account: Account, prefix: string, text: string, n: number): Promise<void> {
  await ingestWire(db, account, Array.from({ length: n }, (_, i) => wireTransaction({
    transactionId: `${prefix}-${i}`, jpmAccountId: account.jpmAccountId, asOfDate: `2026-11-${String(2 + (i % 5)).padStart(2, '0')}`,
    shortDescription: `${text} ${i}`,
  })));
}

async function search(db: Database, text: string): Promise<string[]> {
  return (await listTransactions(db, { text }, { sort: '-bookingDate', limit: 500 })).map((r) => r.id);
}

/** Search rows missing, extra or differing from their transaction (0 when the table is exactly `transactions`). */
async function mismatched(db: Database): Promise<number> {
  const r = await sql<{ n: string }>`
    select count(*)::text as n from transactions t full join transaction_search s on s.transaction_id = t.id
    where s.transaction_id is null or t.id is null or s.booking_date <> t.booking_date or s.description <> t.description
      or s.organization_id <> t.organization_id`.execute(db);
  return Number(r.rows[0]?.n ?? -1);
}

async function tableOid(db: Database): Promise<string> {
  return (await sql<{ oid: string }>`select 'transaction_search'::regclass::oid::text as oid`.execute(db)).rows[0]!.oid;
}

async function searchIndexes(db: Database): Promise<string[]> {
  const r = await sql<{ indexname: string }>`
    select indexname from pg_indexes where schemaname = 'public' and tablename = 'transaction_search' order by indexname`.execute(db);
  return r.rows.map((x) => x.indexname);
}

const INDEXES = ['transaction_search_booking_idx', 'transaction_search_description_trgm_idx', 'transaction_search_org_booking_idx', 'transaction_search_pkey'];

/** Transaction change events after the step's position. */
async function pending(db: Database): Promise<number> {
  const p = await readSearchPosition(db);
  const r = await sql<{ n: string }>`
    select count(*)::text as n from change_events where entity = 'transaction' and (xid, id) > (${p.xid}::xid8, ${p.id}::bigint)`.execute(db);
  return Number(r.rows[0]?.n ?? 0);
}

/**
 * A database handle whose transaction stops before its COMMIT until `release()`: `atCommit` resolves when a
 * COMMIT is waiting (its statements have all run, its xid is taken, its rows are not visible to others yet).
 */
function heldCommitDb(url: string): { db: Database; atCommit: Promise<void>; release: () => void } {
  const pool = new pg.Pool({ connectionString: url, max: 1 });
  let reached!: () => void;
  let release!: () => void;
  const atCommit = new Promise<void>((r) => { reached = r; });
  const released = new Promise<void>((r) => { release = r; });
  const held: PostgresPool = {
    async connect() {
      const client = await pool.connect();
      return {
        async query(text: string, parameters: readonly unknown[]) {
          if (text === 'commit') {
            reached();
            await released;
          }
          return client.query(text, [...parameters]);
        },
        release: () => client.release(),
      } as unknown as Awaited<ReturnType<PostgresPool['connect']>>;
    },
    end: () => pool.end(),
  };
  return { db: new Kysely<DB>({ dialect: new PostgresDialect({ pool: held }) }), atCommit, release };
}

/** Runs `after` once the bulk fill's copy statement has returned (inside its chunk's transaction). */
function afterFillCopy(after: () => Promise<void>): { plugin: KyselyPlugin; ran: () => boolean } {
  const copies = new WeakSet<QueryId>();
  let ran = false;
  const plugin: KyselyPlugin = {
    transformQuery({ node, queryId }) {
      if (RawNode.is(node) && /insert into transaction_search_rebuild/.test(node.sqlFragments.join('?'))) {
        copies.add(queryId);
      }
      return node;
    },
    async transformResult({ queryId, result }) {
      if (copies.has(queryId) && !ran) {
        ran = true;
        await after();
      }
      return result;
    },
  };
  return { plugin, ran: () => ran };
}

describe('search step bulk catch-up', () => {
  it('is chosen past the threshold when most rows are missing from the search table, and swaps in a complete table with its indexes', async () => {
    const { t, account } = await setup();
    try {
      await ingest(t.db, account, 'B', 'BULK BITTERN', 40);
      expect(await decideSearchBulk(t.db, { thresholdEvents: 50 })).toMatchObject({ bulk: false, lagEvents: 40 });
      expect(await decideSearchBulk(t.db, { thresholdEvents: 30 })).toMatchObject({ bulk: true, lagEvents: 40, addedEvents: 40, searchRows: 0 });
      const oid = await tableOid(t.db);
      const loop = startSearchIndexLoop(t.db, {
        batchSize: 5, intervalMs: 50, logger: createLogger('events'), yield: { busyShare: 1, maxLagSeconds: 600 }, bulk: { thresholdEvents: 30 },
      });
      try {
        for (let i = 0; i < 200 && (await pending(t.db)) > 0; i++) {
          await new Promise((r) => setTimeout(r, 50));
        }
      } finally {
        await loop.stop();
      }
      expect(await pending(t.db)).toBe(0);
      const messages = logs.map((l) => JSON.parse(l) as { msg: string; outcome?: string; lagEvents?: number });
      // The loop applied one full batch (5 events), then chose the bulk path for the other 35.
      expect(messages.find((m) => m.msg === 'search index bulk catch-up chosen')).toMatchObject({ lagEvents: 35 });
      expect(messages.find((m) => m.msg === 'search index bulk swap')).toMatchObject({ outcome: 'swapped' });
      expect(await tableOid(t.db)).not.toBe(oid);
      expect(await searchIndexes(t.db)).toEqual(INDEXES);
      expect(await mismatched(t.db)).toBe(0);
      expect(await search(t.db, 'bulk bittern')).toHaveLength(40);
      expect(await readSearchRebuild(t.db)).toBeUndefined();

      // Most rows already searchable (40 rows, 35 new): event by event, the same table.
      const swapped = await tableOid(t.db);
      await ingest(t.db, account, 'C', 'CALM CURLEW', 35);
      expect(await decideSearchBulk(t.db, { thresholdEvents: 30 })).toMatchObject({ bulk: false, lagEvents: 35, addedEvents: 35, searchRows: 10 });
      await catchUpSearch(t.db);
      expect(await tableOid(t.db)).toBe(swapped);
      expect(await mismatched(t.db)).toBe(0);
    } finally {
      await t.drop();
    }
  });

  it('loses no row of a writer that was running when the rebuild began and committed during its fill', async () => {
    const { t, account } = await setup();
    const writer = heldCommitDb(t.url);
    try {
      await ingest(t.db, account, 'E', 'EARLIER EGRET', 3);
      // The writer's page is written (rows and change events, its xid taken) and waits to commit.
      const writing = ingest(writer.db, account, 'W', 'WRITER WREN', 2);
      await writer.atCommit;
      // The fill's snapshot cannot see the writer's rows; it commits right after the fill's copy, before the swap.
      const fill = afterFillCopy(async () => {
        writer.release();
        await writing;
      });
      const r = await runSearchBulk(t.db.withPlugin(fill.plugin), { thresholdEvents: 1 });
      expect(r).toMatchObject({ ran: true, outcome: 'swapped', rowsCopied: 3 });
      expect(fill.ran()).toBe(true);
      // Not in the fresh table, but its events are after the rebuild's position: q= reads it from `transactions`.
      const inTable = await sql<{ d: string }>`select description as d from transaction_search order by 1`.execute(t.db);
      expect(inTable.rows.map((x) => x.d)).toEqual(['EARLIER EGRET 0', 'EARLIER EGRET 1', 'EARLIER EGRET 2']);
      expect(await search(t.db, 'writer wren')).toHaveLength(2);
      expect(await search(t.db, 'earlier egret')).toHaveLength(3);
      await catchUpSearch(t.db);
      expect(await search(t.db, 'writer wren')).toHaveLength(2);
      expect(await mismatched(t.db)).toBe(0);
    } finally {
      await writer.db.destroy();
      await t.drop();
    }
  });

  it('keeps q= exact through the swap: searches running meanwhile find every row; a reader that outlasts the lock wait defers the swap', async () => {
    const { t, account } = await setup();
    try {
      await ingest(t.db, account, 'S', 'SWAPPED SWIFT', 50);
      await catchUpSearch(t.db);
      // The table then loses its rows (as if the step had never run them) and the position goes back to the start.
      await sql`delete from transaction_search`.execute(t.db);
      await sql`update transaction_search_state set position_xid = '0'::xid8, position_id = 0 where id = 1`.execute(t.db);
      expect(await search(t.db, 'swapped swift')).toHaveLength(50);

      // A reader holding the search table (an open transaction that searched it) outlasts every lock wait of the swap.
      const reader = new pg.Client({ connectionString: t.url });
      await reader.connect();
      await reader.query('begin');
      await reader.query(`select count(*) from transaction_search where description ilike '%swift%'`);
      const deferred = await runSearchBulk(t.db, { thresholdEvents: 1, swapLockTimeoutMs: 50 });
      await reader.query('rollback');
      await reader.end();
      expect(deferred).toMatchObject({ ran: true, outcome: 'busy' });
      expect(await readSearchRebuild(t.db)).toMatchObject({ filled: true });
      expect(await search(t.db, 'swapped swift')).toHaveLength(50);

      // Searches in a loop while the next run swaps (its fill done, its indexes built): each one finds all 50.
      let searching = true;
      const seen: number[] = [];
      const searches = (async () => {
        while (searching) {
          seen.push((await search(t.db, 'swapped swift')).length);
        }
      })();
      const swapped = await runSearchBulk(t.db, { thresholdEvents: 1 });
      await new Promise((r) => setTimeout(r, 100));
      searching = false;
      await searches;
      expect(swapped).toMatchObject({ ran: true, outcome: 'swapped', rowsCopied: 0 });
      expect(seen.length).toBeGreaterThan(1);
      expect(seen.filter((n) => n !== 50)).toEqual([]);
      expect(await search(t.db, 'swapped swift')).toHaveLength(50);
      expect(await mismatched(t.db)).toBe(0);
    } finally {
      await t.drop();
    }
  });

  it('resumes after a SIGKILL mid-fill from its cursor, blocking the incremental batches meanwhile; q= exact throughout', async () => {
    const { t, account } = await setup();
    try {
      await ingest(t.db, account, 'K', 'KILLED KESTREL', 60);
      const child = spawn(join(ROOT, 'node_modules', '.bin', 'node'), [join(ROOT, 'tests', 'helpers', 'search-bulk-child.ts')], {
        cwd: ROOT,
        env: { ...process.env, NODE_ENV: 'test', TZ: 'UTC', SEARCH_BULK_CHILD: JSON.stringify({ dbUrl: t.url, chunkRows: 10, pauseMs: 400 }) },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      // Killed once its first chunk has committed (the cursor is recorded), while it sits in a later chunk.
      for (let i = 0; i < 400 && !(await readSearchRebuild(t.db))?.after; i++) {
        await new Promise((r) => setTimeout(r, 20));
      }
      child.kill('SIGKILL');
      await exited;
      const left = await readSearchRebuild(t.db);
      expect(left).toMatchObject({ filled: false });
      expect(left?.after).not.toBeNull();
      const copiedBefore = Number((await sql<{ n: string }>`select count(*)::text as n from transaction_search_rebuild`.execute(t.db)).rows[0]!.n);
      expect(copiedBefore).toBeGreaterThan(0);
      expect(copiedBefore).toBeLessThan(60);
      await refreshSearchLagMetric(t.db);
      expect((await searchIndexBulkActive.get()).values[0]?.value).toBe(1);

      // The incremental step does not run while the rebuild is recorded; q= stays exact, new rows included.
      const position = await readSearchPosition(t.db);
      expect(await runSearchIndexBatch(t.db, { batchSize: 100 })).toMatchObject({ ran: false, bulkPending: true });
      expect(await readSearchPosition(t.db)).toEqual(position);
      await ingest(t.db, account, 'L', 'KILLED KESTREL LATER', 5);
      expect(await search(t.db, 'killed kestrel')).toHaveLength(65);

      // Resumed (the killed session's lock goes with its backend): from the cursor, not from the start.
      let r = await runSearchBulk(t.db, { thresholdEvents: 1, chunkRows: 10, logger: createLogger('events') });
      for (let i = 0; i < 50 && !r.ran; i++) {
        await new Promise((res) => setTimeout(res, 100));
        r = await runSearchBulk(t.db, { thresholdEvents: 1, chunkRows: 10, logger: createLogger('events') });
      }
      expect(r).toMatchObject({ ran: true, outcome: 'swapped', rowsCopied: 65 - copiedBefore });
      expect(logs.some((l) => l.includes('"search index bulk catch-up resumed"'))).toBe(true);
      expect(await readSearchRebuild(t.db)).toBeUndefined();
      await refreshSearchLagMetric(t.db);
      expect((await searchIndexBulkActive.get()).values[0]?.value).toBe(0);
      expect(await searchIndexes(t.db)).toEqual(INDEXES);
      expect(await search(t.db, 'killed kestrel')).toHaveLength(65);
      await catchUpSearch(t.db);
      expect(await mismatched(t.db)).toBe(0);
      expect(await search(t.db, 'killed kestrel')).toHaveLength(65);
    } finally {
      await t.drop();
    }
  });
});
