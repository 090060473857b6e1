import { RawNode, sql, type KyselyPlugin, type QueryId } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMigrator, migrateDown, migrateUp, migrationStatus } from '../../src/storage/migrator.ts';
import { checkedInDbTypes, generateDbTypes } from '../../scripts/gen-db-types.ts';
import { createTestDb, type TestDb } from '../helpers/db.ts';
import { PG_ADMIN_URL } from '../helpers/env.ts';

describe('migrations', () => {
  let t: TestDb;
  beforeAll(async () => {
    t = await createTestDb();
  });
  afterAll(async () => {
    await t.drop();
  });

  it('are all applied in the template and revert and re-apply cleanly', async () => {
    const status = await migrationStatus(t.db);
    expect(status.length).toBeGreaterThan(0);
    expect(status.every((m) => m.executedAt)).toBe(true);
    const down = await migrateDown(t.db, true);
    expect(down.error).toBeUndefined();
    const tables = await sql<{
      n: string;
    }>`select count(*)::text as n from information_schema.tables where table_schema = 'public' and table_name not like 'kysely_%'`.execute(
      t.db,
    );
    expect(tables.rows[0]?.n).toBe('0');
    const up = await migrateUp(t.db);
    expect(up.error).toBeUndefined();
    expect((await migrationStatus(t.db)).every((m) => m.executedAt)).toBe(true);
  });

  it('run a migration without a transaction again after it stopped half way', async () => {
    // The reference indexes' migration is built CONCURRENTLY, outside any transaction. As a run stopped during its
    // second build leaves it: the first new index built, the second INVALID (an interrupted concurrent build), the
    // old ones still there, the migration not recorded.
    const before = '20261206T074000000Z-api-key-change-notify';
    expect((await createMigrator(t.db).migrateTo(before)).error).toBeUndefined();
    await sql`create index transactions_by_bank_reference_idx on transactions (bank_reference, organization_id, booking_date, id)
      where bank_reference <> '' and char_length(bank_reference) <= 200`.execute(t.db);
    await sql`create index transactions_by_org_customer_reference_idx on transactions (id)`.execute(t.db);
    await sql`update pg_index set indisvalid = false where indexrelid = 'transactions_by_org_customer_reference_idx'::regclass`.execute(
      t.db,
    );
    const up = await migrateUp(t.db);
    expect(up.error).toBeUndefined();
    const indexes = await sql<{ name: string; def: string; valid: boolean }>`
      select c.relname as name, pg_get_indexdef(x.indexrelid) as def, x.indisvalid as valid
      from pg_index x join pg_class c on c.oid = x.indexrelid
      where x.indrelid = 'transactions'::regclass and c.relname like 'transactions_by_%reference%' order by c.relname`.execute(
      t.db,
    );
    expect(indexes.rows.map((r) => [r.name, /\((.*)\) WHERE/.exec(r.def)?.[1], r.valid])).toEqual([
      ['transactions_by_bank_reference_idx', 'bank_reference, organization_id, booking_date, id', true],
      ['transactions_by_customer_reference_idx', 'customer_reference, booking_date, id', true],
      ['transactions_by_org_customer_reference_idx', 'organization_id, customer_reference, booking_date, id', true],
    ]);
    expect((await migrationStatus(t.db)).every((m) => m.executedAt)).toBe(true);
  });

  it('validate the foreign key while a writer holds transactions; dropping the old keys gives up after the lock timeout and runs on a later try', async () => {
    const migrator = createMigrator(t.db);
    expect(
      (await migrator.migrateTo('20261206T104000000Z-transactions-account-org-foreign-key-not-valid')).error,
    ).toBeUndefined();
    const writer = new pg.Client({ connectionString: t.url });
    await writer.connect();
    try {
      // What every writing transaction holds: the key's check (SHARE UPDATE EXCLUSIVE) goes on beside it.
      await writer.query('begin');
      await writer.query('lock table transactions in row exclusive mode');
      const validate = await migrator.migrateUp();
      expect(validate.error).toBeUndefined();
      expect(validate.results?.map((r) => [r.migrationName, r.status])).toEqual([
        ['20261206T104100000Z-transactions-account-org-foreign-key-validate', 'Success'],
      ]);
      // Dropping a key needs ACCESS EXCLUSIVE: it fails after its lock timeout instead of queueing (and stopping every
      // read and write queued behind it), and stays pending.
      const drop = await migrator.migrateUp();
      expect(String(drop.error)).toMatch(/lock timeout/);
      expect((await migrationStatus(t.db)).find((m) => !m.executedAt)?.name).toBe(
        '20261206T104200000Z-transactions-drop-single-column-foreign-keys',
      );
    } finally {
      await writer.query('rollback');
      await writer.end();
    }
    expect((await migrateUp(t.db)).error).toBeUndefined();
    const keys = await sql<{
      name: string;
      valid: boolean;
    }>`select conname as name, convalidated as valid from pg_constraint
      where conrelid = 'transactions'::regclass and contype = 'f' and confrelid <> 'transactions'::regclass order by conname`.execute(
      t.db,
    );
    expect(keys.rows).toEqual([{ name: 'transactions_account_organization_fkey', valid: true }]);
  });

  it('revert the old single-column keys NOT VALID, then validate them beside a writer; a revert stopped half way completes', async () => {
    const drop = '20261206T104200000Z-transactions-drop-single-column-foreign-keys';
    const validate = '20261206T104100000Z-transactions-account-org-foreign-key-validate';
    const migrator = createMigrator(t.db);
    const keys = sql<{ name: string; valid: boolean }>`select conname as name, convalidated as valid from pg_constraint
      where conrelid = 'transactions'::regclass and contype = 'f' and confrelid <> 'transactions'::regclass order by conname`;
    const addNotValid = sql`alter table transactions add constraint transactions_account_id_fkey
      foreign key (account_id) references bank_accounts (id) not valid`;
    const allKeysValid = [
      { name: 'transactions_account_id_fkey', valid: true },
      { name: 'transactions_account_organization_fkey', valid: true },
      { name: 'transactions_organization_id_fkey', valid: true },
    ];
    // As a revert stopped after adding one key back leaves it. Once the other one is added (NOT VALID), a writing
    // transaction starts at once and stays open through the validations: the add's lock is not held through them.
    expect((await migrator.migrateTo(drop)).error).toBeUndefined();
    await addNotValid.execute(t.db);
    const early = new pg.Client({ connectionString: t.url });
    await early.connect();
    const adds = new WeakSet<QueryId>();
    const writerAfterAdd: KyselyPlugin = {
      transformQuery({ node, queryId }) {
        if (RawNode.is(node) && /add constraint/.test(node.sqlFragments.join('?'))) {
          adds.add(queryId);
        }
        return node;
      },
      async transformResult({ queryId, result }) {
        if (adds.has(queryId)) {
          await early.query('begin');
          await early.query('lock table transactions in row exclusive mode nowait');
        }
        return result;
      },
    };
    try {
      const down = await createMigrator(t.db.withPlugin(writerAfterAdd)).migrateTo(validate);
      expect(down.error).toBeUndefined();
      expect(
        (
          await early.query<{ n: string }>(`select count(*)::text as n from pg_locks
        where locktype = 'relation' and relation = 'transactions'::regclass and pid = pg_backend_pid()`)
        ).rows[0]?.n,
      ).toBe('1');
    } finally {
      await early.query('rollback');
      await early.end();
    }
    expect((await keys.execute(t.db)).rows).toEqual(allKeysValid);
    // As one stopped before validating leaves it: the scans go on beside a writing transaction (a key added valid
    // in one statement needs SHARE ROW EXCLUSIVE through its scan, and would give up after the lock timeout).
    expect((await migrator.migrateTo(drop)).error).toBeUndefined();
    await addNotValid.execute(t.db);
    await sql`alter table transactions add constraint transactions_organization_id_fkey foreign key (organization_id) references organizations (id) not valid`.execute(
      t.db,
    );
    const writer = new pg.Client({ connectionString: t.url });
    await writer.connect();
    try {
      await writer.query('begin');
      await writer.query('lock table transactions in row exclusive mode');
      const down = await migrator.migrateTo(validate);
      expect(down.error).toBeUndefined();
      expect(down.results?.map((r) => [r.migrationName, r.direction, r.status])).toEqual([[drop, 'Down', 'Success']]);
    } finally {
      await writer.query('rollback');
      await writer.end();
    }
    expect((await keys.execute(t.db)).rows).toEqual(allKeysValid);
    expect((await migrateUp(t.db)).error).toBeUndefined();
    expect((await keys.execute(t.db)).rows).toEqual([{ name: 'transactions_account_organization_fkey', valid: true }]);
  });

  it('revert the aliases table: gives up after the lock timeout while a page of ingestion holds it, and runs on a later try', async () => {
    const aliases = '20261206T150000000Z-transaction-aliases';
    const migrator = createMigrator(t.db);
    expect((await migrator.migrateTo(aliases)).error).toBeUndefined();
    const page = new pg.Client({ connectionString: t.url });
    await page.connect();
    try {
      // What a page that looked up or wrote aliases holds until it commits.
      await page.query('begin');
      await page.query('lock table transaction_aliases in row exclusive mode');
      const drop = await migrator.migrateDown();
      expect(String(drop.error)).toMatch(/lock timeout/);
      expect((await migrationStatus(t.db)).find((m) => m.name === aliases)?.executedAt).toBeTruthy();
    } finally {
      await page.query('rollback');
      await page.end();
    }
    const down = await migrator.migrateDown();
    expect(down.results?.map((r) => [r.migrationName, r.direction, r.status])).toEqual([[aliases, 'Down', 'Success']]);
    expect((await migrateUp(t.db)).error).toBeUndefined();
    expect((await migrationStatus(t.db)).every((m) => m.executedAt)).toBe(true);
  });

  it('match the checked-in db.types.ts (run `npm run db:types` after changing a migration)', async () => {
    expect(await generateDbTypes(PG_ADMIN_URL)).toBe(checkedInDbTypes());
  });
});
