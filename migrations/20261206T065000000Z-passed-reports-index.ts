import { sql, type Kysely } from 'kysely';

/**
 * Every worker asks every few seconds for passed validation reports completed since a moment (to
 * announce them to the customer). An index on exactly those rows, in completion order, answers it
 * with one short range scan however many reports accumulate, analyzed or not.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`create index validation_reports_passed_completed_idx on validation_reports (completed_at) where status = 'completed' and passed`.execute(
    db,
  );
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('validation_reports_passed_completed_idx').ifExists().execute();
}
