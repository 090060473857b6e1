import { sql, type Kysely } from 'kysely';

/**
 * `posted_day_walks`: an API walk of an account's posted (prior-day or range) days that has stored a page and not yet
 * written its days' fetch evidence (`bank_day_fetches`). Written under the account's write lock with the walk's first
 * page, removed in its evidence's transaction: an interim previous-day statement import checks it under that lock, so
 * it never writes its items beside a day's rows the API stored in full whose evidence is still to come.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`create table posted_day_walks (
      account_id uuid not null references bank_accounts (id) on delete cascade,
      read_at timestamptz not null,
      from_date date not null,
      to_date date not null,
      primary key (account_id, read_at)
    )`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('posted_day_walks').execute();
}
