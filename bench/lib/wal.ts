/**
 * WAL written for one database, from the WAL itself: `pg_waldump` over an LSN range, counting the
 * records whose block references name the database's relations plus the commit records of those
 * transactions. The cluster-wide `pg_current_wal_lsn()` difference also counts whatever else the
 * machine's Postgres did meanwhile (other engineers' test databases are created by copying a
 * template: megabytes of WAL), so both are reported. Needs local access to the data directory; where
 * that is missing the per-database figure is null.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
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

export async function walBytesOfDatabase(
  database: string,
  from: string,
  to: string,
): Promise<{ bytes: number; records: number } | null> {
  const tool = await waldump().catch(() => undefined);
  const [db] = await adminQuery<{ oid: string }>('select oid::text as oid from pg_database where datname = $1', [
    database,
  ]);
  if (!tool || !db || from === to) {
    return tool && db ? { bytes: 0, records: 0 } : null;
  }
  // Read line by line: on a busy cluster (other databases writing during the run) the dump of a run's LSN
  // range is gigabytes of text, more than one string may hold (it ended the backfill benchmark with
  // `RangeError: Invalid string length` before its result was written).
  // A transaction's commit or abort record comes after its data records: a relation-less record of a
  // transaction that touched the database so far counts at once; another's is held until its transaction's
  // commit or abort (then dropped), so only transactions still in flight are held.
  const ours = new Set<string>();
  const pending = new Map<string, { bytes: number; records: number }>();
  let bytes = 0;
  let records = 0;
  let lines = 0;
  let child;
  try {
    child = spawn(tool.bin, ['-p', tool.walDir, '-s', from, '-e', to], { stdio: ['ignore', 'pipe', 'ignore'] });
    // A failed spawn (not executable, no processes left) leaves a stdout that never ends: wait for the start.
    await once(child, 'spawn');
  } catch {
    child?.kill();
    return null;
  }
  const exited = (once(child, 'close') as Promise<[number | null, NodeJS.Signals | null]>).catch(
    (): [null, NodeJS.Signals] => [null, 'SIGABRT'],
  );
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
      const held = pending.get(tx);
      bytes += len + (held?.bytes ?? 0);
      records += 1 + (held?.records ?? 0);
      pending.delete(tx);
      if (tx !== '0') {
        ours.add(tx);
      }
    } else if (rels.length === 0 && tx !== '0') {
      if (ours.has(tx)) {
        bytes += len;
        records++;
      } else if (/desc: (COMMIT|ABORT)/.test(line)) {
        pending.delete(tx);
      } else {
        const held = pending.get(tx);
        pending.set(tx, { bytes: (held?.bytes ?? 0) + len, records: (held?.records ?? 0) + 1 });
      }
    }
  }
  const [, signal] = await exited;
  // pg_waldump exits non-zero when the last record is incomplete (the usual end of a live range); what it
  // printed before counts. Killed by a signal (or failed after its start), or nothing printed, the figure is unknown.
  if (lines === 0 || signal !== null) {
    return null;
  }
  return { bytes, records };
}
