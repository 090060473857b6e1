/**
 * The machine's own limit for comparison: `COPY … FROM STDIN` of the very rows the pipeline stored, in the
 * same database, right after the pipeline ran, into two tables:
 *  - indexed: the same shape as the real table (columns, defaults, checks, every index, the foreign keys);
 *  - bare: the same columns, defaults and checks with only the primary key and the J.P. Morgan identity key
 *    (what any store of these rows needs), no other index and no foreign key: the ingest ceiling.
 * And, for the index table in the README, the cost of each index (and of the foreign keys) alone: the bare
 * table plus that one index, over the first rows of the same file.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom, to as copyTo } from 'pg-copy-streams';
import { processCpuSeconds, round } from './env.ts';

export interface CopyMeasure {
  rows: number;
  bytes: number;
  seconds: number;
  rowsPerSecond: number;
  /** CPU of the backend that ran the COPY (user + system): what the rows cost the server, whatever else ran. */
  backendCpuSeconds: number;
  backendCpuMicrosecondsPerRow: number;
}

export interface CopyBaselines {
  indexed: CopyMeasure;
  bare: CopyMeasure;
}

async function timedCopy(c: pg.Client, file: string, target: string): Promise<CopyMeasure> {
  await c.query('checkpoint');
  const pid = (await c.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0]?.pid ?? 0;
  const cpu0 = processCpuSeconds(pid);
  const started = performance.now();
  const result = c.query(copyFrom(`copy ${target} from stdin`));
  await pipeline(createReadStream(file, { highWaterMark: 1 << 20 }), result);
  const seconds = (performance.now() - started) / 1000;
  const cpu = processCpuSeconds(pid) - cpu0;
  const rows = Number(result.rowCount ?? 0);
  return {
    rows,
    bytes: (await stat(file)).size,
    seconds: round(seconds, 2),
    rowsPerSecond: round(rows / seconds),
    backendCpuSeconds: round(cpu, 2),
    backendCpuMicrosecondsPerRow: round((cpu * 1e6) / (rows || 1), 1),
  };
}

async function foreignKeys(c: pg.Client, table: string): Promise<string[]> {
  const fks = await c.query<{ def: string }>(
    `
    select pg_get_constraintdef(oid) as def from pg_constraint where conrelid = $1::regclass and contype = 'f' order by conname`,
    [table],
  );
  return fks.rows.map((fk) => fk.def.replace(new RegExp(`REFERENCES ${table}\\(`), 'REFERENCES bench_copy_target('));
}

/** The real table's primary key columns, e.g. `id` or `transaction_id`. */
async function primaryKeyColumns(c: pg.Client, table: string): Promise<string> {
  const r = await c.query<{ def: string }>(
    `select pg_get_constraintdef(oid) as def from pg_constraint where conrelid = $1::regclass and contype = 'p'`,
    [table],
  );
  return /PRIMARY KEY \((.*)\)/.exec(r.rows[0]?.def ?? '')?.[1] ?? 'id';
}

/** The bare shape: columns, defaults, checks, primary key and (for transactions) the identity key. */
async function createBare(c: pg.Client, table: string): Promise<void> {
  await c.query('drop table if exists bench_copy_target');
  await c.query(`create table bench_copy_target (like ${table} including defaults including constraints)`);
  await c.query(`alter table bench_copy_target add primary key (${await primaryKeyColumns(c, table)})`);
  if (table === 'transactions') {
    // As the real key: partial, so rows without a J.P. Morgan id (statement files) are not held to it.
    await c.query(
      "create unique index on bench_copy_target (account_id, post_code, jpm_transaction_id) where jpm_transaction_id <> '' and char_length(jpm_transaction_id) <= 200",
    );
  }
}

export async function copyBaseline(url: string, dir: string, table = 'transactions'): Promise<CopyBaselines> {
  const file = join(dir, `${table}.copy`);
  const c = new pg.Client({ connectionString: url, application_name: 'jpm-sync-bench-copy' });
  await c.connect();
  try {
    await pipeline(c.query(copyTo(`copy ${table} to stdout`)), createWriteStream(file));
    await c.query('drop table if exists bench_copy_target');
    await c.query(`create table bench_copy_target (like ${table} including all)`);
    // The same foreign keys as the real table, so each row pays the same checks.
    for (const fk of await foreignKeys(c, table)) {
      await c.query(`alter table bench_copy_target add ${fk}`);
    }
    const indexed = await timedCopy(c, file, 'bench_copy_target');
    await createBare(c, table);
    const bare = await timedCopy(c, file, 'bench_copy_target');
    await c.query('drop table bench_copy_target');
    return { indexed, bare };
  } finally {
    await c.end();
    await rm(file, { force: true });
  }
}

/** Bytes of the copy target's indexes other than its primary key. */
async function indexBytes(c: pg.Client): Promise<number> {
  const r = await c.query<{ n: string }>(`
    select coalesce(sum(pg_relation_size(indexrelid)), 0)::text as n from pg_index where indrelid = 'bench_copy_target'::regclass and not indisprimary`);
  return Number(r.rows[0]?.n ?? 0);
}

export interface IndexCost {
  /** The index (or "foreign keys", or the raw record's compression), its definition, and the extra backend CPU µs per row it adds to COPY. */
  name: string;
  definition: string;
  rowsPerSecond: number;
  extraMicrosecondsPerRow: number;
  /** Its share of the bare table's time per row. */
  extraShareOfBare: number;
  sizeBytes: number;
  /** Each (with index − bare) difference of backend CPU per row of the REPEAT pairs, sorted. */
  pairsMicrosecondsPerRow: number[];
  /** The same pairs' differences of wall time per row (load-dependent). */
  pairsWallMicrosecondsPerRow: number[];
}

const REPEAT = 3;

/**
 * COPY of the first `rows` rows of the table into the bare table, then into the bare table plus each other
 * index (and plus the foreign keys) alone; the extra time per row is what that index costs ingestion
 * (median of three bare/with-index pairs).
 */
export async function indexCosts(
  url: string,
  dir: string,
  table: string,
  rows: number,
): Promise<{ rows: number; bare: CopyMeasure; costs: IndexCost[] }> {
  const file = join(dir, `${table}.index-costs.copy`);
  const c = new pg.Client({ connectionString: url, application_name: 'jpm-sync-bench-index-costs' });
  await c.connect();
  try {
    await pipeline(
      c.query(
        copyTo(
          `copy (select * from ${table} order by ${await primaryKeyColumns(c, table)} limit ${Math.floor(rows)}) to stdout`,
        ),
      ),
      createWriteStream(file),
    );
    const defs = await c.query<{ name: string; def: string }>(
      `
      select i.relname as name, pg_get_indexdef(x.indexrelid) as def from pg_index x join pg_class i on i.oid = x.indexrelid
      where x.indrelid = $1::regclass and not x.indisprimary order by i.relname`,
      [table],
    );
    const identity = table === 'transactions' ? /\(account_id, post_code, jpm_transaction_id\)/ : /^$/;
    const extra = defs.rows.filter((d) => !identity.test(d.def));
    await createBare(c, table);
    // Twice: the first run also warms the file into the page cache.
    await timedCopy(c, file, 'bench_copy_target');
    await createBare(c, table);
    const bare = await timedCopy(c, file, 'bench_copy_target');
    const bareBytes = await indexBytes(c);
    // Backend CPU per row, not wall time: on a shared machine the wall time of one COPY swings with the
    // load (a bare run took 99-318 µs a row in one session), its backend's CPU far less (89-94).
    const perRow = (m: CopyMeasure) => m.backendCpuMicrosecondsPerRow;
    const wallPerRow = (m: CopyMeasure) => (m.seconds * 1e6) / (m.rows || 1);
    const costs: IndexCost[] = [];
    const variants = [
      ...extra.map((d) => ({
        name: d.name,
        definition: d.def.replace(/^.* USING /, 'USING '),
        add: [d.def.replace(/ INDEX \S+ ON \S+ /, ' INDEX ON bench_copy_target ')],
      })),
    ];
    const fks = await foreignKeys(c, table);
    if (fks.length > 0) {
      variants.push({
        name: 'foreign keys',
        definition: fks.join('; '),
        add: fks.map((fk) => `alter table bench_copy_target add ${fk}`),
      });
    }
    // The bare table compresses jsonb with the server's default (pglz); the real table's raw record may not.
    const compression = await c.query<{ method: string }>(
      `
      select attcompression as method from pg_attribute where attrelid = $1::regclass and attname = 'raw' and attcompression <> ''`,
      [table],
    );
    for (const { method } of compression.rows) {
      const name = method === 'l' ? 'lz4' : 'pglz';
      variants.push({
        name: `raw compressed with ${name}`,
        definition: `ALTER COLUMN raw SET COMPRESSION ${name}`,
        add: [`alter table bench_copy_target alter column raw set compression ${name}`],
      });
    }
    // Each variant in pairs with a bare run right before it, REPEAT times; the median difference per row
    // (adjacent runs see the same load from the rest of the machine).
    const bareRun = async () => {
      await createBare(c, table);
      return timedCopy(c, file, 'bench_copy_target');
    };
    for (const v of variants) {
      const diffs: number[] = [];
      const wallDiffs: number[] = [];
      let m: CopyMeasure = bare;
      let size = 0;
      let bareUs = perRow(bare);
      for (let i = 0; i < REPEAT; i++) {
        const b = await bareRun();
        await createBare(c, table);
        for (const stmt of v.add) {
          await c.query(stmt);
        }
        m = await timedCopy(c, file, 'bench_copy_target');
        size = (await indexBytes(c)) - bareBytes;
        diffs.push(perRow(m) - perRow(b));
        wallDiffs.push(wallPerRow(m) - wallPerRow(b));
        bareUs = perRow(b);
      }
      const extra = diffs.sort((a, b) => a - b)[Math.floor(diffs.length / 2)]!;
      costs.push({
        name: v.name,
        definition: v.definition,
        rowsPerSecond: m.rowsPerSecond,
        extraMicrosecondsPerRow: round(extra, 1),
        extraShareOfBare: round(extra / bareUs, 3),
        sizeBytes: size,
        pairsMicrosecondsPerRow: diffs.map((d) => round(d, 1)),
        pairsWallMicrosecondsPerRow: wallDiffs.map((d) => round(d, 1)),
      });
    }
    await c.query('drop table bench_copy_target');
    return { rows: bare.rows, bare, costs };
  } finally {
    await c.end();
    await rm(file, { force: true });
  }
}
