import { sql } from 'kysely';
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
