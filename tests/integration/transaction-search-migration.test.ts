import { Kysely, PostgresDialect, RawNode, sql, type KyselyPlugin, type PostgresPool, type QueryId } from 'kysely';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import type { Database, DB } from '../../src/storage/db.ts';
import { runSearchIndexBatch } from '../../src/events/search-index.ts';
import { createMigrator, migrationStatus } from '../../src/storage/migrator.ts';
import { readSearchPosition } from '../../src/storage/search.repo.ts';
import { comparePositions } from '../../src/events/change-feed.ts';
import { purgeChangeEventsThrough, type FeedPosition } from '../../src/storage/change-feed.repo.ts';
import { FILL_BATCH_ROWS } from '../../migrations/20261206T070000000Z-transaction-search.ts';
import { listTransactions } from '../../src/storage/read.repo.ts';
import { createAccount, createTenancy } from '../factories/tenancy.ts';
import { ingestWire, wireTransaction } from '../factories/transactions.ts';
import { createTestDb, type TestDb } from '../helpers/db.ts';
import { catchUpSearch } from '../helpers/search-step.ts';
import { up as createAliasesTable } from '../../migrations/20261206T150000000Z-transaction-aliases.ts';

/**
 * The migration that creates the search table (20261206T070000000Z) on a database that already holds
 * transactions, with ingestion running: every row is found by `q=` afterwards, and the later search-table
 * migrations (booking date, btrees) rewrite nothing it made.
 */
const BEFORE_SEARCH = '20261206T065000000Z-passed-reports-index';
const SEARCH = '20261206T070000000Z-transaction-search';
const ORDER_INDEXES = '20261206T071500000Z-transaction-search-order-indexes';

async function migrateTo(db: Database, name: string): Promise<void> {
  const result = await createMigrator(db).migrateTo(name);
  expect(result.error).toBeUndefined();
}

/**
 * A fresh database at the migration before the search table, with one account. The writers are this release's
 * ingestion, which also reads `transaction_aliases` (a later migration, independent of the search table): that
 * table is made ahead, as its own migration makes it (which then finds it there).
 */
async function beforeSearchTable(): Promise<{
  t: TestDb;
  account: { id: string; organizationId: string; jpmAccountId: string };
}> {
  const t = await createTestDb();
  await migrateTo(t.db, BEFORE_SEARCH);
  await createAliasesTable(t.db);
  const account = await createAccount(t.db, await createTenancy(t.db));
  return { t, account };
}

async function idOf(db: Database, accountId: string, jpmTransactionId: string): Promise<string> {
  const r = await db
    .selectFrom('transactions')
    .select('id')
    .where('account_id', '=', accountId)
    .where('jpm_transaction_id', '=', jpmTransactionId)
    .executeTakeFirstOrThrow();
  return r.id;
}

async function search(db: Database, text: string): Promise<string[]> {
  return (await listTransactions(db, { text }, { sort: '-bookingDate', limit: 100 })).map((r) => r.id);
}

/**
 * A database handle whose transaction stops before its COMMIT until `release()`: `atCommit` resolves when a
 * COMMIT is waiting (its statements have all run, its xid is taken, its rows are not visible to others yet).
 */
function heldCommitDb(url: string): { db: Database; atCommit: Promise<void>; release: () => void } {
  const pool = new pg.Pool({ connectionString: url, max: 1 });
  // pool.end() resolves before its client's socket has closed; the test database's drop (with force) can then end that
  // session, and a pool without an error listener makes that an unhandled error of the run.
  pool.on('error', () => undefined);
  let reached!: () => void;
  let release!: () => void;
  const atCommit = new Promise<void>((r) => {
    reached = r;
  });
  const released = new Promise<void>((r) => {
    release = r;
  });
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

function isFillBatch(node: RawNode): boolean {
  return /from transactions\b[\s\S]*\binsert into transaction_search_fill\b/.test(node.sqlFragments.join('?'));
}

/** Runs `after` once the first statement that fills the search table from `transactions` has finished. */
function afterFill(after: () => Promise<void>): { plugin: KyselyPlugin; ran: () => boolean } {
  const fills = new WeakSet<QueryId>();
  let ran = false;
  const plugin: KyselyPlugin = {
    transformQuery({ node, queryId }) {
      if (RawNode.is(node) && isFillBatch(node)) {
        fills.add(queryId);
      }
      return node;
    },
    async transformResult({ queryId, result }) {
      if (fills.has(queryId) && !ran) {
        await after();
        ran = true;
      }
      return result;
    },
  };
  return { plugin, ran: () => ran };
}

/**
 * `count` copies of the row `jpmTransactionId` (random ids, so rows written later land on both sides of the id the
 * first fill batch reached), to give the fill more than one batch.
 */
async function insertCopies(db: Database, jpmTransactionId: string, count: number): Promise<void> {
  const columns = (
    await sql<{ name: string }>`select column_name as name from information_schema.columns
    where table_schema = current_schema() and table_name = 'transactions' and is_generated = 'NEVER' order by ordinal_position`.execute(
      db,
    )
  ).rows.map((r) => r.name);
  const copy = columns.map((c) =>
    c === 'id' ? sql`gen_random_uuid()` : c === 'jpm_transaction_id' ? sql`jpm_transaction_id || '-' || g` : sql.ref(c),
  );
  await sql`insert into transactions (${sql.join(columns.map((c) => sql.ref(c)))})
    select ${sql.join(copy)} from transactions cross join generate_series(1, ${count}) g
    where jpm_transaction_id = ${jpmTransactionId}`.execute(db);
}

/**
 * A change-feed reset as the releases before random epochs (migration 20261209T010000000Z) made it: every event
 * deleted, the webhook producer and the purge horizon moved to `horizon`, the epoch counter up by one.
 */
async function resetFeedBeforeEpochs(db: Database, horizon: FeedPosition): Promise<void> {
  await sql`delete from change_events`.execute(db);
  await sql`update webhook_producer_state
      set position_xid = ${horizon.xid}::xid8, position_id = ${horizon.id}::bigint, updated_at = now()`.execute(db);
  await sql`update change_feed_state set epoch = epoch + 1, purged_through_xid = ${horizon.xid}::xid8,
      purged_through_id = ${horizon.id}::bigint, reset_at = now() where id = 1`.execute(db);
}

/**
 * Waits (30 s at most) until every change event is readable by the feed's readers: its writing transaction is older
 * than every transaction still running in the Postgres cluster, which other test files share (one of theirs open
 * for a moment holds the events back).
 */
async function eventsReadable(db: Database): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const r = await sql<{ held: boolean }>`
      select exists (select 1 from change_events e where e.xid >= pg_snapshot_xmin(pg_current_snapshot())) as held`.execute(
      db,
    );
    if (!r.rows[0]!.held) {
      return;
    }
    if (Date.now() > deadline) {
      throw new Error('change events still held back by an older transaction of the cluster after 30 s');
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

describe('the search table migration', () => {
  it('loses no row of a writer that started before it and commits between its statements (right after the fill)', async () => {
    const { t, account } = await beforeSearchTable();
    const writer = heldCommitDb(t.url);
    try {
      const wire = (transactionId: string, shortDescription: string) =>
        wireTransaction({ transactionId, jpmAccountId: account.jpmAccountId, shortDescription });
      await ingestWire(t.db, account, [wire('E-1', 'EARLIER EGRET TRADING')]);
      // The writer's page is written (rows and change events, its xid below the migration's) and waits to commit.
      const writing = ingestWire(writer.db, account, [wire('W-1', 'WRITER WREN SUPPLY')]);
      await writer.atCommit;
      // The fill's snapshot does not see the writer's rows; the writer commits before the migration's next statement.
      const fill = afterFill(async () => {
        writer.release();
        await writing;
      });
      const result = await createMigrator(t.db.withPlugin(fill.plugin)).migrateToLatest();
      expect(result.error).toBeUndefined();
      expect(fill.ran()).toBe(true);
      const earlier = await idOf(t.db, account.id, 'E-1');
      const wren = await idOf(t.db, account.id, 'W-1');
      // In the search table, or changed after its position: q= finds it, before the step has run and after.
      expect(await search(t.db, 'egret')).toEqual([earlier]);
      expect(await search(t.db, 'wren')).toEqual([wren]);
      await catchUpSearch(t.db);
      expect(await search(t.db, 'wren')).toEqual([wren]);
      const rows = await t.db
        .selectFrom('transaction_search')
        .select(['transaction_id', 'description', 'booking_date'])
        .orderBy('description')
        .execute();
      expect(rows.map((r) => r.description)).toEqual(['EARLIER EGRET TRADING', 'WRITER WREN SUPPLY']);
    } finally {
      await writer.db.destroy();
      await t.drop();
    }
  });

  it('fills in batches that commit one by one; a run stopped after a batch completes on the next, exact for every row written meanwhile', async () => {
    const { t, account } = await beforeSearchTable();
    try {
      const wire = (transactionId: string, shortDescription: string) =>
        wireTransaction({ transactionId, jpmAccountId: account.jpmAccountId, shortDescription });
      await ingestWire(t.db, account, [wire('A-0', 'ALPHA ANTELOPE'), wire('A-1', 'ALPHA AVOCET')]);
      // More rows than one batch: copies of A-1.
      await insertCopies(t.db, 'A-1', FILL_BATCH_ROWS);
      const total = FILL_BATCH_ROWS + 2;
      let seen: { filled: string; xids: string } | undefined;
      const stopped = afterFill(async () => {
        // The first batch has committed (another session sees it) and no session holds a transaction id between
        // batches, so change-feed readers are not held back by the fill.
        seen = (
          await sql<{
            filled: string;
            xids: string;
          }>`select (select count(*) from transaction_search_fill)::text as filled,
          (select count(*) from pg_stat_activity where datname = current_database() and backend_type = 'client backend'
            and backend_xid is not null)::text as xids`.execute(t.db)
        ).rows[0];
        // Writers commit between two batches: a new row and a change to a row the batch copied.
        await ingestWire(t.db, account, [
          wire('W-1', 'WRITER WREN SUPPLY'),
          wire('A-0', 'ALPHA ANTELOPE RENAMED RAVEN'),
        ]);
        throw new Error('stopped after the first batch');
      });
      const first = await createMigrator(t.db.withPlugin(stopped.plugin)).migrateToLatest();
      expect(String(first.error)).toMatch(/stopped after the first batch/);
      expect(seen).toEqual({ filled: String(FILL_BATCH_ROWS), xids: '0' });
      expect((await migrationStatus(t.db)).find((m) => m.name === SEARCH)?.executedAt).toBeUndefined();
      // Half filled, the search table is not there: q= fails rather than miss rows, and the step stores no position
      // past the writers' events.
      const position = await readSearchPosition(t.db);
      await expect(search(t.db, 'wren')).rejects.toThrow(/transaction_search/);
      // The step fails once it reads the writers' events (not before: it reads only those of ended transactions).
      await eventsReadable(t.db);
      await expect(runSearchIndexBatch(t.db, { batchSize: 500 })).rejects.toThrow(/transaction_search/);
      expect(await readSearchPosition(t.db)).toEqual(position);
      await ingestWire(t.db, account, [wire('W-2', 'WHILE STOPPED WIGEON')]);

      const second = await createMigrator(t.db).migrateToLatest();
      expect(second.error).toBeUndefined();
      // The position recorded before the first batch is kept: every row is in the search table or changed after it.
      expect(await readSearchPosition(t.db)).toEqual(position);
      const missing = sql<{ n: string }>`
        select count(*)::text as n from transactions t
        where not exists (select 1 from transaction_search s where s.transaction_id = t.id
            and (s.organization_id, s.booking_date, s.description) = (t.organization_id, t.booking_date, t.description))
          and not exists (select 1 from change_events e where e.entity = 'transaction' and e.entity_id = t.id
            and (e.xid, e.id) > (select p.position_xid, p.position_id from transaction_search_state p))`;
      expect((await missing.execute(t.db)).rows[0]!.n).toBe('0');
      expect((await sql<{ n: string }>`select count(*)::text as n from transactions`.execute(t.db)).rows[0]!.n).toBe(
        String(total + 2),
      );
      const ids = {
        w1: await idOf(t.db, account.id, 'W-1'),
        w2: await idOf(t.db, account.id, 'W-2'),
        a0: await idOf(t.db, account.id, 'A-0'),
      };
      for (const read of ['before the step', 'after it']) {
        expect([read, await search(t.db, 'wren')]).toEqual([read, [ids.w1]]);
        expect([read, await search(t.db, 'wigeon')]).toEqual([read, [ids.w2]]);
        expect([read, await search(t.db, 'raven')]).toEqual([read, [ids.a0]]);
        expect([read, await search(t.db, 'antelope')]).toEqual([read, [ids.a0]]);
        await catchUpSearch(t.db);
      }
      const mismatched = await sql<{ n: string }>`
        select count(*)::text as n from transactions t full join transaction_search s on s.transaction_id = t.id
        where s.transaction_id is null or t.id is null or s.booking_date <> t.booking_date or s.description <> t.description
          or s.organization_id <> t.organization_id`.execute(t.db);
      expect(mismatched.rows[0]!.n).toBe('0');
    } finally {
      await t.drop();
    }
  });

  it('starts over on a run after the change feed was purged past the position while it was stopped: exact for rows changed meanwhile', async () => {
    const { t, account } = await beforeSearchTable();
    try {
      const wire = (transactionId: string, shortDescription: string) =>
        wireTransaction({ transactionId, jpmAccountId: account.jpmAccountId, shortDescription });
      await ingestWire(t.db, account, [wire('P-0', 'PLOVER PIPIT'), wire('P-1', 'PLOVER PUFFIN')]);
      await insertCopies(t.db, 'P-1', FILL_BATCH_ROWS);
      const first = await createMigrator(
        t.db.withPlugin(afterFill(() => Promise.reject(new Error('stopped after the first batch'))).plugin),
      ).migrateToLatest();
      expect(String(first.error)).toMatch(/stopped after the first batch/);
      const position = await readSearchPosition(t.db);
      // While stopped, the release still running changes a row the first batch copied (P-0 or P-1, whichever is
      // below the id it reached) and stores a new one; then its purge, by age alone, deletes their events.
      const copied = await sql<{ jpm: string; id: string }>`select t.jpm_transaction_id as jpm, t.id from transactions t
        join transaction_search_fill f on f.transaction_id = t.id where t.jpm_transaction_id in ('P-0', 'P-1') order by 1 limit 1`.execute(
        t.db,
      );
      const changed = copied.rows[0]!;
      await ingestWire(t.db, account, [wire(changed.jpm, 'RENAMED ROOK'), wire('S-1', 'STORED SHRIKE')]);
      const newest = (
        await sql<FeedPosition>`select e.xid::text as xid, e.id::text as id from change_events e order by e.xid desc, e.id desc limit 1`.execute(
          t.db,
        )
      ).rows[0]!;
      expect(comparePositions(newest, position)).toBeGreaterThan(0);
      // The purge deletes old events, every one below the oldest transaction running in the cluster; a parallel test
      // file's open transaction could hold that below the newest event here, and the run's new position with it.
      await eventsReadable(t.db);
      await purgeChangeEventsThrough(t.db, newest);

      const second = await createMigrator(t.db).migrateToLatest();
      expect(second.error).toBeUndefined();
      const restarted = await readSearchPosition(t.db);
      const shrike = await idOf(t.db, account.id, 'S-1');
      for (const read of ['before the step', 'after it']) {
        expect([read, await search(t.db, 'rook')]).toEqual([read, [changed.id]]);
        expect([read, await search(t.db, 'shrike')]).toEqual([read, [shrike]]);
        await catchUpSearch(t.db);
      }
      const mismatched = await sql<{ n: string }>`
        select count(*)::text as n from transactions t full join transaction_search s on s.transaction_id = t.id
        where s.transaction_id is null or t.id is null or s.booking_date <> t.booking_date or s.description <> t.description
          or s.organization_id <> t.organization_id`.execute(t.db);
      expect(mismatched.rows[0]!.n).toBe('0');
      // The fill started over from a new position, recorded before its first batch.
      expect(comparePositions(restarted, position)).toBeGreaterThan(0);
    } finally {
      await t.drop();
    }
  });

  it('starts over on a run after the change feed was reset while it was stopped (its horizon not past the position)', async () => {
    const { t, account } = await beforeSearchTable();
    try {
      const wire = (transactionId: string, shortDescription: string) =>
        wireTransaction({ transactionId, jpmAccountId: account.jpmAccountId, shortDescription });
      await ingestWire(t.db, account, [wire('R-0', 'RESET REDPOLL'), wire('R-1', 'RESET RUFF')]);
      // The first batch copies both rows; the run stops before its next statement.
      const first = await createMigrator(
        t.db.withPlugin(afterFill(() => Promise.reject(new Error('stopped after the first batch'))).plugin),
      ).migrateToLatest();
      expect(String(first.error)).toMatch(/stopped after the first batch/);
      const position = await readSearchPosition(t.db);
      await ingestWire(t.db, account, [wire('R-0', 'RESET RENAMED ROBIN')]);
      // The new position (the cluster's oldest running transaction, less one) passes the old one only once every
      // transaction older than this write has ended: a parallel test file's may still be open.
      await eventsReadable(t.db);
      // A feed reset (after a restore) as the release of this schema makes it: every event deleted, the next counter
      // epoch (random epochs come with a later migration), the horizon anywhere (here the position).
      await resetFeedBeforeEpochs(t.db, position);

      const second = await createMigrator(t.db).migrateToLatest();
      expect(second.error).toBeUndefined();
      const robin = await idOf(t.db, account.id, 'R-0');
      expect(await search(t.db, 'robin')).toEqual([robin]);
      expect(await search(t.db, 'redpoll')).toEqual([]);
      expect(comparePositions(await readSearchPosition(t.db), position)).toBeGreaterThan(0);
    } finally {
      await t.drop();
    }
  });

  it('creates the table with its booking dates and indexes; the later search-table migrations then rewrite nothing', async () => {
    const { t, account } = await beforeSearchTable();
    try {
      await ingestWire(
        t.db,
        account,
        Array.from({ length: 30 }, (_, i) =>
          wireTransaction({
            transactionId: `F-${i}`,
            jpmAccountId: account.jpmAccountId,
            asOfDate: `2026-11-${String(2 + (i % 5)).padStart(2, '0')}`,
            shortDescription: `FILLED FINCH ${i}`,
          }),
        ),
      );
      await migrateTo(t.db, SEARCH);
      const indexes = async (table: string) =>
        (
          await sql<{ indexname: string }>`
        select indexname from pg_indexes where schemaname = 'public' and tablename = ${table} order by indexname`.execute(
            t.db,
          )
        ).rows.map((r) => r.indexname);
      expect(await indexes('transaction_search')).toEqual([
        'transaction_search_booking_idx',
        'transaction_search_description_trgm_idx',
        'transaction_search_org_booking_idx',
        'transaction_search_pkey',
      ]);
      expect(await indexes('transactions')).not.toContain('transactions_description_trgm_idx');
      const mismatched = sql<{ n: string }>`
        select count(*)::text as n from transactions t full join transaction_search s on s.transaction_id = t.id
        where s.transaction_id is null or t.id is null or s.booking_date <> t.booking_date or s.description <> t.description`;
      expect((await mismatched.execute(t.db)).rows[0]!.n).toBe('0');
      // Where every row and index lives: an UPDATE moves a row (new ctid), a rewrite or rebuild makes new files.
      const layout = sql<{ what: string }>`
        select 'row ' || transaction_id || ' ' || ctid::text as what from transaction_search
        union all select 'file ' || relname || ' ' || pg_relation_filenode(oid)::text from pg_class
        where relname like 'transaction_search%' and relkind in ('r', 'i')
        order by 1`;
      const before = (await layout.execute(t.db)).rows;
      await migrateTo(t.db, ORDER_INDEXES);
      expect((await layout.execute(t.db)).rows).toEqual(before);
      expect(await search(t.db, 'filled finch')).toHaveLength(30);
    } finally {
      await t.drop();
    }
  });

  it('still brings a table made by the earlier version (no booking date, no btrees) up to date', async () => {
    const { t, account } = await beforeSearchTable();
    try {
      await ingestWire(
        t.db,
        account,
        Array.from({ length: 10 }, (_, i) =>
          wireTransaction({
            transactionId: `O-${i}`,
            jpmAccountId: account.jpmAccountId,
            asOfDate: `2026-11-${String(2 + (i % 5)).padStart(2, '0')}`,
            shortDescription: `OLDER OSPREY ${i}`,
          }),
        ),
      );
      await migrateTo(t.db, SEARCH);
      // What the earlier version left: the table without the column (its btrees go with it).
      await sql`alter table transaction_search drop column booking_date`.execute(t.db);
      const result = await createMigrator(t.db).migrateToLatest();
      expect(result.error).toBeUndefined();
      const column = await sql<{ attnotnull: boolean }>`
        select attnotnull from pg_attribute where attrelid = 'transaction_search'::regclass and attname = 'booking_date' and not attisdropped`.execute(
        t.db,
      );
      expect(column.rows).toEqual([{ attnotnull: true }]);
      const mismatched = await sql<{ n: string }>`
        select count(*)::text as n from transactions t full join transaction_search s on s.transaction_id = t.id
        where s.transaction_id is null or t.id is null or s.booking_date <> t.booking_date`.execute(t.db);
      expect(mismatched.rows[0]!.n).toBe('0');
      const btrees = await sql<{ indexname: string }>`
        select indexname from pg_indexes where tablename = 'transaction_search' and indexname like '%booking_idx' order by indexname`.execute(
        t.db,
      );
      expect(btrees.rows.map((r) => r.indexname)).toEqual([
        'transaction_search_booking_idx',
        'transaction_search_org_booking_idx',
      ]);
    } finally {
      await t.drop();
    }
  });
});
