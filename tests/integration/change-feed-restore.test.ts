import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { currentFeedCursor, readChanges, resetChangeFeed } from '../../src/events/change-feed.ts';
import { createDb, quoteIdent, type Database } from '../../src/storage/db.ts';
import { createMigrator } from '../../src/storage/migrator.ts';
import { createAccount, createTenancy } from '../factories/tenancy.ts';
import { ingestWire, wireTransaction } from '../factories/transactions.ts';
import { createTestDb, feedSettled, type TestDb } from '../helpers/db.ts';
import { PG_ADMIN_URL, dbUrl } from '../helpers/env.ts';
import { startService } from '../helpers/start-service.ts';
import { cliAgainst } from '../helpers/cli.ts';

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'jpm-sync-feed-restore-'));

/** How the feed answers `cursor`: `ok`, or the error's status and code. */
async function outcome(db: Database, cursor: string): Promise<string> {
  const err = await readChanges(db, { organizationId: null, cursor, limit: 10 }).then(
    () => undefined,
    (e: unknown) => e as { code?: string; httpStatus?: number },
  );
  return err === undefined ? 'ok' : `${err.httpStatus} ${err.code}`;
}

/** The message the feed answers `cursor` with. */
async function refusal(db: Database, cursor: string): Promise<string> {
  return readChanges(db, { organizationId: null, cursor, limit: 10 }).then(
    () => '',
    (e: unknown) => (e as Error).message,
  );
}

/** The cursor's fields with some replaced, encoded as the feed encodes them. */
function forge(cursor: string, fields: Record<string, unknown>): string {
  const parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as Record<string, unknown>;
  return Buffer.from(JSON.stringify({ ...parsed, ...fields }), 'utf8').toString('base64url');
}

describe('change feed after a database restore', () => {
  let t: TestDb;
  const restored: string[] = [];
  beforeAll(async () => {
    t = await createTestDb();
  });
  afterAll(async () => {
    await t.drop();
    const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
    await admin.connect();
    try {
      for (const name of restored) {
        await admin.query(`drop database if exists ${quoteIdent(name)} with (force)`);
      }
    } finally {
      await admin.end();
    }
    rmSync(dir, { recursive: true, force: true });
  });

  /** `pg_restore` of `file` into a new database of this cluster (a restore, the xid counter higher than the dump's). */
  async function restore(file: string): Promise<Database> {
    const name = `${t.name}_r${restored.length}`;
    restored.push(name);
    await run('createdb', ['--maintenance-db', PG_ADMIN_URL, name]);
    await run('pg_restore', ['--no-owner', '--dbname', dbUrl(name), file]);
    return createDb({ url: dbUrl(name), poolMax: 2 });
  }

  it('a reset after restoring an older dump never reissues an epoch that cursors from before the restore carry', async () => {
    const tenancy = await createTenancy(t.db);
    const account = await createAccount(t.db, tenancy);
    const file = join(dir, 'older.dump');
    await run('pg_dump', ['--format=custom', '--no-owner', '--file', file, t.url]);
    const ofTheDump = await currentFeedCursor(t.db);
    // After the dump was taken the live feed is reset.
    await resetChangeFeed(t.db);
    // The older dump is restored into a new database, whose feed the operator resets as the runbook says, and a
    // change is stored there.
    const db = await restore(file);
    try {
      await resetChangeFeed(db);
      await ingestWire(db, account, [
        wireTransaction({ transactionId: 'RESTORED-1', jpmAccountId: account.jpmAccountId }),
      ]);
      await feedSettled(db);
      // A consumer that resyncs from the start of the restored feed gets it.
      const fromStart = await readChanges(db, { organizationId: null, cursor: null, limit: 10 });
      expect(fromStart.events.map((e) => e.transaction?.jpm_transaction_id)).toEqual(['RESTORED-1']);
      // The last cursor a consumer got from the live database before the switch to the restored one: read there, it
      // would skip RESTORED-1. It is refused (never read on), with the resync recipe.
      const held = await currentFeedCursor(t.db);
      expect(await outcome(db, held)).toBe('400 invalid_cursor');
      expect(await refusal(db, held)).toMatch(
        /restored from a backup.*GET \/v1\/changes\/cursor.*GET \/v1\/transactions/,
      );
      // The dump's own epoch is one the restored feed had: 410, as after any reset.
      expect(await outcome(db, ofTheDump)).toBe('410 cursor_expired');
    } finally {
      await db.destroy();
    }
  });

  it('keeps the cursors of the counter epochs clients hold: the current one reads on, older ones get 410', async () => {
    const own = await createTestDb();
    try {
      // The feed as the releases before random epochs left it: reset twice, epoch 3.
      expect(
        (await createMigrator(own.db).migrateTo('20261208T060000000Z-account-customer-reference-index')).error,
      ).toBeUndefined();
      await sql`update change_feed_state set epoch = epoch + 2`.execute(own.db);
      const held = await currentFeedCursor(own.db);
      expect(JSON.parse(Buffer.from(held, 'base64url').toString('utf8'))).toMatchObject({ v: 1, e: 3 });
      expect((await createMigrator(own.db).migrateToLatest()).error).toBeUndefined();
      expect(await outcome(own.db, held)).toBe('ok');
      expect(await outcome(own.db, forge(held, { e: 2 }))).toBe('410 cursor_expired');
      expect(await outcome(own.db, forge(held, { e: 1 }))).toBe('410 cursor_expired');
      expect(await outcome(own.db, forge(held, { e: 4 }))).toBe('400 invalid_cursor');
      const epoch = await resetChangeFeed(own.db);
      expect(epoch).toBeGreaterThan(3);
      expect(Number.isSafeInteger(epoch)).toBe(true);
      expect(await outcome(own.db, held)).toBe('410 cursor_expired');
    } finally {
      await own.drop();
    }
  });

  it("stored xids ahead of the cluster's (a dump of a cluster further along): npm start refuses until `jpm-sync change-feed reset`", async () => {
    const own = await createTestDb();
    try {
      const tenancy = await createTenancy(own.db);
      const account = await createAccount(own.db, tenancy);
      // What pg_restore writes from a dump of a cluster whose xid counter was a million further: the events' xids and
      // every stored position as they were there.
      const next = (
        await sql<{ next: string }>`select pg_snapshot_xmax(pg_current_snapshot())::text as next`.execute(own.db)
      ).rows[0]!.next;
      const ahead = (BigInt(next) + 1_000_000n).toString();
      await sql`insert into change_events (xid, organization_id, account_id, entity_id, kind)
        values (${ahead}::xid8, ${tenancy.organizationId}, ${account.id}, gen_random_uuid(), 'added')`.execute(own.db);
      await sql`update webhook_producer_state set position_xid = ${ahead}::xid8, position_id = 1`.execute(own.db);
      await sql`update transaction_search_state set position_xid = ${ahead}::xid8, position_id = 1`.execute(own.db);

      const refused = await startService(own.url, { ROLES: 'api', PORT: '0' });
      expect(refused.started, refused.output).toBe(false);
      expect(refused.code, refused.output).toBe(3);
      expect(refused.output).toContain(`holds transaction ids up to ${ahead}`);
      expect(refused.output).toContain('jpm-sync change-feed reset --yes');
      const reset = await cliAgainst(own.url, ['change-feed', 'reset', '--yes']);
      expect(reset.code, reset.stderr).toBe(0);
      expect(reset.stdout).toMatch(/change feed reset: epoch 1 -> \d+/);
      expect(reset.stdout).toContain('stored transaction ids are behind the cluster: ok');

      // A change made now is read by a consumer starting from a fresh cursor, and by one starting from the beginning.
      const fresh = await currentFeedCursor(own.db);
      await ingestWire(own.db, account, [
        wireTransaction({ transactionId: 'AFTER-1', jpmAccountId: account.jpmAccountId }),
      ]);
      await feedSettled(own.db);
      for (const cursor of [fresh, null]) {
        const page = await readChanges(own.db, { organizationId: null, cursor, limit: 10 });
        expect(page.events.map((e) => e.transaction?.jpm_transaction_id)).toEqual(['AFTER-1']);
      }
      const started = await startService(own.url, { ROLES: 'api', PORT: '0' });
      expect(started.started, started.output).toBe(true);
    } finally {
      await own.drop();
    }
  });
});
