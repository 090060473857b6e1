/**
 * The machine's own limit for comparison: `COPY … FROM STDIN` of the very rows the pipeline stored,
 * into a table of the same shape (columns, defaults, checks, every index, the foreign keys), in the
 * same database, right after the pipeline ran.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom, to as copyTo } from 'pg-copy-streams';
import { round } from './env.ts';

export interface CopyMeasure {
  rows: number;
  bytes: number;
  seconds: number;
  rowsPerSecond: number;
}

export async function copyBaseline(url: string, dir: string, table = 'transactions'): Promise<CopyMeasure> {
  const file = join(dir, `${table}.copy`);
  const c = new pg.Client({ connectionString: url, application_name: 'jpm-sync-bench-copy' });
  await c.connect();
  try {
    await pipeline(c.query(copyTo(`copy ${table} to stdout`)), createWriteStream(file));
    const bytes = (await stat(file)).size;
    await c.query(`drop table if exists bench_copy_target`);
    await c.query(`create table bench_copy_target (like ${table} including all)`);
    // The same foreign keys as the real table, so each row pays the same checks.
    const fks = await c.query<{ def: string }>(`
      select pg_get_constraintdef(oid) as def from pg_constraint where conrelid = $1::regclass and contype = 'f'`, [table]);
    for (const fk of fks.rows) {
      await c.query(`alter table bench_copy_target add ${fk.def.replace(new RegExp(`REFERENCES ${table}\\(`), 'REFERENCES bench_copy_target(')}`);
    }
    await c.query('checkpoint');
    const started = performance.now();
    const result = c.query(copyFrom('copy bench_copy_target from stdin'));
    await pipeline(createReadStream(file, { highWaterMark: 1 << 20 }), result);
    const seconds = (performance.now() - started) / 1000;
    const rows = Number(result.rowCount ?? 0);
    await c.query('drop table bench_copy_target');
    return { rows, bytes, seconds: round(seconds, 2), rowsPerSecond: round(rows / seconds) };
  } finally {
    await c.end();
    await rm(file, { force: true });
  }
}
