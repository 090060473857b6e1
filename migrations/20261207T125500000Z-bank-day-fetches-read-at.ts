import { type Kysely } from 'kysely';

/**
 * `bank_day_fetches.read_at`: the database clock before the first page of the walk (or the import) whose counts the
 * row holds. Two walks of one day may overlap (a validation re-fetch runs without the account's sync lock); the row
 * keeps the reading of the walk that began last, whichever commits last (src/storage/bank-day-fetches.repo.ts). Null
 * for rows written before the column existed: any new reading replaces them.
 *
 * A nullable column without a default: adding it rewrites nothing.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('bank_day_fetches').addColumn('read_at', 'timestamptz').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('bank_day_fetches').dropColumn('read_at').execute();
}
