import { sql, type Kysely } from 'kysely';

/**
 * The bank's raw record (`transactions.raw`, ≈ 2.5 kB of jsonb, so always compressed) is compressed with lz4
 * instead of Postgres' default pglz. Measured by COPY of the same 30,000 backfilled rows into a table with only
 * the primary key and the identity key: 89–94 µs of backend CPU a row with pglz, 62–64 µs with lz4, for about
 * 14 % more space. The stored jsonb is the same value either way (compression is below the type), and rows
 * written before keep pglz until they are rewritten; both read back alike. A server built without lz4 keeps pglz.
 */
export async function up(db: Kysely<any>): Promise<void> {
  const lz4 = await sql<{ ok: boolean }>`
    select 'lz4' = any(enumvals) as ok from pg_settings where name = 'default_toast_compression'`.execute(db);
  if (lz4.rows[0]?.ok === true) {
    await sql`alter table transactions alter column raw set compression lz4`.execute(db);
  }
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`alter table transactions alter column raw set compression default`.execute(db);
}
