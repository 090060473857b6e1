import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import pg from 'pg';
import { inject } from 'vitest';
import { createDb, quoteIdent, type Database } from '../../src/storage/db.ts';
import { PG_ADMIN_URL, dbUrl } from './env.ts';

export interface TestDb {
  name: string;
  url: string;
  db: Database;
  /** Closes the pool and drops the database. */
  drop(): Promise<void>;
}

async function admin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: PG_ADMIN_URL });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/** A fresh, migrated database for one test file, cloned from the template made in global setup. */
export async function createTestDb(): Promise<TestDb> {
  const template = inject('templateDb');
  // Named after the run's main process (the template's owner) so a crashed run's leftovers can be found.
  const owner = /^jpm_sync_tpl_(\d+)_/.exec(template)?.[1] ?? '0';
  const name = `jpm_sync_t_${owner}_${randomBytes(5).toString('hex')}`;
  // Cloning fails while anyone is connected to the template; retry briefly if a sibling file is cloning.
  for (let attempt = 0; ; attempt++) {
    try {
      await admin((c) => c.query(`create database ${quoteIdent(name)} template ${quoteIdent(template)}`));
      break;
    } catch (err) {
      if ((err as { code?: string }).code !== '55006' || attempt > 50) {
        throw err;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  const url = dbUrl(name);
  const db = createDb({ url, poolMax: 8 });
  return {
    name,
    url,
    db,
    async drop() {
      await db.destroy();
      await admin((c) => c.query(`drop database if exists ${quoteIdent(name)} with (force)`));
    },
  };
}

/** A Redis key prefix of its own for one test file (BullMQ prefix with a Cluster hash tag). */
export function testQueuePrefix(): string {
  return `{jpm-sync-test-${randomBytes(4).toString('hex')}}`;
}

/**
 * Waits until every transaction of the Postgres cluster that began before this call has ended: the commit-order feeds
 * (the change feed, the milestone feed) show an event only once no older transaction is open, and other test files
 * share the cluster, so a test reads a feed right after its own writes only after this.
 */
export async function feedSettled(db: Database, timeoutMs = 30_000): Promise<void> {
  const { rows } = await sql<{ xid: string }>`select pg_current_xact_id()::text as xid`.execute(db);
  const xid = rows[0]!.xid;
  const until = Date.now() + timeoutMs;
  for (;;) {
    const r = await sql<{ settled: boolean }>`
      select pg_snapshot_xmin(pg_current_snapshot()) > ${xid}::xid8 as settled`.execute(db);
    if (r.rows[0]?.settled) {
      return;
    }
    if (Date.now() > until) {
      throw new Error(`feedSettled: a transaction older than ${xid} is still open after ${timeoutMs} ms`);
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
