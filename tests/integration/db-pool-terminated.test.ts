import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toProblem } from '../../src/http/errors.ts';
import { createDb, type Database } from '../../src/storage/db.ts';
import { createTestDb, type TestDb } from '../helpers/db.ts';

/**
 * A connection whose backend was terminated in the middle of a statement (an operator's pg_terminate_backend, a
 * failover, an idle-session kill) is gone: the pool must not hand it out again. Kysely releases a connection without
 * saying why, so a dead one went back to the pool and the very next statement (the next request, the next page of a
 * sync) failed with "Connection terminated unexpectedly" as well.
 */
let t: TestDb;
let db: Database;

beforeAll(async () => {
  t = await createTestDb();
  // One connection: the statement after the failure gets the same pool slot.
  db = createDb({ url: t.url, poolMax: 1 });
});

afterAll(async () => {
  await db?.destroy();
  await t?.drop();
});

describe('a connection terminated under a statement', () => {
  it('is not used again: the next statement runs on a new connection', async () => {
    await expect(sql`select pg_terminate_backend(pg_backend_pid())`.execute(db)).rejects.toThrow(/terminat/i);
    const next = await sql<{ one: number }>`select 1 as one`.execute(db);
    expect(next.rows).toEqual([{ one: 1 }]);
  });

  it('in a transaction too: the transaction fails, the next one runs', async () => {
    await expect(
      db.transaction().execute(async (trx) => {
        await sql`select 1`.execute(trx);
        await sql`select pg_terminate_backend(pg_backend_pid())`.execute(trx);
      }),
    ).rejects.toThrow();
    const next = await db.transaction().execute(async (trx) => sql<{ one: number }>`select 1 as one`.execute(trx));
    expect(next.rows).toEqual([{ one: 1 }]);
  });

  it('is a 503 database_unavailable to an API client (a state of the service to retry, not a 500 bug)', async () => {
    const ended: unknown = await sql`select pg_terminate_backend(pg_backend_pid())`
      .execute(db)
      .catch((e: unknown) => e);
    expect(toProblem(ended, 'req-1')).toMatchObject({
      internal: false,
      problem: { status: 503, code: 'database_unavailable' },
    });
    const away = createDb({ url: 'postgres://postgres@127.0.0.1:1/none', poolMax: 1 });
    try {
      const refused: unknown = await sql`select 1`.execute(away).catch((e: unknown) => e);
      expect(toProblem(refused, 'req-2')).toMatchObject({ problem: { status: 503, code: 'database_unavailable' } });
    } finally {
      await away.destroy();
    }
    // A statement's own error is not a lost session.
    const own: unknown = await sql`select 1/0`.execute(db).catch((e: unknown) => e);
    expect(toProblem(own, 'req-3').problem.code).not.toBe('database_unavailable');
  });
});
