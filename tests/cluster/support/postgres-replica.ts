import { execFile, execFileSync } from 'node:child_process';
import { chownSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { migrateUp } from '../../../src/storage/migrator.ts';
import { freePort } from '../../helpers/free-port.ts';

/**
 * A private Postgres primary and a streaming hot standby of it for one test, on free loopback ports, in a temp
 * directory of their own (never the shared server on 5432, whose pg_hba has no replication line). Postmasters
 * must not run as root: every server command runs as the `postgres` user. Autovacuum is off as on the shared
 * server; fsync is off (nothing here survives a crash on purpose).
 */
export interface PostgresPair {
  primaryUrl: string;
  standbyUrl: string;
  /** A query on the primary or the standby (as the superuser), on a connection of its own. */
  query<R extends pg.QueryResultRow>(on: 'primary' | 'standby', text: string): Promise<R[]>;
  /** Stops replay on the standby (it keeps receiving WAL) and waits until it has paused. */
  pauseReplay(): Promise<void>;
  resumeReplay(): Promise<void>;
  /** Stops the standby's postmaster (fast shutdown) / starts it again on the same port. */
  stopStandby(): Promise<void>;
  startStandby(): Promise<void>;
  /**
   * A failover the service was not moved for: promotes the standby (a new timeline, taking writes of its own) and
   * starts a standby of it, streaming; resolves with that follower's URL. The original primary goes on as it was.
   */
  promoteStandbyWithFollower(): Promise<string>;
  /** Stops both postmasters and removes the directory; safe to call twice. */
  destroy(): Promise<void>;
}

const BIN = process.env.PG_BIN_DIR ?? '/usr/lib/postgresql/15/bin';
const run = promisify(execFile);
const asPostgres = (cmd: string, args: readonly string[]) =>
  run('runuser', ['-u', 'postgres', '--', path.join(BIN, cmd), ...args], { timeout: 60_000 });

function serverOptions(port: number, socketDir: string, extra: readonly string[]): string {
  return [
    ...extra.map((setting) => `-c ${setting}`),
    `-p ${port}`,
    "-c listen_addresses='127.0.0.1'",
    `-c unix_socket_directories='${socketDir}'`,
    '-c autovacuum=off',
    '-c fsync=off',
    '-c full_page_writes=off',
    '-c shared_buffers=32MB',
    '-c max_connections=40',
    '-c wal_level=replica',
    '-c max_wal_senders=4',
    '-c hot_standby=on',
  ].join(' ');
}

/**
 * initdb, a primary with a permissive pg_hba (trust, replication from 127.0.0.1), `database` created on it and
 * `prepare(primaryUrl)` run (migrations), then `pg_basebackup -R` into a second directory and a standby started on
 * it; resolves once the primary sees the standby streaming.
 */
export async function startPostgresPair(
  database: string,
  prepare: (primaryUrl: string) => Promise<void>,
  /** More `name=value` server settings for both (e.g. `shared_preload_libraries=pg_stat_statements`). */
  settings: readonly string[] = [],
): Promise<PostgresPair> {
  const root = mkdtempSync(path.join(tmpdir(), 'jpm-pg-pair-'));
  chownSync(root, uid('postgres'), gid('postgres'));
  const primaryDir = path.join(root, 'primary');
  const standbyDir = path.join(root, 'standby');
  const [primaryPort, standbyPort] = [await freePort(), await freePort()];
  const started: string[] = [];
  const pgCtl = (dir: string, ...args: string[]) => asPostgres('pg_ctl', ['-D', dir, ...args]);
  const start = async (dir: string, port: number) => {
    await pgCtl(
      dir,
      '-w',
      '-t',
      '30',
      '-l',
      path.join(root, `${path.basename(dir)}.log`),
      '-o',
      serverOptions(port, root, settings),
      'start',
    );
    if (!started.includes(dir)) {
      started.push(dir);
    }
  };
  let destroyed = false;
  const destroySync = () => {
    if (destroyed) {
      return;
    }
    destroyed = true;
    let stillRunning = false;
    for (const dir of started) {
      const pgCtlSync = (...args: string[]) =>
        execFileSync('runuser', ['-u', 'postgres', '--', path.join(BIN, 'pg_ctl'), '-D', dir, ...args], {
          stdio: 'ignore',
          timeout: 30_000,
        });
      try {
        pgCtlSync('-m', 'immediate', 'stop');
      } catch {
        // Not running (stopped by the test, or never started) is fine; a postmaster still running is not.
        try {
          pgCtlSync('status');
          stillRunning = true;
        } catch {
          // pg_ctl status fails: no server runs there.
        }
      }
    }
    if (stillRunning) {
      // Removing the data directory under a live postmaster would leave it running on nothing: keep both.
      process.stderr.write(`postgres-replica: a postmaster did not stop; left ${root} in place\n`);
      return;
    }
    rmSync(root, { recursive: true, force: true });
  };
  // A crashed or interrupted test run still stops its postmasters (Ctrl-C, a CI runner's SIGTERM).
  const onSignal = (signal: NodeJS.Signals) => {
    destroySync();
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    process.kill(process.pid, signal);
  };
  process.once('exit', destroySync);
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const url = (port: number, db: string) => `postgres://postgres@127.0.0.1:${port}/${db}`;
  try {
    await asPostgres('initdb', ['-D', primaryDir, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync']);
    writeFileSync(
      path.join(primaryDir, 'pg_hba.conf'),
      ['local all all trust', 'host all all 127.0.0.1/32 trust', 'host replication all 127.0.0.1/32 trust', ''].join(
        '\n',
      ),
    );
    await start(primaryDir, primaryPort);
    await withClient(url(primaryPort, 'postgres'), (c) => c.query(`create database ${database}`));
  } catch (err) {
    destroySync();
    throw err;
  }
  // Until `upstream` sees a standby streaming from it.
  const untilStreaming = async (upstream: 'primary' | 'standby') => {
    for (let i = 0; ; i++) {
      const rows = await pair.query<{ state: string }>(upstream, 'select state from pg_stat_replication');
      if (rows[0]?.state === 'streaming') {
        return;
      }
      if (i > 500) {
        throw new Error(`no standby is streaming from the ${upstream}`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  const pair: PostgresPair = {
    primaryUrl: url(primaryPort, database),
    standbyUrl: url(standbyPort, database),
    query: <R extends pg.QueryResultRow>(on: 'primary' | 'standby', text: string) =>
      withClient(
        url(on === 'primary' ? primaryPort : standbyPort, database),
        async (c) => (await c.query<R>(text)).rows,
      ),
    async pauseReplay() {
      await pair.query('standby', 'select pg_wal_replay_pause()');
      for (let i = 0; ; i++) {
        const [row] = await pair.query<{ state: string }>('standby', 'select pg_get_wal_replay_pause_state() as state');
        if (row?.state === 'paused') {
          return;
        }
        if (i > 200) {
          throw new Error(`standby replay did not pause (${row?.state})`);
        }
        await new Promise((r) => setTimeout(r, 10));
      }
    },
    async resumeReplay() {
      await pair.query('standby', 'select pg_wal_replay_resume()');
    },
    async stopStandby() {
      await pgCtl(standbyDir, '-m', 'fast', '-w', 'stop');
    },
    startStandby: () => start(standbyDir, standbyPort),
    async promoteStandbyWithFollower() {
      await pgCtl(standbyDir, '-w', '-t', '30', 'promote');
      const followerDir = path.join(root, 'follower');
      const followerPort = await freePort();
      await asPostgres('pg_basebackup', [
        ...['-h', '127.0.0.1', '-p', String(standbyPort), '-U', 'postgres', '-D', followerDir],
        ...['-R', '-X', 'stream', '-c', 'fast', '--no-sync'],
      ]);
      await start(followerDir, followerPort);
      await untilStreaming('standby');
      return url(followerPort, database);
    },
    destroy: () => {
      process.removeListener('exit', destroySync);
      process.removeListener('SIGINT', onSignal);
      process.removeListener('SIGTERM', onSignal);
      destroySync();
      return Promise.resolve();
    },
  };
  try {
    await prepare(pair.primaryUrl);
    // The copy gets the streaming settings (-R: primary_conninfo, standby.signal) and starts as a hot standby.
    await asPostgres('pg_basebackup', [
      ...['-h', '127.0.0.1', '-p', String(primaryPort), '-U', 'postgres', '-D', standbyDir],
      ...['-R', '-X', 'stream', '-c', 'fast', '--no-sync'],
    ]);
    await start(standbyDir, standbyPort);
    await untilStreaming('primary');
  } catch (err) {
    destroySync();
    throw err;
  }
  return pair;
}

async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

function uid(user: string): number {
  return Number(execFileSync('id', ['-u', user]).toString().trim());
}

function gid(user: string): number {
  return Number(execFileSync('id', ['-g', user]).toString().trim());
}

/** Migrates the database at `url` (the pair's primary; the standby follows by replication). */
export async function migrate(url: string): Promise<void> {
  const db = new Kysely<unknown>({
    dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: url, max: 1 }) }),
  });
  const result = await migrateUp(db);
  await db.destroy();
  if (result.error) {
    throw result.error instanceof Error ? result.error : new Error('migrating the private primary failed');
  }
}
