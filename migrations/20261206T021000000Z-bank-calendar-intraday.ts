import { sql, type Kysely } from 'kysely';

/**
 * The bank's business calendar and intraday reconciliation (issue 14).
 *
 * - `bank_accounts.bank_business_day` / `bank_prior_business_day`: the account's current and prior
 *   business day as J.P. Morgan last reported them (the `asOfDate` of its CURRENT_DAY / PRIOR_DAY
 *   balance answers), with when we heard it. Plans use them; the clock only schedules.
 * - `bank_day_fetches.state`: `fetched` (the bank's posted data of a business day), `no_business_day`
 *   (the bank reports no business day for the date: weekend, holiday; nothing was owed) or
 *   `unexpectedly_empty` (a business day for which the bank returned nothing although the account
 *   normally has activity: flagged in the run and in coverage).
 * - `sync_runs.warnings`: what a run wants a person to notice without failing it
 *   (`[{ code, message, dates? }]`), and `bank_business_day`, the business day the bank answered for.
 * - `transaction_decisions.decision` gains `restored` (a withdrawn intraday item the bank shows again).
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('bank_accounts')
    .addColumn('bank_business_day', 'date')
    .addColumn('bank_prior_business_day', 'date')
    .addColumn('bank_calendar_at', 'timestamptz')
    .execute();
  await db.schema
    .alterTable('bank_day_fetches')
    .addColumn('state', 'text', (c) => c.notNull().defaultTo('fetched'))
    .execute();
  await db.schema
    .alterTable('bank_day_fetches')
    .addCheckConstraint(
      'bank_day_fetches_state_check',
      sql`state in ('fetched', 'no_business_day', 'unexpectedly_empty')`,
    )
    .execute();
  await db.schema
    .alterTable('sync_runs')
    .addColumn('warnings', 'jsonb', (c) => c.notNull().defaultTo(sql`'[]'::jsonb`))
    .addColumn('bank_business_day', 'date')
    .execute();
  await db.schema.alterTable('transaction_decisions').dropConstraint('transaction_decisions_decision_check').execute();
  await db.schema
    .alterTable('transaction_decisions')
    .addCheckConstraint(
      'transaction_decisions_decision_check',
      sql`decision in ('matched', 'superseded', 'removed', 're_identified', 'restored')`,
    )
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.deleteFrom('transaction_decisions').where('decision', '=', 'restored').execute();
  await db.schema.alterTable('transaction_decisions').dropConstraint('transaction_decisions_decision_check').execute();
  await db.schema
    .alterTable('transaction_decisions')
    .addCheckConstraint(
      'transaction_decisions_decision_check',
      sql`decision in ('matched', 'superseded', 'removed', 're_identified')`,
    )
    .execute();
  await db.schema.alterTable('sync_runs').dropColumn('warnings').dropColumn('bank_business_day').execute();
  await db.schema.alterTable('bank_day_fetches').dropConstraint('bank_day_fetches_state_check').execute();
  await db.schema.alterTable('bank_day_fetches').dropColumn('state').execute();
  await db.schema
    .alterTable('bank_accounts')
    .dropColumn('bank_business_day')
    .dropColumn('bank_prior_business_day')
    .dropColumn('bank_calendar_at')
    .execute();
}
