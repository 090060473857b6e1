import { sql, type Kysely } from 'kysely';

/**
 * The database the change feed's positions belong to, beside its epoch: the cluster's system identifier, the
 * database's oid and the WAL timeline. A dump restored into another cluster or a recreated database, a point-in-time
 * recovery or a standby's promotion changes one of them, while the feed's rows (restored with it) stay as they were;
 * `npm start` compares them (src/events/feed-database.ts). Empty until the service first starts on the database (a
 * database cloned from a migrated template starts with its own).
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table change_feed_state
      add column database_system_identifier bigint,
      add column database_oid bigint,
      add column database_timeline bigint,
      add column database_recorded_at timestamptz`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`alter table change_feed_state
      drop column database_system_identifier,
      drop column database_oid,
      drop column database_timeline,
      drop column database_recorded_at`.execute(db);
}
