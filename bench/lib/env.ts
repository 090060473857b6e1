/**
 * Shared plumbing of the benchmarks: where Postgres and Redis are, the machine description that goes
 * into every result, databases (`jpm_sync_bench_*`) and Redis prefixes of their own that are always
 * cleaned up, CPU accounting from /proc, and the result files.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import pg from 'pg';
import { createDb, quoteIdent, type Database } from '../../src/storage/db.ts';
import { migrateUp } from '../../src/storage/migrator.ts';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const RESULTS_DIR = join(ROOT, 'bench', 'results');
export const NODE = process.execPath;

/** Postgres superuser URL (the database part is replaced per benchmark). */
export const PG_ADMIN_URL = process.env.BENCH_DATABASE_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
export const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
/** The application_name of the search step's own pool in the benchmark worker, so its backends' CPU is told apart. */
export const SEARCH_STEP_APPLICATION_NAME = 'jpm-sync-bench-search-step';
/** Every simulated ledger and every synthetic row comes from this seed: the same run, every time. */
export const SEED = 'jpm-sync-bench-1';

export function dbUrl(name: string): string {
  const u = new URL(PG_ADMIN_URL);
  u.pathname = `/${name}`;
  return u.toString();
}

export async function adminQuery<T extends pg.QueryResultRow = pg.QueryResultRow>(
  text: string,
  values: unknown[] = [],
): Promise<T[]> {
  const c = new pg.Client({ connectionString: PG_ADMIN_URL });
  await c.connect();
  try {
    return (await c.query<T>(text, values)).rows;
  } finally {
    await c.end();
  }
}

export interface BenchDb {
  name: string;
  url: string;
  db: Database;
  /** The application_name of `db`'s connections (the benchmark's own queries, not the measured pipeline's). */
  applicationName: string;
  drop(): Promise<void>;
}

const liveDbs = new Set<string>();

/** A fresh, migrated database `jpm_sync_bench_<label>_<pid>`; dropped by `drop()` or at exit. */
export async function createBenchDb(label: string, poolMax = 10): Promise<BenchDb> {
  const name = `jpm_sync_bench_${label}_${process.pid}`;
  await adminQuery(`drop database if exists ${quoteIdent(name)} with (force)`);
  await adminQuery(`create database ${quoteIdent(name)}`);
  liveDbs.add(name);
  const url = dbUrl(name);
  const applicationName = `jpm-sync-bench-${label}`;
  const db = createDb({ url, poolMax, applicationName });
  const result = await migrateUp(db);
  if (result.error) {
    throw result.error instanceof Error ? result.error : new Error('migration failed');
  }
  let dropped = false;
  return {
    name,
    url,
    db,
    applicationName,
    async drop() {
      if (dropped) {
        return;
      }
      if (process.env.BENCH_KEEP) {
        // Investigation only: keep the database (drop it by hand afterwards).
        console.log(`  kept database ${name}`);
        await db.destroy();
        liveDbs.delete(name);
        dropped = true;
        return;
      }
      dropped = true;
      await db.destroy();
      await adminQuery(`drop database if exists ${quoteIdent(name)} with (force)`);
      liveDbs.delete(name);
    },
  };
}

/** Drops what a crashed or interrupted run of this process left (called from the runner's exit path). */
export async function dropLeftoverDbs(): Promise<void> {
  for (const name of liveDbs) {
    await adminQuery(`drop database if exists ${quoteIdent(name)} with (force)`).catch(() => undefined);
  }
  liveDbs.clear();
}

/** A BullMQ prefix of its own (with a Cluster hash tag), as the service's QUEUE_PREFIX. */
export function benchPrefix(label: string): string {
  return `{jpm-sync-bench-${label}-${process.pid}}`;
}

/** Deletes every key under `prefix`. Returns how many keys there were. */
export async function deletePrefix(redis: Redis, prefix: string): Promise<number> {
  let cursor = '0';
  let n = 0;
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) {
      n += keys.length;
      await redis.del(...keys);
    }
  } while (cursor !== '0');
  return n;
}

export function newRedis(): Redis {
  return new Redis(REDIS_URL, { maxRetriesPerRequest: 3, lazyConnect: false });
}

function firstLine(cmd: string, args: string[]): string {
  try {
    return (
      execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
        .split('\n')[0]
        ?.trim() ?? ''
    );
  } catch {
    return 'unknown';
  }
}

export interface Machine {
  nproc: number;
  cpuModel: string;
  ramGiB: number;
  postgres: string;
  redis: string;
  node: string;
  kernel: string;
}

export async function machine(): Promise<Machine> {
  const [pgRow] = await adminQuery<{ v: string }>(`select current_setting('server_version') as v`);
  const redis = newRedis();
  let redisVersion: string;
  try {
    redisVersion = /redis_version:(\S+)/.exec(await redis.info('server'))?.[1] ?? 'unknown';
  } finally {
    redis.disconnect();
  }
  return {
    nproc: Number(firstLine('nproc', [])) || os.availableParallelism(),
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    ramGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    postgres: pgRow?.v ?? 'unknown',
    redis: redisVersion,
    node: process.version,
    kernel: os.release(),
  };
}

export function loadAverage(): [number, number, number] {
  const [a = 0, b = 0, c = 0] = os.loadavg();
  return [round(a, 2), round(b, 2), round(c, 2)];
}

export function round(n: number, digits = 0): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

/** CPU seconds (user + system) a process has used so far, from /proc/<pid>/stat. */
export function processCpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may contain spaces) start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    return ticks / CLOCK_TICKS;
  } catch {
    return 0;
  }
}

/**
 * The code a benchmark runs: the commit, with `-dirty` when tracked files outside bench/results differ from it (the
 * result files a run writes do not count). Call it when the benchmark starts.
 */
export function commitOf(): string {
  try {
    const git = (args: string[]) => execFileSync('git', args, { cwd: ROOT, encoding: 'utf8' }).trim();
    const hash = git(['rev-parse', '--short', 'HEAD']);
    const changed = git(['status', '--porcelain', '--untracked-files=no', '--', '.', ':(exclude)bench/results']);
    return changed ? `${hash}-dirty` : hash;
  } catch {
    return 'unknown';
  }
}

/** processCpuSeconds of a process that must still be running: a dead pid throws instead of reading as 0. */
export function liveProcessCpuSeconds(pid: number): number {
  if (pid <= 0 || !existsSync(`/proc/${pid}/stat`)) {
    throw new Error(`process ${pid} is not running: its CPU time cannot be read`);
  }
  return processCpuSeconds(pid);
}

const CLOCK_TICKS = Number(firstLine('getconf', ['CLK_TCK'])) || 100;

/** Machine-wide busy and total CPU seconds (all cores), from /proc/stat. */
export function machineCpuSeconds(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = v;
  const busy = user + nice + system + irq + softirq + steal;
  return { busy: busy / CLOCK_TICKS, total: (busy + idle + iowait) / CLOCK_TICKS };
}

/** CPU seconds used so far by each Postgres backend of one database (only those of `applicationName` when given), by pid. */
export async function postgresCpu(database: string, applicationName?: string): Promise<Map<number, number>> {
  const rows = await adminQuery<{ pid: number }>(
    'select pid from pg_stat_activity where datname = $1 and ($2::text is null or application_name = $2)',
    [database, applicationName ?? null],
  );
  return new Map(rows.map((r) => [r.pid, processCpuSeconds(r.pid)]));
}

/**
 * CPU seconds the database's backends used between two snapshots: backends alive at the end count
 * from the first snapshot (or from their start); a backend that exited in between is not counted,
 * so this is a lower bound.
 */
export function postgresCpuBetween(before: Map<number, number>, after: Map<number, number>): number {
  let total = 0;
  for (const [pid, cpu] of after) {
    total += cpu - (before.get(pid) ?? 0);
  }
  return total;
}

/** /proc/<pid>/status VmRSS and VmHWM in MB (10^6 bytes; undefined once the process is gone). */
export function memoryOf(pid: number): { rssMB: number; hwmMB: number } | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0);
    return { rssMB: (kb('VmRSS') * 1024) / 1e6, hwmMB: (kb('VmHWM') * 1024) / 1e6 };
  } catch {
    return undefined;
  }
}

export interface Target {
  name: string;
  /** The measured value. */
  value: number;
  op: '>=' | '<=' | '==' | '<';
  target: number;
  unit?: string;
  met: boolean;
}

export function target(name: string, value: number, op: Target['op'], goal: number, unit?: string): Target {
  const met = op === '>=' ? value >= goal : op === '<=' ? value <= goal : op === '<' ? value < goal : value === goal;
  return { name, value, op, target: goal, ...(unit ? { unit } : {}), met };
}

export interface BenchResult {
  name: string;
  title: string;
  date: string;
  machine: Machine;
  /** Load average (1, 5, 15 min) at the start and the end: other work on the machine skews absolute figures. */
  loadAverage: { start: [number, number, number]; end: [number, number, number] };
  parameters: Record<string, unknown>;
  figures: Record<string, unknown>;
  targets: Target[];
  notes: string[];
  passed: boolean;
}

export async function writeResult(r: BenchResult): Promise<string> {
  await mkdir(RESULTS_DIR, { recursive: true });
  const file = join(RESULTS_DIR, `${r.name}.json`);
  await writeFile(file, `${JSON.stringify(r, null, 2)}\n`);
  return file;
}

export function printResult(r: BenchResult): void {
  const lines = [
    `\n== ${r.name}: ${r.title} ==`,
    `load average ${r.loadAverage.start.join(' ')} -> ${r.loadAverage.end.join(' ')}`,
  ];
  for (const [k, v] of Object.entries(r.figures)) {
    if (Array.isArray(v) && v.length > 12) {
      continue; // curves stay in the result file
    }
    lines.push(`  ${k}: ${JSON.stringify(v)}`);
  }
  for (const t of r.targets) {
    lines.push(
      `  [${t.met ? 'MET ' : 'MISS'}] ${t.name}: ${t.value}${t.unit ? ` ${t.unit}` : ''} (target ${t.op} ${t.target})`,
    );
  }
  for (const n of r.notes) {
    lines.push(`  note: ${n}`);
  }
  console.log(lines.join('\n'));
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Scale factor for quick runs: `--scale 0.1` or BENCH_SCALE=0.1 (default 1 ≈ a million transactions). */
export function scaleFrom(argv: readonly string[]): number {
  const i = argv.indexOf('--scale');
  const raw = i >= 0 ? argv[i + 1] : process.env.BENCH_SCALE;
  const n = raw === undefined ? 1 : Number(raw);
  if (!Number.isFinite(n) || n <= 0 || n > 10) {
    throw new Error(`--scale must be a number in (0, 10], got ${raw}`);
  }
  return n;
}

/** Rows inserted, updated and deleted per table so far (`pg_stat_user_tables`), to take deltas around a run. */
export async function tableStats(url: string): Promise<Map<string, { ins: number; upd: number; del: number }>> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const r = await c.query<{ relname: string; n_tup_ins: string; n_tup_upd: string; n_tup_del: string }>(
      'select relname, n_tup_ins, n_tup_upd, n_tup_del from pg_stat_user_tables',
    );
    return new Map(
      r.rows.map((x) => [x.relname, { ins: Number(x.n_tup_ins), upd: Number(x.n_tup_upd), del: Number(x.n_tup_del) }]),
    );
  } finally {
    await c.end();
  }
}

/** What changed per table between two `tableStats` readings (tables with no change left out). */
export function tableStatsDelta(
  before: ReadonlyMap<string, { ins: number; upd: number; del: number }>,
  after: ReadonlyMap<string, { ins: number; upd: number; del: number }>,
): Record<string, { ins: number; upd: number; del: number }> {
  const delta: Record<string, { ins: number; upd: number; del: number }> = {};
  for (const [table, a] of after) {
    const b = before.get(table) ?? { ins: 0, upd: 0, del: 0 };
    const d = { ins: a.ins - b.ins, upd: a.upd - b.upd, del: a.del - b.del };
    if (d.ins || d.upd || d.del) {
      delta[table] = d;
    }
  }
  return delta;
}
