import { sql } from 'kysely';
import type pg from 'pg';
import type { Executor } from './db.ts';

/**
 * Which database this is, as far as the change feed's positions are concerned: the Postgres cluster (the system
 * identifier initdb drew, kept by physical copies: base backups, standbys), the database's oid in it (new for every
 * `createdb`, `CREATE DATABASE … TEMPLATE` included) and the WAL timeline (new after a point-in-time or archive
 * recovery and after a standby's promotion). Values are decimal text.
 */
export interface DatabaseIdentity {
  /** null when the role may not call pg_control_system() (revoked from PUBLIC on some managed services). */
  system: string | null;
  database: string;
  timeline: string;
}

export interface RecordedDatabaseIdentity {
  system: string | null;
  database: string;
  timeline: string;
  recordedAt: Date;
}

/**
 * This database's identity, or null on a standby (in recovery its timeline is not the one it will write on; the
 * service writes to a primary only). The timeline is the first 8 hex digits of the current WAL file's name: current
 * right after a promotion, unlike pg_control_checkpoint()'s (the last checkpoint's, until the next one completes).
 * Every function used is executable by PUBLIC in stock Postgres; pg_control_system() is asked for only when the role
 * may execute it.
 */
export async function currentDatabaseIdentity(ex: Executor): Promise<DatabaseIdentity | null> {
  const { rows } = await sql<{ standby: boolean; database: string; system_readable: boolean }>`
    select pg_is_in_recovery() as standby, (select oid::text from pg_database where datname = current_database())
        as database, has_function_privilege('pg_catalog.pg_control_system()', 'execute') as system_readable`.execute(
    ex,
  );
  const row = rows[0];
  if (!row || row.standby) {
    return null;
  }
  const { rows: wal } = await sql<{ walfile: string; system: string | null }>`
    select pg_walfile_name(pg_current_wal_lsn()) as walfile,
      ${row.system_readable ? sql`(select system_identifier::text from pg_control_system())` : sql`null::text`} as system`.execute(
    ex,
  );
  const w = wal[0];
  return {
    system: w?.system ?? null,
    database: row.database,
    timeline: String(Number.parseInt((w?.walfile ?? '').slice(0, 8), 16)),
  };
}

/** The identity recorded beside the feed's epoch, or null when none is yet. */
export async function recordedDatabaseIdentity(ex: Executor): Promise<RecordedDatabaseIdentity | null> {
  const { rows } = await sql<{ system: string | null; database: string | null; timeline: string | null; at: Date }>`
    select database_system_identifier::text as system, database_oid::text as database,
      database_timeline::text as timeline, database_recorded_at as at
    from change_feed_state where id = 1`.execute(ex);
  const row = rows[0];
  if (!row || row.database === null || row.timeline === null) {
    return null;
  }
  return { system: row.system, database: row.database, timeline: row.timeline, recordedAt: row.at };
}

/**
 * Records `identity` as the feed's database. `onlyIfNone`: only when none is recorded (several processes starting at
 * once all record the same). Returns whether it was written.
 */
export async function recordDatabaseIdentity(
  ex: Executor,
  identity: DatabaseIdentity,
  options: { onlyIfNone?: boolean } = {},
): Promise<boolean> {
  const none = options.onlyIfNone ? sql`and database_oid is null` : sql``;
  const result = await sql`
    update change_feed_state set database_system_identifier = ${identity.system}::bigint,
      database_oid = ${identity.database}::bigint, database_timeline = ${identity.timeline}::bigint,
      database_recorded_at = now()
    where id = 1 ${none}`.execute(ex);
  return Number(result.numAffectedRows ?? 0n) > 0;
}

/** What one statement on a new session says: this database's identity, the recorded one, and the privilege. */
export interface SessionIdentity {
  current: DatabaseIdentity | null;
  recorded: RecordedDatabaseIdentity | null;
  /** Whether the role may call pg_control_system() (asked for the system identifier only when known to). */
  systemReadable: boolean;
}

/**
 * `currentDatabaseIdentity` and `recordedDatabaseIdentity` in ONE statement on a pg session, submitted before this
 * function returns: called from the pool's 'connect' event, it is the first statement on the wire, ahead of the
 * caller's (its own statement, never inside the caller's transaction). `withSystem`: the role is known to be allowed
 * pg_control_system() (a function the role may not execute fails the statement even in a branch not taken).
 */
export function sessionIdentity(client: pg.ClientBase, withSystem: boolean): Promise<SessionIdentity> {
  const text = `
    select pg_is_in_recovery() as standby, (select oid::text from pg_database where datname = current_database())
        as database, has_function_privilege('pg_catalog.pg_control_system()', 'execute') as system_readable,
      case when pg_is_in_recovery() then null else pg_walfile_name(pg_current_wal_lsn()) end as walfile,
      ${withSystem ? '(select system_identifier::text from pg_control_system())' : 'null::text'} as system,
      s.database_system_identifier::text as recorded_system, s.database_oid::text as recorded_database,
      s.database_timeline::text as recorded_timeline, s.database_recorded_at as recorded_at
    from (select 1) one left join change_feed_state s on s.id = 1`;
  return new Promise((resolve, reject) => {
    client.query(text, (err: Error | undefined, result: pg.QueryResult) => {
      if (err) {
        reject(err);
        return;
      }
      const row = result.rows[0] as
        | {
            standby: boolean;
            database: string;
            system_readable: boolean;
            walfile: string | null;
            system: string | null;
            recorded_system: string | null;
            recorded_database: string | null;
            recorded_timeline: string | null;
            recorded_at: Date;
          }
        | undefined;
      if (!row) {
        reject(new Error('no identity row'));
        return;
      }
      resolve({
        current: row.standby
          ? null
          : {
              system: row.system,
              database: row.database,
              timeline: String(Number.parseInt((row.walfile ?? '').slice(0, 8), 16)),
            },
        recorded:
          row.recorded_database === null || row.recorded_timeline === null
            ? null
            : {
                system: row.recorded_system,
                database: row.recorded_database,
                timeline: row.recorded_timeline,
                recordedAt: row.recorded_at,
              },
        systemReadable: row.system_readable,
      });
    });
  });
}
