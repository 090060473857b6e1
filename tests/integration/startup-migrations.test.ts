import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { quoteIdent } from '../../src/storage/db.ts';
import { createTestDb } from '../helpers/db.ts';
import { PG_ADMIN_URL, dbUrl } from '../helpers/env.ts';
import { startService, type StartRun } from '../helpers/start-service.ts';

/** A database that exists but was never migrated: a release started before `npm run migrate`. */
const name = `jpm_sync_unmigrated_${randomBytes(5).toString('hex')}`;

async function admin(query: string): Promise<void> {
  const c = new pg.Client({ connectionString: PG_ADMIN_URL });
  await c.connect();
  try {
    await c.query(query);
  } finally {
    await c.end();
  }
}

beforeAll(async () => {
  await admin(`create database ${quoteIdent(name)}`);
});
afterAll(async () => {
  await admin(`drop database if exists ${quoteIdent(name)} with (force)`);
});

/** `npm start` (startService) on `databaseUrl`, by default the database never migrated. */
function start(env: Record<string, string>, databaseUrl = dbUrl(name)): Promise<StartRun> {
  return startService(databaseUrl, { PORT: '0', ...env });
}

describe('npm start on a database whose migrations have not run', () => {
  it('exits 3 before any role starts, saying to run the migrations (every role, the API alone too)', async () => {
    for (const roles of ['api,worker,scheduler', 'api']) {
      const run = await start({ ROLES: roles });
      expect(run.started, run.output).toBe(false);
      expect(run.output).not.toContain('api listening');
      expect(run.output).not.toContain('queue workers started');
      expect(run.code, run.output).toBe(3);
      expect(run.output).toContain('DATABASE_URL:');
      expect(run.output).toContain('npm run migrate');
      expect(run.output).not.toMatch(/\n\s+at /);
    }
  });

  it('starts on a database ahead of the release (a migration of a newer release applied: a rollback)', async () => {
    const t = await createTestDb();
    try {
      await sql`insert into kysely_migration (name, timestamp) values ('29991231T000000000Z-a-newer-release', now())`.execute(
        t.db,
      );
      const run = await start({ ROLES: 'api' }, t.url);
      expect(run.started, run.output).toBe(true);
    } finally {
      await t.drop();
    }
  });
});
