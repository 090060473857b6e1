import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { currentFeedCursor, readChanges } from '../../src/events/change-feed.ts';
import { createDb, quoteIdent, type Database } from '../../src/storage/db.ts';
import { createAccount, createTenancy } from '../factories/tenancy.ts';
import { ingestWire, wireTransaction } from '../factories/transactions.ts';
import { createTestDb, feedSettled, type TestDb } from '../helpers/db.ts';
import { PG_ADMIN_URL, dbUrl } from '../helpers/env.ts';
import { startService } from '../helpers/start-service.ts';
import { cliAgainst } from '../helpers/cli.ts';

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'jpm-sync-feed-identity-'));
/** A role of this run without pg_control_system() (cluster-wide: dropped after the file). */
const ROLE = `jpm_sync_feed_identity_${process.pid}`;

/** How the feed answers `cursor`: the transactions of its events, or the error's status and code. */
async function outcome(db: Database, cursor: string): Promise<string> {
  return readChanges(db, { organizationId: null, cursor, limit: 10 }).then(
    (page) => `ok ${page.events.map((e) => e.transaction?.jpm_transaction_id).join(',')}`,
    (e: unknown) => `${(e as { httpStatus?: number }).httpStatus} ${(e as { code?: string }).code}`,
  );
}

async function recordedTimeline(db: Database): Promise<string | null> {
  const { rows } = await sql<{ timeline: string | null }>`
    select database_timeline::text as timeline from change_feed_state`.execute(db);
  return rows[0]!.timeline;
}

async function admin(query: string): Promise<void> {
  const c = new pg.Client({ connectionString: PG_ADMIN_URL });
  await c.connect();
  try {
    await c.query(query);
  } finally {
    await c.end();
  }
}

describe("change feed: the database it was recorded on (restores and failovers the xid check can't see)", () => {
  let t: TestDb;
  const restored: string[] = [];
  beforeAll(async () => {
    t = await createTestDb();
  });
  afterAll(async () => {
    await t.drop();
    for (const name of restored) {
      await admin(`drop database if exists ${quoteIdent(name)} with (force)`);
    }
    await admin(`drop role if exists ${quoteIdent(ROLE)}`);
    rmSync(dir, { recursive: true, force: true });
  });

  it('a database cloned from the migrated template starts, and its first start records it', async () => {
    const before = await cliAgainst(t.url, ['change-feed', 'status']);
    expect(before.code, before.stderr).toBe(0);
    expect(before.stdout).toContain('not recorded yet (the next start records it)');
    const started = await startService(t.url, { ROLES: 'api', PORT: '0' });
    expect(started.started, started.output).toBe(true);
    expect(started.output).toContain("change feed's database recorded");
    const status = await cliAgainst(t.url, ['change-feed', 'status']);
    expect(status.code, status.stderr).toBe(0);
    const oid = (
      await sql<{ oid: string }>`select oid::text from pg_database where datname = current_database()`.execute(t.db)
    ).rows[0]!.oid;
    expect(status.stdout).toMatch(
      new RegExp(`database: system identifier -?\\d+, database oid ${oid}, timeline 1, recorded \\d{4}-`),
    );
    // A second start compares and starts: same database.
    const again = await startService(t.url, { ROLES: 'api', PORT: '0' });
    expect(again.started, again.output).toBe(true);
    expect(again.output).not.toContain("change feed's database recorded");
  });

  it('a dump restored into a new database of this cluster (its counter further along): npm start refuses until `jpm-sync change-feed reset`', async () => {
    const own = await createTestDb();
    try {
      const tenancy = await createTenancy(own.db);
      const account = await createAccount(own.db, tenancy);
      expect((await startService(own.url, { ROLES: 'api', PORT: '0' })).started).toBe(true);
      const file = join(dir, 'backup.dump');
      await run('pg_dump', ['--format=custom', '--no-owner', '--file', file, own.url]);
      // After the backup a change is handed out: the consumer applies it and holds a cursor past it.
      const cursor = await currentFeedCursor(own.db);
      await ingestWire(own.db, account, [
        wireTransaction({ transactionId: 'LOST-1', jpmAccountId: account.jpmAccountId }),
      ]);
      await feedSettled(own.db);
      const page = await readChanges(own.db, { organizationId: null, cursor, limit: 10 });
      expect(page.events.map((e) => e.transaction?.jpm_transaction_id)).toEqual(['LOST-1']);
      const held = page.nextCursor;

      // The backup is restored into a new database: no stored id is ahead of the cluster, LOST-1 is gone.
      const name = `${own.name}_r`;
      restored.push(name);
      await run('createdb', ['--maintenance-db', PG_ADMIN_URL, name]);
      await run('pg_restore', ['--no-owner', '--dbname', dbUrl(name), file]);
      const db = createDb({ url: dbUrl(name), poolMax: 2 });
      try {
        // Read there, the held cursor would go on as if LOST-1 were still the ledger's truth.
        expect(await outcome(db, held)).toBe('ok ');
        const refused = await startService(dbUrl(name), { ROLES: 'api', PORT: '0' });
        expect(refused.started, refused.output).toBe(false);
        expect(refused.code, refused.output).toBe(3);
        expect(refused.output).toContain('not the database the change feed was recorded on');
        expect(refused.output).toContain('run `jpm-sync change-feed reset --yes`');
        const status = await cliAgainst(dbUrl(name), ['change-feed', 'status']);
        expect(status.code, status.stdout).toBe(1);
        expect(status.stdout).toContain('NEEDS A DECISION');

        const reset = await cliAgainst(dbUrl(name), ['change-feed', 'reset', '--yes']);
        expect(reset.code, reset.stderr).toBe(0);
        expect(reset.stdout).not.toContain('NEEDS');
        const started = await startService(dbUrl(name), { ROLES: 'api', PORT: '0' });
        expect(started.started, started.output).toBe(true);
        // The consumer's cursor (of the epoch before the reset) is refused with the resync recipe.
        expect(await outcome(db, held)).toBe('410 cursor_expired');
      } finally {
        await db.destroy();
      }
    } finally {
      await own.drop();
    }
  });

  it('another WAL timeline (a promotion or a point-in-time recovery): refused with both fixes; `confirm` keeps every cursor', async () => {
    const own = await createTestDb();
    try {
      const tenancy = await createTenancy(own.db);
      const account = await createAccount(own.db, tenancy);
      expect((await startService(own.url, { ROLES: 'api', PORT: '0' })).started).toBe(true);
      const cursor = await currentFeedCursor(own.db);
      // The feed as recorded before a promotion: on the timeline before this one's.
      await sql`update change_feed_state set database_timeline = database_timeline + 1`.execute(own.db);
      const { rows } = await sql<{ recorded: string }>`
        select database_timeline::text as recorded from change_feed_state`.execute(own.db);
      const recorded = rows[0]!.recorded;

      const refused = await startService(own.url, { ROLES: 'api', PORT: '0' });
      expect(refused.started, refused.output).toBe(false);
      expect(refused.code, refused.output).toBe(3);
      expect(refused.output).toContain(`on WAL timeline 1, the change feed was recorded on timeline ${recorded}`);
      expect(refused.output).toContain('`jpm-sync change-feed reset --yes`');
      expect(refused.output).toContain('`jpm-sync change-feed confirm --yes`');

      const unconfirmed = await cliAgainst(own.url, ['change-feed', 'confirm']);
      expect(unconfirmed.code).toBe(2);
      expect(unconfirmed.stderr).toContain('with --yes');
      const confirmed = await cliAgainst(own.url, ['change-feed', 'confirm', '--yes']);
      expect(confirmed.code, confirmed.stderr).toBe(0);
      expect(confirmed.stdout).toContain("change feed's database confirmed without a reset");
      expect(confirmed.stdout).not.toContain('NEEDS');
      const started = await startService(own.url, { ROLES: 'api', PORT: '0' });
      expect(started.started, started.output).toBe(true);

      // No reset: the cursor taken before reads on and gets the change made after.
      await ingestWire(own.db, account, [
        wireTransaction({ transactionId: 'KEPT-1', jpmAccountId: account.jpmAccountId }),
      ]);
      await feedSettled(own.db);
      expect(await outcome(own.db, cursor)).toBe('ok KEPT-1');
    } finally {
      await own.drop();
    }
  });

  it('`confirm` refuses while stored ids are ahead of the cluster (that restore needs the reset)', async () => {
    const own = await createTestDb();
    try {
      const tenancy = await createTenancy(own.db);
      const account = await createAccount(own.db, tenancy);
      await sql`insert into change_events (xid, organization_id, account_id, entity_id, kind)
        values ((pg_snapshot_xmax(pg_current_snapshot())::text::numeric + 1000000)::text::xid8,
          ${tenancy.organizationId}, ${account.id}, gen_random_uuid(), 'added')`.execute(own.db);
      const confirmed = await cliAgainst(own.url, ['change-feed', 'confirm', '--yes']);
      expect(confirmed.code, confirmed.stdout).toBe(1);
      expect(confirmed.stderr).toContain('needs `jpm-sync change-feed reset --yes`; nothing confirmed');
      expect(await recordedTimeline(own.db)).toBeNull();
    } finally {
      await own.drop();
    }
  });

  it('a role that may not call pg_control_system() starts, warned, and a recreated database is still caught by its oid', async () => {
    const own = await createTestDb();
    try {
      await admin(`create role ${quoteIdent(ROLE)} login`);
      await sql`revoke execute on function pg_control_system() from public`.execute(own.db);
      await sql`grant all on all tables in schema public to ${sql.id(ROLE)}`.execute(own.db);
      await sql`grant all on all sequences in schema public to ${sql.id(ROLE)}`.execute(own.db);
      const u = new URL(own.url);
      u.username = ROLE;
      const status = await cliAgainst(u.toString(), ['change-feed', 'status']);
      expect(status.code, status.stderr).toBe(0);
      expect(status.stdout).toContain('system identifier unreadable');
      expect(status.stdout).toContain('pg_control_system() is not executable by this role');
      const started = await startService(u.toString(), { ROLES: 'api', PORT: '0' });
      expect(started.started, started.output).toBe(true);
      expect(started.output).toContain('pg_control_system() is not executable by the database role');
      // Recorded without it; the database's oid then differs (a recreated database): refused.
      const reset = await cliAgainst(u.toString(), ['change-feed', 'reset', '--yes']);
      expect(reset.code, reset.stderr).toBe(0);
      await sql`update change_feed_state set database_oid = database_oid + 1`.execute(own.db);
      const after = await cliAgainst(u.toString(), ['change-feed', 'status']);
      expect(after.code, after.stdout).toBe(1);
      expect(after.stdout).toContain(
        'NEEDS A DECISION: the database is not the database the change feed was recorded on',
      );
    } finally {
      await own.drop();
      await admin(`drop owned by ${quoteIdent(ROLE)}`).catch(() => undefined);
    }
  });
});
