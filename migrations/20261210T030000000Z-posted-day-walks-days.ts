import { sql, type Kysely } from 'kysely';

/**
 * `posted_day_walks.days`: the days a walk marks when they are not every day from `from_date` to `to_date`. A final
 * statement import marks the days the file reports in full (a file of 3 and 28 November says nothing of the days
 * between); an API walk, which walks every day of its range, leaves it null.
 *
 * `posted_day_walks.sync_run_id`: the run (an API sync's window, or a statement import) that marked the days, so an
 * interim import refused for them names it and whether it is still running or failed.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table posted_day_walks add column days date[],
    add column sync_run_id uuid references sync_runs (id) on delete set null`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`alter table posted_day_walks drop column days, drop column sync_run_id`.execute(db);
}
