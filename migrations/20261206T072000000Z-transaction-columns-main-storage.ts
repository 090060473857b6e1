import { sql, type Kysely } from 'kysely';

/**
 * Every `transactions` column but the raw record is kept in the row (storage `main`) unless it cannot fit. A row
 * is ≈ 2.4 kB even with its raw record compressed, over Postgres' 2 kB tuple target, so before the raw record went
 * out of line Postgres tried to compress the next largest columns with pglz (the narrative, the description, the
 * content hash), which never saves anything at their size: ≈ 2 % of the backends' CPU in a backfill (perf), 2–5 µs
 * a row when 20,000 backfilled rows are inserted into a table without indexes (35–39 → 33–35 µs of backend CPU,
 * two runs of three pairs). With `main` the raw record goes out of line first and nothing else is tried; a very
 * long value (a 16k-character narrative) is still compressed and, as a last resort, stored out of line. Storage
 * is below the values: every value reads back the same, and nothing is rewritten.
 */
const COLUMNS = [
  'status',
  'direction',
  'currency',
  'bai_type_code',
  'bai_summary_code',
  'bank_reference',
  'customer_reference',
  'description',
  'jpm_transaction_id',
  'post_code',
  'fingerprint_key',
  'content_hash',
  'narrative',
  'data_quality',
  'source',
];

export async function up(db: Kysely<any>): Promise<void> {
  await sql
    .raw(`alter table transactions ${COLUMNS.map((c) => `alter column ${c} set storage main`).join(', ')}`)
    .execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql
    .raw(`alter table transactions ${COLUMNS.map((c) => `alter column ${c} set storage extended`).join(', ')}`)
    .execute(db);
}
