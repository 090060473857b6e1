import { sql } from 'kysely';
import type pg from 'pg';
import { createPool, type DbOptions, type Executor } from './db.ts';

/**
 * Postgres advisory locks (no table): keys are text, hashed with `hashtextextended`. Each key space
 * serialises one thing per account:
 * - `account-trigger:<id>` (transaction-level): find-or-create of the account's active run;
 * - `account-sync:<id>` (session-level, on a dedicated connection): at most one window job of the
 *   account at a time (scheduler/single-flight.ts holds it across bank calls, never in a transaction);
 * - `account-write:<id>` (transaction-level, transactions.repo.ts): page writes of the account;
 * - `schedules` and `schedules:<integration id>` (transaction-level, waited for briefly): job-scheduler reconciles
 *   (scheduler/schedules.ts), a full one alone, scoped ones one per integration at a time.
 */

/** Serialises triggers of one account (find-or-create of its active run) for this transaction. */
export async function lockAccountTriggers(ex: Executor, accountId: string): Promise<void> {
  await sql`select pg_advisory_xact_lock(hashtextextended(${`account-trigger:${accountId}`}, 0))`.execute(ex);
}

/**
 * How long a reconcile waits for another to finish (holding a pool connection meanwhile). Past it the lock function
 * throws `ScheduleReconcileBusy` and the reconcile hands its work to the holder (scheduler/schedules.ts): a holder
 * frozen on Redis does not pile waiters up, nor make them fail.
 */
const SCHEDULE_LOCK_WAIT = '2s';

/** The schedules lock was not had within `SCHEDULE_LOCK_WAIT`; the transaction is aborted. */
export class ScheduleReconcileBusy extends Error {
  constructor() {
    super('another job-scheduler reconcile holds the lock');
  }
}

/** A full job-scheduler reconcile, for this transaction: waits for every other reconcile and holds them all off. */
export async function lockFullScheduleReconcile(ex: Executor): Promise<void> {
  await waitingBriefly(ex, async () => {
    await sql`select pg_advisory_xact_lock(hashtextextended('schedules', 0))`.execute(ex);
  });
}

/**
 * A scoped job-scheduler reconcile, for this transaction: shares the full reconcile's key (so waits for a full
 * one) and excludes the other reconciles of its integration (none when the scope matched no integration).
 */
export async function lockScopedScheduleReconcile(ex: Executor, integrationId: string | undefined): Promise<void> {
  await waitingBriefly(ex, async () => {
    await sql`select pg_advisory_xact_lock_shared(hashtextextended('schedules', 0))`.execute(ex);
    if (integrationId !== undefined) {
      await sql`select pg_advisory_xact_lock(hashtextextended(${`schedules:${integrationId}`}, 0))`.execute(ex);
    }
  });
}

/**
 * Takes the locks with `lock_timeout` at `SCHEDULE_LOCK_WAIT`, then puts it back, so the reconcile's own writes
 * (`markSchedulesApplied`'s row locks) wait as any other statement does.
 */
async function waitingBriefly(ex: Executor, lock: () => Promise<void>): Promise<void> {
  const { rows } = await sql<{ before: string }>`select current_setting('lock_timeout') as before`.execute(ex);
  await sql`select set_config('lock_timeout', ${SCHEDULE_LOCK_WAIT}, true)`.execute(ex);
  try {
    await lock();
  } catch (err) {
    // SQLSTATE 55P03 lock_not_available: the wait ran out.
    throw (err as { code?: unknown } | null)?.code === '55P03' ? new ScheduleReconcileBusy() : err;
  }
  await sql`select set_config('lock_timeout', ${rows[0]?.before ?? '0'}, true)`.execute(ex);
}

const KEEPALIVE_SQL = 'set tcp_keepalives_idle = 30; set tcp_keepalives_interval = 10; set tcp_keepalives_count = 3';

/**
 * A small pool of its own for session-level locks (one connection per lock held). Per-session TCP
 * keepalives make the server notice a vanished machine within about a minute instead of the OS
 * default of hours, so a dead holder's lock goes with its session.
 */
export function createLockPool(db: DbOptions, size: number): pg.Pool {
  const pool = createPool({ ...db, poolMax: size, applicationName: 'jpm-sync-locks' });
  pool.on('connect', (client) => {
    // Best effort: a server that refuses the settings still gives us a working lock.
    client.query(KEEPALIVE_SQL).catch(() => undefined);
  });
  return pool;
}

const accountSyncKey = (accountId: string) => `account-sync:${accountId}`;

/** Takes the account's sync lock on this session if free; false when another session holds it. */
export async function tryLockAccountSync(client: pg.PoolClient, accountId: string): Promise<boolean> {
  const r = await client.query<{ ok: boolean }>('select pg_try_advisory_lock(hashtextextended($1, 0)) as ok', [
    accountSyncKey(accountId),
  ]);
  return r.rows[0]?.ok === true;
}

/** Releases the account's sync lock of this session; false when the session did not hold it. */
export async function unlockAccountSync(client: pg.PoolClient, accountId: string): Promise<boolean> {
  const r = await client.query<{ ok: boolean }>('select pg_advisory_unlock(hashtextextended($1, 0)) as ok', [
    accountSyncKey(accountId),
  ]);
  return r.rows[0]?.ok === true;
}

/** The session a lock was taken on: its backend pid and start (a pid alone may be reused by a later session). */
export interface LockSession {
  pid: number;
  startedAt: string;
}

/** This connection's session (call on the connection that holds the lock). */
export async function lockSessionOf(client: pg.PoolClient): Promise<LockSession> {
  const r = await client.query<{ pid: number; started_at: string }>(
    'select pg_backend_pid() as pid, backend_start::text as started_at from pg_stat_activity where pid = pg_backend_pid()',
  );
  const row = r.rows[0];
  if (row === undefined) {
    throw new Error('the lock session is not in pg_stat_activity');
  }
  return { pid: row.pid, startedAt: row.started_at };
}

/**
 * Whether `session` still holds the account's sync lock, asked on any connection (`ex`, e.g. a page's transaction):
 * false once the server ended that session (a restart, or its keepalives going unanswered while the process was
 * frozen), after which another worker may hold the lock. A bigint advisory key shows in pg_locks as its high and low
 * 32 bits (classid, objid) with objsubid 1.
 */
export async function holdsAccountSync(ex: Executor, session: LockSession, accountId: string): Promise<boolean> {
  const r = await accountSyncHeldQuery(session, accountId).execute(ex);
  return r.rows[0]?.held === true;
}

/**
 * The statement of `holdsAccountSync`. It runs in every write transaction of a window (each page): the session's start
 * is read from that one backend's activity (`pg_stat_get_activity(pid)`), not from the whole `pg_stat_activity` view
 * joined to the locks, which read and planned every backend's row each time (≈ 0.7 ms of the server's CPU a page
 * against ≈ 0.27).
 */
export function accountSyncHeldQuery(session: LockSession, accountId: string) {
  return sql<{ held: boolean }>`
    select exists (
      select 1 from pg_locks l
      where l.locktype = 'advisory' and l.granted and l.objsubid = 1
        and l.database = (select oid from pg_database where datname = current_database())
        and l.pid = ${session.pid}
        and l.classid = ((k.key >> 32) & 4294967295)::oid and l.objid = (k.key & 4294967295)::oid
    ) and exists (
      select 1 from pg_stat_get_activity(${session.pid}) a where a.backend_start = ${session.startedAt}::timestamptz
    ) as held
    from (select hashtextextended(${accountSyncKey(accountId)}, 0) as key) as k`;
}
