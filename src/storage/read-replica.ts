import { sql } from 'kysely';
import { createLogger, type Logger } from '../shared/logger.ts';
import { readDbRequestsTotal } from '../shared/metrics.ts';
import type { Database } from './db.ts';

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

/**
 * The primary's flushed WAL position. A commit the primary acknowledged (synchronous_commit on, local or remote
 * apply) ends at or before it, so a standby that has replayed this far shows every acknowledged commit.
 */
async function primaryFlushLsn(primary: Database): Promise<bigint> {
  const { rows } = await sql<{ lsn: string }>`select pg_current_wal_flush_lsn()::text as lsn`.execute(primary);
  return lsnValue(rows[0]?.lsn ?? '');
}

/** How far this standby has replayed (null when the server is not in recovery: not a standby, or promoted). */
async function replayedLsn(replica: Database): Promise<bigint | null> {
  const { rows } = await sql<{ standby: boolean; lsn: string | null }>`
    select pg_is_in_recovery() as standby, pg_last_wal_replay_lsn()::text as lsn`.execute(replica);
  const row = rows[0];
  return row?.standby === true && row.lsn !== null ? lsnValue(row.lsn) : null;
}

/** What the replica must share with the primary before LSNs can be compared (checked once per replica session). */
async function clusterIdentity(db: Database): Promise<{ system: string; database: string; syncCommit: string }> {
  const { rows } = await sql<{ system: string; database: string; sync_commit: string }>`
    select (select system_identifier::text from pg_control_system()) as system, current_database() as database,
      current_setting('synchronous_commit') as sync_commit`.execute(db);
  const row = rows[0];
  if (!row) {
    throw new Error('no identity row');
  }
  return { system: row.system, database: row.database, syncCommit: row.sync_commit };
}

/**
 * The primary's WAL position as of a moment after the caller asked. One query is in flight at a time: callers
 * that arrive while it is on the wire wait for the next one (an answer sent before they arrived may miss a commit
 * they have seen), and all of them share it, so under load the primary answers at most one such query per round
 * trip per process, not one per request.
 */
class PrimaryPosition {
  private sent: Promise<bigint> | undefined;
  private queued: Promise<bigint> | undefined;
  private readonly primary: Database;

  constructor(primary: Database) {
    this.primary = primary;
  }

  next(): Promise<bigint> {
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

  private send(): Promise<bigint> {
    const p = primaryFlushLsn(this.primary);
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

/** A failure of the primary while preparing a replica read: the read fails as it would without a replica. */
class PrimaryFailure extends Error {
  constructor(cause: unknown) {
    super('primary failed', { cause });
  }
}

const onPrimary = <T>(p: Promise<T>): Promise<T> =>
  p.catch((err: unknown) => {
    throw new PrimaryFailure(err);
  });

/** Errors that say the replica cannot serve (gone, restarting, a recovery conflict), not that the read is wrong. */
function isReplicaFault(err: unknown): boolean {
  if (!(err instanceof Error)) {
    return false;
  }
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) {
    // 40001: canceled by a conflict with recovery; 57P0x: shutdown, cannot connect now; 08: connection; 53: resources.
    return code === '40001' || code.startsWith('57P') || code.startsWith('08') || code.startsWith('53');
  }
  // A socket error (ECONNREFUSED …), a dropped connection, no pool connection in time: the replica did not answer.
  return (
    (typeof code === 'string' && /^E[A-Z]+$/.test(code)) ||
    /^(connection terminated|connection error|timeout exceeded when trying to connect|client has encountered a connection error)/i.test(
      err.message,
    )
  );
}

/** The replica answers but must not serve: not a standby (or promoted), or not a standby of our primary. */
class ReplicaRefused extends Error {}

export interface ReplicaReadsOptions {
  primary: Database;
  replica: Database;
  /** Longest wait for the replica to replay what the primary had when a read arrived; then the primary serves. */
  maxWaitMs: number;
  /** After the replica fails, reads go to the primary for this long before it is tried again. */
  retryAfterMs?: number;
  /** Between two looks at the replica's replay position while waiting. */
  pollMs?: number;
}

type ReplicaOutcome<T> = { ok: true; value: T } | { ok: false; waitedMs: number; lagBytes: string };

/**
 * Reads on a streaming replica, never older than the request. Per read: the primary's flushed WAL position
 * (PrimaryPosition, shared by concurrent reads) and, on the replica connection that will serve the read, its replay
 * position, asked in parallel; the read runs there when the replica has replayed the primary's position (on the
 * same session, so a standby restart in between cannot hand us an older state), else it waits up to `maxWaitMs`
 * and then runs on the primary. While the replica is behind, later reads do not wait (one look, then the primary)
 * until a look finds it caught up. A replica that fails (down, refused, recovery conflict) is skipped for
 * `retryAfterMs`; a read that fails on it runs again on the primary. A failing primary fails the read, as it would
 * without a replica: the replica alone cannot tell how far behind it is.
 */
export function replicaReads(options: ReplicaReadsOptions): ReadDatabase {
  const { primary, replica, maxWaitMs } = options;
  const retryAfterMs = options.retryAfterMs ?? 5_000;
  const pollMs = options.pollMs ?? 5;
  const log = createLogger('db', { component: 'read-replica' });
  const position = new PrimaryPosition(primary);
  let downUntil = 0;
  let down = false;
  let behind = false;
  let verified: Promise<void> | undefined;

  /** Same cluster (system identifier) and database, commits acknowledged only once flushed: checked once per up. */
  function verify(): Promise<void> {
    verified ??= Promise.all([onPrimary(clusterIdentity(primary)), clusterIdentity(replica)]).then(([p, r]) => {
      if (p.system !== r.system || p.database !== r.database) {
        throw new ReplicaRefused('DATABASE_READ_URL is not a standby of DATABASE_URL (another cluster or database)');
      }
      if (p.syncCommit === 'off') {
        throw new ReplicaRefused('synchronous_commit is off: the primary may acknowledge a commit before flushing it');
      }
    });
    const mine = verified;
    mine.catch(() => {
      if (verified === mine) {
        verified = undefined;
      }
    });
    return mine;
  }

  function markDown(err: unknown, reason: ReadReason): void {
    downUntil = Date.now() + retryAfterMs;
    verified = undefined;
    if (!down) {
      down = true;
      log.warn({ err, reason, retryAfterMs }, 'read replica unavailable: reads go to the primary');
    }
  }

  async function onReplica<T>(read: (db: Database) => Promise<T>): Promise<ReplicaOutcome<T>> {
    const target = onPrimary(position.next());
    target.catch(() => undefined); // awaited below; a replica failure first must not leave it unhandled
    // The replica's session: its replay position only grows while it lives, so what it shows here holds for the read.
    return replica.connection().execute(async (conn) => {
      const started = performance.now();
      let replayed = await replayedLsn(conn);
      const wanted = await target;
      const deadline = started + (behind ? 0 : maxWaitMs);
      while (replayed !== null && replayed < wanted && performance.now() + pollMs <= deadline) {
        await new Promise((r) => setTimeout(r, pollMs));
        replayed = await replayedLsn(conn);
      }
      if (replayed === null) {
        throw new ReplicaRefused('DATABASE_READ_URL is not in recovery (not a standby, or promoted)');
      }
      const waitedMs = Math.round(performance.now() - started);
      if (replayed < wanted) {
        const lagBytes = String(wanted - replayed);
        if (!behind) {
          behind = true;
          log.warn({ waitedMs, lagBytes }, 'read replica behind: reads go to the primary until it catches up');
        }
        return { ok: false, waitedMs, lagBytes };
      }
      if (behind) {
        behind = false;
        log.info({ waitedMs }, 'read replica caught up: reads go to the replica');
      }
      const value = await read(conn);
      return { ok: true, value };
    });
  }

  function onPrimaryFor<T>(read: (db: Database) => Promise<T>, reason: ReadReason, fields: object, reqLog?: Logger) {
    count('primary', reason);
    reqLog?.info({ reason, ...fields }, 'read served by the primary');
    return read(primary);
  }

  async function run<T>(read: (db: Database) => Promise<T>, reqLog?: Logger): Promise<T> {
    if (Date.now() < downUntil) {
      count('primary', 'replica_unavailable');
      return read(primary);
    }
    let outcome: ReplicaOutcome<T>;
    try {
      await verify();
      outcome = await onReplica(read);
    } catch (err) {
      if (err instanceof PrimaryFailure) {
        throw err.cause;
      }
      if (err instanceof ReplicaRefused) {
        markDown(err, 'replica_refused');
        return onPrimaryFor(read, 'replica_refused', {}, reqLog);
      }
      if (!isReplicaFault(err)) {
        // The read's own answer (a 404, a bad filter): the replica served it.
        count('replica', 'caught_up');
        throw err;
      }
      markDown(err, 'replica_error');
      return onPrimaryFor(read, 'replica_error', {}, reqLog);
    }
    if (!outcome.ok) {
      return onPrimaryFor(read, 'replica_behind', { waitedMs: outcome.waitedMs, lagBytes: outcome.lagBytes }, reqLog);
    }
    if (down) {
      down = false;
      log.info({}, 'read replica available again');
    }
    count('replica', 'caught_up');
    return outcome.value;
  }

  return {
    run,
    replicaCheck: async () => {
      await verify();
      if ((await replayedLsn(replica)) === null) {
        throw new ReplicaRefused('DATABASE_READ_URL is not in recovery (not a standby, or promoted)');
      }
    },
  };
}
