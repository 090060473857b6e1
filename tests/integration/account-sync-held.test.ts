import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  accountSyncHeldQuery,
  holdsAccountSync,
  lockSessionOf,
  tryLockAccountSync,
  unlockAccountSync,
} from '../../src/storage/advisory-locks.repo.ts';
import { createPool } from '../../src/storage/db.ts';
import { uuidv7 } from '../../src/shared/ids.ts';
import { createTestDb, type TestDb } from '../helpers/db.ts';

/**
 * The check a window's every write transaction makes (`WriteFence`, once a page): does the session that took the
 * account's sync lock still hold it. Asked on another connection of real Postgres, as a page's transaction asks it.
 */
describe("the account sync lock's held check", () => {
  let t: TestDb;
  beforeAll(async () => {
    t = await createTestDb();
  });
  afterAll(async () => {
    await t.drop();
  });

  it('is true for the session holding the lock, false for another account, another session start, or once released or ended', async () => {
    const pool = createPool({ url: t.url, poolMax: 1, applicationName: 'jpm-sync-locks' });
    const client = await pool.connect();
    try {
      const account = uuidv7();
      expect(await tryLockAccountSync(client, account)).toBe(true);
      const session = await lockSessionOf(client);
      expect(await holdsAccountSync(t.db, session, account)).toBe(true);
      expect(await holdsAccountSync(t.db, session, uuidv7())).toBe(false);
      // A later session given the same pid (pids are reused) is not the one that took the lock.
      expect(await holdsAccountSync(t.db, { ...session, startedAt: '2001-01-01T00:00:00Z' }, account)).toBe(false);
      expect(await unlockAccountSync(client, account)).toBe(true);
      expect(await holdsAccountSync(t.db, session, account)).toBe(false);
      expect(await tryLockAccountSync(client, account)).toBe(true);
      expect(await holdsAccountSync(t.db, session, account)).toBe(true);
      await sql`select pg_terminate_backend(${session.pid})`.execute(t.db);
      let held = true;
      for (const deadline = Date.now() + 10_000; held && Date.now() < deadline;) {
        held = await holdsAccountSync(t.db, session, account);
      }
      expect(held).toBe(false);
    } finally {
      client.release(true);
      await pool.end();
    }
  });

  it("reads the lock session's own activity, not every backend's (it runs on every page a window writes)", async () => {
    const session = { pid: 4242, startedAt: '2026-12-07T00:00:00Z' };
    const plan = await sql<{ 'QUERY PLAN': string }>`explain (verbose, costs off) ${accountSyncHeldQuery(
      session,
      uuidv7(),
    )}`.execute(t.db);
    const text = plan.rows.map((r) => r['QUERY PLAN']).join('\n');
    const activityScans = [...text.matchAll(/pg_stat_get_activity\(([^)]*)\)/g)].map((m) => m[1]);
    expect(activityScans.length, text).toBeGreaterThan(0);
    // pg_stat_activity is pg_stat_get_activity(NULL): every backend's row, built and read on each call.
    expect(
      activityScans.filter((arg) => arg !== '4242'),
      text,
    ).toEqual([]);
  });
});
