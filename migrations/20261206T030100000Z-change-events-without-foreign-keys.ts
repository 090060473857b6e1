import { sql, type Kysely } from 'kysely';

/**
 * The foreign keys of `change_events` go. What each index and constraint costs per stored row is measured
 * by `npm run bench -- index-costs` (COPY of the same rows into the table with only its primary key, then
 * plus one index or the foreign keys; table in the README): the two foreign keys cost several times the
 * bare insert of an event (a lookup and a row lock in `organizations` and `bank_accounts` per event), and
 * they check nothing new: every event is written in the transaction that writes the row it describes
 * (a transaction or a balance), whose own foreign keys already checked the same organization and account.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table change_events drop constraint if exists change_events_organization_id_fkey`.execute(db);
  await sql`alter table change_events drop constraint if exists change_events_account_id_fkey`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`alter table change_events add constraint change_events_organization_id_fkey foreign key (organization_id) references organizations (id)`.execute(
    db,
  );
  await sql`alter table change_events add constraint change_events_account_id_fkey foreign key (account_id) references bank_accounts (id)`.execute(
    db,
  );
}
