import pg from 'pg';
import { Kysely, PostgresDialect } from 'kysely';
import type { TestProject } from 'vitest/node';
import { migrateUp } from '../../src/storage/migrator.ts';
import { quoteIdent } from '../../src/storage/db.ts';
import { PG_ADMIN_URL, dbUrl } from './env.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    templateDb: string;
  }
}

/** Is the process that owns a leftover database still running? */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Migrates a template database once per test run (named after this process, so concurrent runs on
 * one machine never share or drop each other's); each integration test file then clones it
 * (`CREATE DATABASE … TEMPLATE`), which takes milliseconds and lets files run in parallel.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const template = `jpm_sync_tpl_${process.pid}_${project.name}`;
  const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
  await admin.connect();
  // Leftovers of crashed earlier runs (their owner process is gone): drop them.
  const stale = await admin.query<{ datname: string }>(
    "select datname from pg_database where datname ~ '^jpm_sync_(t|tpl)_[0-9]+_'",
  );
  for (const row of stale.rows) {
    const pid = Number(/^jpm_sync_(?:t|tpl)_(\d+)_/.exec(row.datname)?.[1]);
    if (pid !== process.pid && !alive(pid)) {
      await admin.query(`drop database if exists ${quoteIdent(row.datname)} with (force)`);
    }
  }
  await admin.query(`drop database if exists ${quoteIdent(template)} with (force)`);
  await admin.query(`create database ${quoteIdent(template)}`);
  await admin.end();
  const db = new Kysely<unknown>({
    dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: dbUrl(template), max: 1 }) }),
  });
  const result = await migrateUp(db);
  await db.destroy();
  if (result.error) {
    throw result.error instanceof Error ? result.error : new Error('migrating the test template failed');
  }
  project.provide('templateDb', template);
  return async () => {
    const c = new pg.Client({ connectionString: PG_ADMIN_URL });
    await c.connect();
    const mine = await c.query<{ datname: string }>(
      'select datname from pg_database where datname like $1 or datname = $2',
      [`jpm_sync_t_${process.pid}_%`, template],
    );
    for (const row of mine.rows) {
      await c.query(`drop database if exists ${quoteIdent(row.datname)} with (force)`);
    }
    await c.end();
  };
}
