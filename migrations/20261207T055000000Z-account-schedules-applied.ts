import { type Kysely } from 'kysely';

/**
 * `bank_accounts.schedules_applied`: what the last schedule reconcile made Redis hold for the account (its runs per
 * day and time zone, or `none`), written in the reconcile's transaction once its Redis changes are done. A state
 * change whose reconcile request was lost (the process died after its commit, before the request reached Redis)
 * leaves the account's state and this column disagreeing; the workers' recovery sweep finds such accounts and
 * reconciles their integrations. Null: never reconciled since the column exists (the sweep reconciles it once).
 *
 * A nullable column without a default: adding it rewrites nothing.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('bank_accounts').addColumn('schedules_applied', 'text').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('bank_accounts').dropColumn('schedules_applied').execute();
}
