import { Kysely, PostgresDialect, sql, type PostgresPool, type PostgresPoolClient, type Transaction } from 'kysely';
import pg from 'pg';
import { isDatabaseSessionLost } from '../shared/errors.ts';
import type { DB } from './db.types.ts';

export type { DB } from './db.types.ts';
/** Repositories take an Executor: the pool or an open transaction, so `sync` can own the transaction. */
export type Executor = Kysely<DB> | Transaction<DB>;
export type Database = Kysely<DB>;

// Business dates stay 'YYYY-MM-DD' strings (a JS Date would shift them by the machine's zone);
// int8/numeric stay strings and become bigint in code, never a JS number.
const DATE_OID = 1082;
pg.types.setTypeParser(DATE_OID, (v: string) => v);

export interface DbOptions {
  url: string;
  password?: string | undefined;
  poolMax?: number;
  applicationName?: string;
  /** Longest wait for a pool connection before pg-pool's "timeout exceeded when trying to connect" (default 10 s). */
  connectionTimeoutMs?: number;
  /**
   * Called for each new session, before the pool hands it to its first caller: a statement it queues on the
   * session runs first (src/events/feed-database-guard.ts checks the database's identity so).
   */
  onSession?: (client: pg.PoolClient) => void;
}

export function createPool(options: DbOptions): pg.Pool {
  const pool = new pg.Pool({
    connectionString: options.url,
    ...(options.password === undefined ? {} : { password: options.password }),
    max: options.poolMax ?? 10,
    application_name: options.applicationName ?? 'jpm-sync',
    connectionTimeoutMillis: options.connectionTimeoutMs ?? 10_000,
    idleTimeoutMillis: 30_000,
  });
  // An idle client that loses its connection (server restart, pg_terminate_backend) emits here;
  // without a listener Node would crash the process. The pool replaces the client on next use.
  pool.on('error', () => undefined);
  // A client that is checked out (a transaction between two statements, a lock connection held
  // while a window calls the bank) emits 'error' on itself, where the pool does not listen: the
  // same crash. Its next query fails instead, and the caller's release(err) discards it.
  pool.on('connect', (client) => {
    client.on('error', () => undefined);
    options.onSession?.(client);
  });
  return pool;
}

/**
 * The pool as Kysely sees it: its clients run a statement through pg's callback form of `query`. Through pg's
 * promise form, nearly every object a result holds survived two young-generation collections and was promoted to
 * the old space (V8 `--trace-gc-nvp`: 98–99.8 % promotion rate, scavenge pauses of 12–28 ms, against 0–2 % and
 * under 1 ms with the callback form, same rows; `bench/read-api.ts` load), which cost the read API ~0.17 ms of
 * CPU per 100-row page in garbage collection and put those pauses into its tail latency.
 */
function callbackQueryPool(pool: pg.Pool): PostgresPool {
  const clients = new WeakMap<pg.PoolClient, PostgresPoolClient>();
  const adapt = (client: pg.PoolClient): PostgresPoolClient => {
    let adapted = clients.get(client);
    if (adapted === undefined) {
      // Kysely releases a connection without saying why: a connection whose session ended under a statement goes
      // back to the pool before its socket's end is seen, and the next statement taken from the pool fails on it too.
      let dead = false;
      const query = (sqlOrCursor: unknown, parameters?: readonly unknown[]): unknown => {
        if (typeof sqlOrCursor !== 'string') {
          // A cursor (streamed reads) is submitted as it is.
          return client.query(sqlOrCursor as pg.Submittable);
        }
        return new Promise((resolve, reject) => {
          client.query(sqlOrCursor, parameters as unknown[], (err: Error | undefined, result: pg.QueryResult) => {
            if (err) {
              dead ||= isDatabaseSessionLost(err);
              // The callback runs from the socket read; Kysely adds the caller's frames to the error it rethrows.
              reject(err);
            } else {
              resolve(result);
            }
          });
        });
      };
      adapted = {
        query: query as PostgresPoolClient['query'],
        // A dead connection is destroyed (pg-pool opens a new one for the next caller), never handed out again.
        release: (destroy?: boolean) => client.release(destroy === true || dead),
      };
      clients.set(client, adapted);
    }
    return adapted;
  };
  return { connect: async () => adapt(await pool.connect()), end: () => pool.end() };
}

/** Creates the Kysely instance. `destroy()` ends the pool; main/ owns calling it on shutdown. */
export function createDb(options: DbOptions): Database {
  return new Kysely<DB>({ dialect: new PostgresDialect({ pool: callbackQueryPool(createPool(options)) }) });
}

/**
 * Runs `fn` in a transaction: the caller's when `ex` is one already (so several services' changes commit or roll back
 * together, e.g. an integration PATCH), else a new one of its own.
 */
export function inTransaction<T>(ex: Executor, fn: (trx: Transaction<DB>) => Promise<T>): Promise<T> {
  return ex.isTransaction ? fn(ex as Transaction<DB>) : ex.transaction().execute(fn);
}

/**
 * Runs last inside a write's transaction, with what the write produced, just before COMMIT: how a service that owns
 * its transaction (and does I/O outside it) lets a route store its `Idempotency-Key` answer with the write
 * (src/http/routes.ts `answerBeforeCommit`).
 */
export type BeforeCommit<T> = (trx: Transaction<DB>, written: T) => Promise<void>;

/**
 * A write route's one atomic phase (src/http/idempotency.ts): runs `write` in a transaction (the caller's when `db` is
 * one) and, before it commits, stores the answer `write` returns through `recordAnswer` (the route handler's
 * `atomicAnswer`), so the write and its `Idempotency-Key` answer commit together or not at all.
 */
export function atomicWrite<T>(
  db: Executor,
  recordAnswer: (trx: Transaction<DB>, answer: T) => Promise<void>,
  write: (trx: Transaction<DB>) => Promise<T>,
): Promise<T> {
  return inTransaction(db, async (trx) => {
    const answer = await write(trx);
    await recordAnswer(trx, answer);
    return answer;
  });
}

/** `select 1` through the pool: the readiness check of Postgres (it fails when no connection can be had). */
export async function pingDatabase(ex: Executor): Promise<void> {
  await sql`select 1`.execute(ex);
}

/** The database name in a postgres URL. */
export function databaseName(url: string): string {
  return decodeURIComponent(new URL(url).pathname.replace(/^\//, ''));
}

/** Creates the database named in `url` when it does not exist (demo, tests, fresh laptops). */
export async function ensureDatabase(url: string, password?: string): Promise<boolean> {
  const name = databaseName(url);
  const admin = new URL(url);
  admin.pathname = '/postgres';
  const client = new pg.Client({ connectionString: admin.toString(), ...(password === undefined ? {} : { password }) });
  await client.connect();
  try {
    const found = await client.query('select 1 from pg_database where datname = $1', [name]);
    if (found.rowCount === 0) {
      await client.query(`create database ${quoteIdent(name)}`);
      return true;
    }
    return false;
  } catch (err) {
    // Another process created it between our check and create: that is fine.
    if ((err as { code?: string }).code === '42P04') {
      return false;
    }
    throw err;
  } finally {
    await client.end();
  }
}

export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
