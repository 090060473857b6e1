import { Kysely, PostgresDialect, sql, type PostgresPool, type PostgresPoolClient } from 'kysely';
import pg from 'pg';
import { ZodError } from 'zod';
import { AppError } from '../shared/errors.ts';
import { createLogger, type Logger } from '../shared/logger.ts';
import { readDbRequestsTotal } from '../shared/metrics.ts';
import type { Database, DB } from './db.ts';

/** Which database served a read, and why: the labels of `jpm_read_db_requests_total`. */
type ReadSource = 'primary' | 'replica';
type ReadReason =
  'no_replica' | 'caught_up' | 'replica_behind' | 'replica_unavailable' | 'replica_error' | 'replica_refused';

function count(db: ReadSource, reason: ReadReason): void {
  readDbRequestsTotal.inc({ db, reason });
}

/**
 * Where the read API's queries run. `run` hands `read` a database that holds every write committed on the
 * primary before `run` was called: the read is never older than the request. Reads must be read-only and may
 * run twice (on the replica, then on the primary when the replica fails mid-read).
 */
export interface ReadDatabase {
  run<T>(read: (db: Database) => Promise<T>, log?: Logger): Promise<T>;
  /** The replica's readiness check (/readyz), when there is a replica. */
  replicaCheck?: () => Promise<void>;
}

/** Without DATABASE_READ_URL: every read on the primary, as before. */
export function primaryReads(primary: Database): ReadDatabase {
  return {
    run: (read) => {
      count('primary', 'no_replica');
      return read(primary);
    },
  };
}

/** A WAL position (`pg_lsn` text such as `16/B374D848`) as a number that compares correctly. */
export function lsnValue(lsn: string): bigint {
  const [high, low] = lsn.split('/');
  if (high === undefined || low === undefined || !/^[0-9A-F]{1,8}$/i.test(high) || !/^[0-9A-F]{1,8}$/i.test(low)) {
    throw new Error(`not a WAL position: ${lsn}`);
  }
  return (BigInt(`0x${high}`) << 32n) | BigInt(`0x${low}`);
}

/** The replica's sessions: a pool of their own, so that a session that overran its time can be destroyed. */
export interface ReplicaPoolOptions {
  url: string;
  password?: string | undefined;
  poolMax: number;
  /** Longest wait for a pool connection (DB_POOL_WAIT_MS). */
  connectionTimeoutMs: number;
}

/** A replica statement running longer than this is cancelled by the standby, and the read runs on the primary. */
const REPLICA_STATEMENT_TIMEOUT_MS = 30_000;

export function createReplicaPool(options: ReplicaPoolOptions): pg.Pool {
  const pool = new pg.Pool({
    connectionString: options.url,
    ...(options.password === undefined ? {} : { password: options.password }),
    max: options.poolMax,
    application_name: 'jpm-sync-reads',
    connectionTimeoutMillis: options.connectionTimeoutMs,
    idleTimeoutMillis: 30_000,
    // A standby that stops answering (a partition, a frozen host) is found by TCP, not only by the next timeout.
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
    statement_timeout: REPLICA_STATEMENT_TIMEOUT_MS,
    // Client side: a standby that cannot even cancel its statement still frees the read.
    query_timeout: REPLICA_STATEMENT_TIMEOUT_MS + 5_000,
  });
  // As in db.ts: a connection lost while idle or checked out must not crash the process.
  pool.on('error', () => undefined);
  pool.on('connect', (client) => {
    client.on('error', () => undefined);
  });
  return pool;
}

/** The primary's flushed WAL position and its timeline. */
interface PrimaryPosition {
  lsn: bigint;
  timeline: number;
}

/**
 * The answer of a query as of a moment after the caller asked. One query is in flight at a time: callers that
 * arrive while it is on the wire wait for the next one (an answer sent before they arrived may miss a commit they
 * have seen), and all of them share it, so under load the primary answers at most one such query per round trip
 * per process, not one per request.
 */
export class FreshAnswer<T> {
  private sent: Promise<T> | undefined;
  private queued: Promise<T> | undefined;
  private readonly ask: () => Promise<T>;

  constructor(ask: () => Promise<T>) {
    this.ask = ask;
  }

  next(): Promise<T> {
    const sent = this.sent;
    if (sent === undefined) {
      return this.send();
    }
    this.queued ??= sent
      .then(
        () => undefined,
        () => undefined,
      )
      .then(() => {
        this.queued = undefined;
        return this.send();
      });
    return this.queued;
  }

  private send(): Promise<T> {
    const p = Promise.resolve().then(this.ask);
    this.sent = p;
    const clear = () => {
      if (this.sent === p) {
        this.sent = undefined;
      }
    };
    p.then(clear, clear);
    return p;
  }
}

/** What a failed replica read means. */
export type ReadErrorClass =
  /** The read's own answer (a 404, a bad cursor, a value the client sent): rethrown, not retried. */
  | { kind: 'answer' }
  /** Run the read on the primary; `markDown`: the replica itself is unusable, skip it for a while. */
  | { kind: 'retry'; markDown: boolean };

const pgCode = (err: unknown): string | undefined => {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
};

/**
 * Errors of this one read's circumstances, not of the replica: the local pool had no connection in time, the
 * standby has too many connections (53300), or a recovery conflict cancelled this query (40001). The read goes
 * to the primary; other reads keep using the replica.
 */
function isTransient(err: unknown): boolean {
  const code = pgCode(err);
  return (
    code === '40001' ||
    code === '53300' ||
    (err instanceof Error && /^timeout exceeded when trying to connect/i.test(err.message))
  );
}

/**
 * `phase` 'prepare': before the read's own queries (connecting, checking the standby, its replay position); any
 * failure there is the replica's. 'read': inside the read; only what answers the client (AppError, ZodError,
 * SQLSTATE classes 22 data exception and 23 integrity constraint, the client's input) is the read's own
 * answer. Everything else is retried on the primary: a real bug fails again there.
 */
export function classifyReadError(err: unknown, phase: 'prepare' | 'read'): ReadErrorClass {
  if (phase === 'read') {
    const code = pgCode(err);
    if (
      err instanceof AppError ||
      err instanceof ZodError ||
      (code !== undefined && /^(22|23)[0-9A-Z]{3}$/.test(code))
    ) {
      return { kind: 'answer' };
    }
    if (isTransient(err)) {
      return { kind: 'retry', markDown: false };
    }
    // A lost or unusable session (08 connection, 57P admin shutdown, socket and TLS errors, a client timeout)
    // puts the replica out; a statement's own failure (57014, 40P01, XX000 …) is retried on the primary only.
    return { kind: 'retry', markDown: isSessionFault(err) };
  }
  return { kind: 'retry', markDown: !isTransient(err) };
}

function isSessionFault(err: unknown): boolean {
  const code = pgCode(err);
  if (code !== undefined && /^[0-9A-Z]{5}$/.test(code)) {
    return code.startsWith('08') || code.startsWith('57P') || code.startsWith('28') || code === '3D000';
  }
  // Socket (ECONNRESET, EAI_AGAIN …) and TLS (CERT_HAS_EXPIRED …) errors carry a code; pg's own have a message.
  return (
    code !== undefined ||
    (err instanceof Error &&
      /connection terminated|connection error|query read timeout|not queryable|ended/i.test(err.message))
  );
}

/** The replica answers but must not serve: not a standby (or promoted), another cluster, another timeline. */
class ReplicaRefused extends Error {}

/** A failure of the primary while preparing a replica read: the read fails as it would without a replica. */
class PrimaryFailure extends Error {
  constructor(cause: unknown) {
    super('primary failed', { cause });
  }
}

/** The replica phase did not finish in time. */
class PhaseTimeout extends Error {
  readonly markDown: boolean;
  constructor(stage: string, markDown: boolean) {
    super(`read replica: no answer in time (${stage})`);
    this.markDown = markDown;
  }
}

function query<R>(client: pg.PoolClient, text: string): Promise<R[]> {
  return new Promise((resolve, reject) => {
    client.query(text, [], (err: Error | undefined, result: pg.QueryResult) => {
      if (err) {
        reject(err);
      } else {
        resolve(result.rows as R[]);
      }
    });
  });
}

/** One checked-out replica session as a Kysely database (through pg's callback form, as db.ts explains). */
function sessionDatabase(client: pg.PoolClient): Database {
  const adapted: PostgresPoolClient = {
    query: ((text: unknown, parameters?: readonly unknown[]): unknown => {
      if (typeof text !== 'string') {
        return client.query(text as pg.Submittable);
      }
      return new Promise((resolve, reject) => {
        client.query(text, parameters as unknown[], (err: Error | undefined, result: pg.QueryResult) => {
          if (err) {
            reject(err);
          } else {
            resolve(result);
          }
        });
      });
    }) as PostgresPoolClient['query'],
    // The session is released by replicaReads, destroyed when it failed.
    release: () => undefined,
  };
  const pool: PostgresPool = { connect: () => Promise.resolve(adapted), end: () => Promise.resolve() };
  return new Kysely<DB>({ dialect: new PostgresDialect({ pool }) });
}

export interface ReplicaReadsOptions {
  primary: Database;
  /** The replica's sessions (createReplicaPool); replicaReads owns ending it (`close`). */
  replica: pg.Pool;
  /** Longest wait for the replica to replay what the primary had when a read arrived; then the primary serves. */
  maxWaitMs: number;
  /** After the replica fails, reads go to the primary for this long before it is tried again. */
  retryAfterMs?: number;
  /** Between two looks at the replica's replay position while waiting. */
  pollMs?: number;
  /** Longest the replica phase (connection, checks, waiting) may take beyond maxWaitMs; then the primary serves. */
  marginMs?: number;
}

type Prepared = { ok: true; client: pg.PoolClient } | { ok: false; waitedMs: number; lagBytes: string };

interface Look {
  standby: boolean;
  lsn: bigint | null;
  timeline: number | null;
}

/**
 * Reads on a streaming replica, never older than the request. Per read: the primary's flushed WAL position and
 * timeline (FreshAnswer, shared by concurrent reads) and, on the replica session that will serve the read, its
 * replay position and timeline, asked in parallel; the read runs on that session when the standby is on the
 * primary's timeline and has replayed the primary's position (a standby restarted in between cannot hand us an
 * older state), else it waits up to `maxWaitMs` (while the replica is behind: at most 20 ms, and at least one look
 * after the position arrived) and then runs on the primary. Each new session is checked once (a standby of this
 * primary's cluster, same database). The whole replica phase is bounded by `maxWaitMs + marginMs`: a replica that
 * hangs is given up, its session destroyed. A replica that fails or refuses is skipped for `retryAfterMs`; a read
 * that fails on it runs again on the primary (error classes: classifyReadError). A failing primary fails the read,
 * as it would without a replica: the replica alone cannot tell how far behind it is.
 */
export function replicaReads(
  options: ReplicaReadsOptions,
): ReadDatabase & { close(): Promise<void>; primarySessionOpened(): void } {
  const { primary, replica, maxWaitMs } = options;
  const retryAfterMs = options.retryAfterMs ?? 5_000;
  const pollMs = options.pollMs ?? 5;
  const budgetMs = maxWaitMs + (options.marginMs ?? 1_000);
  const log = createLogger('db', { component: 'read-replica' });
  // The timeline is the first 8 hex digits of the WAL file name (the primary is not in recovery: it may ask).
  const position = new FreshAnswer<PrimaryPosition>(async () => {
    const { rows } = await sql<{ lsn: string; walfile: string }>`
      select pg_current_wal_flush_lsn()::text as lsn, pg_walfile_name(pg_current_wal_flush_lsn()) as walfile`.execute(
      primary,
    );
    const row = rows[0];
    return { lsn: lsnValue(row?.lsn ?? ''), timeline: Number.parseInt((row?.walfile ?? '').slice(0, 8), 16) };
  });
  let primaryIdentity: Promise<{ system: string; database: string; syncCommit: string }> | undefined;
  let checkedSessions = new WeakSet<pg.PoolClient>();
  const sessionDbs = new WeakMap<pg.PoolClient, Database>();
  let downUntil = 0;
  let down = false;
  let behind = false;

  function identityOfPrimary() {
    primaryIdentity ??= sql<{ system: string; database: string; sync_commit: string }>`
      select (select system_identifier::text from pg_control_system()) as system, current_database() as database,
        current_setting('synchronous_commit') as sync_commit`
      .execute(primary)
      .then(({ rows }) => {
        const row = rows[0];
        if (!row) {
          throw new Error('no identity row');
        }
        return { system: row.system, database: row.database, syncCommit: row.sync_commit };
      });
    const mine = primaryIdentity;
    mine.catch(() => {
      if (primaryIdentity === mine) {
        primaryIdentity = undefined;
      }
    });
    return mine;
  }

  /** Same cluster (system identifier) and database, commits acknowledged only once flushed: once per session. */
  async function checkSession(client: pg.PoolClient): Promise<void> {
    if (checkedSessions.has(client)) {
      return;
    }
    const p = await onPrimary(identityOfPrimary());
    const [r] = await query<{ system: string; database: string }>(
      client,
      'select (select system_identifier::text from pg_control_system()) as system, current_database() as database',
    );
    if (p.system !== r?.system || p.database !== r.database) {
      throw new ReplicaRefused('DATABASE_READ_URL is not a standby of DATABASE_URL (another cluster or database)');
    }
    if (p.syncCommit === 'off') {
      throw new ReplicaRefused('synchronous_commit is off: the primary may acknowledge a commit before flushing it');
    }
    checkedSessions.add(client);
  }

  /**
   * The standby's replay position and timeline in one round trip: the WAL receiver's timeline while it streams
   * (needs pg_read_all_stats to be visible), else the last restartpoint's (may lag after a failover: then the
   * primary serves until it catches up).
   */
  async function look(client: pg.PoolClient): Promise<Look> {
    const [row] = await query<{ standby: boolean; lsn: string | null; tli: number | null }>(
      client,
      `select pg_is_in_recovery() as standby, pg_last_wal_replay_lsn()::text as lsn,
        coalesce((select received_tli from pg_stat_wal_receiver where status = 'streaming'),
          (select timeline_id from pg_control_checkpoint())) as tli`,
    );
    return {
      standby: row?.standby === true,
      lsn: row?.lsn == null ? null : lsnValue(row.lsn),
      timeline: row?.tli == null ? null : Number(row.tli),
    };
  }

  let lastRetryWarn = 0;
  /** A read retried on the primary without skipping the replica: one warn per `retryAfterMs` at most. */
  function retried(err: unknown): void {
    const now = Date.now();
    if (now - lastRetryWarn >= retryAfterMs) {
      lastRetryWarn = now;
      log.warn({ err }, 'read failed on the replica: ran again on the primary (more such reads only counted)');
    }
  }

  function markDown(err: unknown, reason: ReadReason): void {
    downUntil = Date.now() + retryAfterMs;
    primaryIdentity = undefined;
    if (!down) {
      down = true;
      log.warn({ err, reason, retryAfterMs }, 'read replica unavailable: reads go to the primary');
    }
  }

  /** Releases a session once; destroyed when it may be unusable (a timeout, a failure). */
  function releaser(client: pg.PoolClient): (destroy: boolean) => void {
    let released = false;
    return (destroy) => {
      if (!released) {
        released = true;
        client.release(destroy);
      }
    };
  }

  /**
   * Connects (or takes a pooled session), checks it, and waits until it shows the primary's position. Bounded by
   * `budgetMs`: on time out the session is destroyed (its query may still be on the wire) and the caller falls
   * back to the primary.
   */
  function prepare(waitMs: number): Promise<{ prepared: Prepared; release: (destroy: boolean) => void }> {
    const target = onPrimary(position.next());
    target.catch(() => undefined); // awaited below; a replica failure first must not leave it unhandled
    let stage: 'session' | 'position' | 'replica' = 'session';
    let release: ((destroy: boolean) => void) | undefined;
    let timedOut = false;
    const started = performance.now();
    const work = (async () => {
      const client = await replica.connect();
      release = releaser(client);
      if (timedOut) {
        release(false);
        throw new PhaseTimeout('late session', false);
      }
      try {
        stage = 'replica';
        await checkSession(client);
        const first = look(client);
        first.catch(() => undefined); // awaited below, unless the position fails first
        stage = 'position';
        const wanted = await target;
        // Asking for the position may have opened a primary session on another node (a failover): checked again.
        await checkSession(client);
        stage = 'replica';
        let seen = await first;
        // While behind, a short wait; always one look after the position arrived (ingestion never stops).
        const deadline = started + (behind ? Math.min(waitMs, 20) : waitMs);
        let looks = 0;
        while (
          seen.standby &&
          seen.lsn !== null &&
          seen.lsn < wanted.lsn &&
          (looks === 0 || performance.now() + pollMs <= deadline)
        ) {
          if (looks > 0) {
            await new Promise((r) => setTimeout(r, pollMs));
          }
          looks++;
          seen = await look(client);
        }
        if (!seen.standby || seen.lsn === null) {
          throw new ReplicaRefused('DATABASE_READ_URL is not in recovery (not a standby, or promoted)');
        }
        if (seen.timeline !== wanted.timeline) {
          throw new ReplicaRefused(
            `DATABASE_READ_URL is on timeline ${String(seen.timeline)}, the primary on ${String(wanted.timeline)}`,
          );
        }
        const waitedMs = Math.round(performance.now() - started);
        if (seen.lsn < wanted.lsn) {
          release(false);
          return { ok: false as const, waitedMs, lagBytes: String(wanted.lsn - seen.lsn) };
        }
        return { ok: true as const, client };
      } catch (err) {
        release(!(err instanceof ReplicaRefused || err instanceof PrimaryFailure));
        throw err;
      }
    })();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => {
          timedOut = true;
          // Destroying the session ends whatever query it still runs; a session that comes later is given back.
          release?.(true);
          // Waiting for a pool slot with every session in use is this process's load, not the replica's fault;
          // waiting for the primary's position is the primary's slowness.
          const busy = stage === 'session' && replica.waitingCount > 0;
          reject(new PhaseTimeout(stage, stage !== 'position' && !busy));
        },
        Math.max(budgetMs, waitMs),
      );
    });
    work.catch(() => undefined);
    return Promise.race([work, timeout])
      .then((prepared) => {
        if (prepared.ok && release === undefined) {
          throw new Error('no session');
        }
        return { prepared, release: release ?? (() => undefined) };
      })
      .finally(() => clearTimeout(timer));
  }

  function fallback<T>(
    read: (db: Database) => Promise<T>,
    reason: ReadReason,
    fields: object,
    reqLog?: Logger,
  ): Promise<T> {
    count('primary', reason);
    // Per episode the warn says it; per request only the metric, and a debug line.
    reqLog?.debug({ reason, ...fields }, 'read served by the primary');
    return read(primary);
  }

  async function run<T>(read: (db: Database) => Promise<T>, reqLog?: Logger): Promise<T> {
    if (Date.now() < downUntil) {
      count('primary', 'replica_unavailable');
      return read(primary);
    }
    let prepared: Prepared;
    let release: (destroy: boolean) => void;
    try {
      ({ prepared, release } = await prepare(maxWaitMs));
    } catch (err) {
      if (err instanceof PrimaryFailure) {
        throw err.cause;
      }
      if (err instanceof ReplicaRefused) {
        markDown(err, 'replica_refused');
        return fallback(read, 'replica_refused', {}, reqLog);
      }
      const what = classifyReadError(err, 'prepare');
      const markIt = err instanceof PhaseTimeout ? err.markDown : what.kind === 'retry' && what.markDown;
      if (markIt) {
        markDown(err, 'replica_error');
      } else {
        retried(err);
      }
      return fallback(read, 'replica_error', {}, reqLog);
    }
    if (!prepared.ok) {
      if (!behind) {
        behind = true;
        log.warn(
          { waitedMs: prepared.waitedMs, lagBytes: prepared.lagBytes },
          'read replica behind: reads go to the primary until it catches up',
        );
      }
      return fallback(read, 'replica_behind', { waitedMs: prepared.waitedMs, lagBytes: prepared.lagBytes }, reqLog);
    }
    if (behind) {
      behind = false;
      log.info({}, 'read replica caught up: reads go to the replica');
    }
    const { client } = prepared;
    let sessionDb = sessionDbs.get(client);
    if (sessionDb === undefined) {
      sessionDb = sessionDatabase(client);
      sessionDbs.set(client, sessionDb);
    }
    let value: T;
    try {
      value = await read(sessionDb);
    } catch (err) {
      const what = classifyReadError(err, 'read');
      if (what.kind === 'answer') {
        release(false);
        throw err;
      }
      release(true);
      if (what.markDown) {
        markDown(err, 'replica_error');
      } else {
        retried(err);
      }
      return fallback(read, 'replica_error', {}, reqLog);
    }
    release(false);
    if (down) {
      down = false;
      log.info({}, 'read replica available again');
    }
    count('replica', 'caught_up');
    return value;
  }

  return {
    run,
    replicaCheck: async () => {
      const { prepared, release } = await prepare(0);
      if (prepared.ok) {
        release(false);
      }
    },
    primarySessionOpened: () => {
      primaryIdentity = undefined;
      checkedSessions = new WeakSet();
    },
    close: () => replica.end(),
  };
}

const onPrimary = <T>(p: Promise<T>): Promise<T> =>
  p.catch((err: unknown) => {
    throw new PrimaryFailure(err);
  });
