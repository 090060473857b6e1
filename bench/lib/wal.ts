/**
 * WAL written for one database, from the WAL itself: `pg_waldump` over an LSN range, counting the
 * records whose block references name the database's relations plus the commit records of those
 * transactions. The cluster-wide `pg_current_wal_lsn()` difference also counts whatever else the
 * machine's Postgres did meanwhile (other engineers' test databases are created by copying a
 * template: megabytes of WAL), so both are reported. Needs local access to the data directory; where
 * that is missing the per-database figure is null.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import pg from 'pg';
import { adminQuery, PG_ADMIN_URL } from './env.ts';

/**
 * Keeps the WAL from `now` on from being recycled until `release()`: a temporary physical replication
 * slot on a connection of its own (if this process dies, the connection ends and Postgres drops the
 * slot). Without it, a checkpoint during the run may recycle the first segments before pg_waldump
 * reads them when the rest of the machine writes a lot of WAL.
 */
export async function holdWal(): Promise<{ release(): Promise<void> }> {
  const c = new pg.Client({ connectionString: PG_ADMIN_URL, application_name: 'jpm-sync-bench-wal' });
  await c.connect();
  const slot = `jpm_sync_bench_${process.pid}`;
  try {
    await c.query('select pg_create_physical_replication_slot($1, true, true)', [slot]);
  } catch {
    await c.end();
    return { release: () => Promise.resolve() };
  }
  return {
    async release() {
      await c.query('select pg_drop_replication_slot($1)', [slot]).catch(() => undefined);
      await c.end();
    },
  };
}

async function waldump(): Promise<{ bin: string; walDir: string } | undefined> {
  const [row] = await adminQuery<{ dir: string; major: string }>(
    `select current_setting('data_directory') as dir, split_part(current_setting('server_version'), '.', 1) as major`,
  );
  if (!row) {
    return undefined;
  }
  const bin = [`/usr/lib/postgresql/${row.major}/bin/pg_waldump`, '/usr/bin/pg_waldump'].find((p) => existsSync(p));
  const walDir = join(row.dir, 'pg_wal');
  return bin && existsSync(walDir) ? { bin, walDir } : undefined;
}

export async function walBytesOfDatabase(database: string, from: string, to: string): Promise<{ bytes: number; records: number } | null> {
  const tool = await waldump().catch(() => undefined);
  const [db] = await adminQuery<{ oid: string }>('select oid::text as oid from pg_database where datname = $1', [database]);
  if (!tool || !db || from === to) {
    return tool && db ? { bytes: 0, records: 0 } : null;
  }
  // Read line by line: on a busy cluster (other databases writing during the run) the dump of a run's LSN
  // range is gigabytes of text, more than one string may hold (it ended the backfill benchmark with
  // `RangeError: Invalid string length` before its result was written).
  const ours = new Set<string>();
  const pending: { tx: string; len: number }[] = [];
  let bytes = 0;
  let records = 0;
  let lines = 0;
  const child = spawn(tool.bin, ['-p', tool.walDir, '-s', from, '-e', to], { stdio: ['ignore', 'pipe', 'ignore'] });
  const exited = new Promise<void>((resolve) => {
    child.once('close', () => resolve());
    child.once('error', () => resolve());
  });
  for await (const line of createInterface({ input: child.stdout, crlfDelay: Infinity })) {
    lines++;
    const m = /len \(rec\/tot\):\s*\d+\/\s*(\d+), tx:\s*(\d+)/.exec(line);
    if (!m) {
      continue;
    }
    const len = Number(m[1]);
    const tx = m[2]!;
    const rels = [...line.matchAll(/rel \d+\/(\d+)\/\d+/g)].map((r) => r[1]);
    if (rels.includes(db.oid)) {
      bytes += len;
      records++;
      if (tx !== '0') {
        ours.add(tx);
      }
    } else if (rels.length === 0 && tx !== '0') {
      pending.push({ tx, len });
    }
  }
  await exited;
  // pg_waldump exits non-zero when the last record is incomplete; what it printed before counts.
  if (lines === 0) {
    return null;
  }
  // Commit (and other relation-less) records of transactions that wrote to the database.
  for (const p of pending) {
    if (ours.has(p.tx)) {
      bytes += p.len;
      records++;
    }
  }
  return { bytes, records };
}
