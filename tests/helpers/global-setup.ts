import pg from 'pg';
import { Kysely, PostgresDialect } from 'kysely';
import { migrateUp } from '../../src/storage/migrator.ts';
import { quoteIdent } from '../../src/storage/db.ts';
import { PG_ADMIN_URL, TEMPLATE_DB, dbUrl } from './env.ts';

/**
 * Migrates a template database once per test run; each integration test file then clones it
 * (`CREATE DATABASE … TEMPLATE`), which takes milliseconds and lets files run in parallel.
 */
export default async function setup(): Promise<() => Promise<void>> {
  const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
  await admin.connect();
  // Leftovers of a crashed earlier run: drop old per-file databases.
  const stale = await admin.query<{ datname: string }>("select datname from pg_database where datname like 'jpm_sync_t_%'");
  for (const row of stale.rows) {
    await admin.query(`drop database if exists ${quoteIdent(row.datname)} with (force)`);
  }
  await admin.query(`drop database if exists ${quoteIdent(TEMPLATE_DB)} with (force)`);
  await admin.query(`create database ${quoteIdent(TEMPLATE_DB)}`);
  await admin.end();
  const db = new Kysely<unknown>({ dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: dbUrl(TEMPLATE_DB), max: 1 }) }) });
  const result = await migrateUp(db);
  await db.destroy();
  if (result.error) {
    throw result.error instanceof Error ? result.error : new Error('migrating the test template failed');
  }
  return async () => {
    const c = new pg.Client({ connectionString: PG_ADMIN_URL });
    await c.connect();
    await c.query(`drop database if exists ${quoteIdent(TEMPLATE_DB)} with (force)`);
    await c.end();
  };
}
