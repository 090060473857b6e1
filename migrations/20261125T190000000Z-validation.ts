import { sql, type Kysely } from 'kysely';

/**
 * Validation (issue 9): the evidence that imported data is complete and not duplicated.
 *
 * - `bank_day_fetches`: what J.P. Morgan's posted (prior-day/history) data said about one account-day
 *   the last time a complete walk of it was stored: item count, credit/debit totals, and the count of
 *   identical items per fingerprint when above one. It is the bank's side of the duplicate check and
 *   the proof that a day's transactions were fetched at all.
 * - `account_days`: the balance proof per account and business day (proved / broken / unproved).
 * - `account_day_heals`: every automatic re-fetch of broken or unproved days, with the diff it caused.
 * - `duplicate_suspicions`: identical-looking live rows beyond what the bank reported, for a person to
 *   review; never merged automatically.
 * - `validation_reports`: the stored per-integration report the onboarding `live` guard reads.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('bank_day_fetches')
    .addColumn('account_id', 'uuid', (c) => c.notNull().references('bank_accounts.id'))
    .addColumn('booking_date', 'date', (c) => c.notNull())
    .addColumn('organization_id', 'uuid', (c) => c.notNull().references('organizations.id'))
    .addColumn('sync_run_id', 'uuid', (c) => c.references('sync_runs.id'))
    .addColumn('fetched_at', 'timestamptz', (c) => c.notNull())
    .addColumn('record_count', 'integer', (c) => c.notNull())
    .addColumn('credit_count', 'integer', (c) => c.notNull())
    .addColumn('debit_count', 'integer', (c) => c.notNull())
    .addColumn('credits_minor', 'bigint', (c) => c.notNull())
    .addColumn('debits_minor', 'bigint', (c) => c.notNull())
    // { "<fingerprint>": n } for fingerprints the bank reported more than once that day (absent = once).
    .addColumn('repeated_fingerprints', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addPrimaryKeyConstraint('bank_day_fetches_pkey', ['account_id', 'booking_date'])
    .execute();

  await db.schema
    .createTable('account_days')
    .addColumn('account_id', 'uuid', (c) => c.notNull().references('bank_accounts.id'))
    .addColumn('day', 'date', (c) => c.notNull())
    .addColumn('organization_id', 'uuid', (c) => c.notNull().references('organizations.id'))
    .addColumn('state', 'text', (c) => c.notNull())
    // Bank closing ledger − (opening ledger + credits − debits): the net amount our stored posted
    // transactions are short of (positive: credits missing or debits extra). Null unless broken.
    .addColumn('difference_minor', 'bigint')
    .addColumn('reason', 'text')
    .addColumn('currency', 'text', (c) => c.notNull())
    .addColumn('decimal_location', 'smallint', (c) => c.notNull())
    .addColumn('opening_ledger_minor', 'bigint')
    .addColumn('closing_ledger_minor', 'bigint')
    .addColumn('credits_minor', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('debits_minor', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('credit_count', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('debit_count', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('evidence', 'jsonb', (c) => c.notNull())
    // Automatic re-fetches of this day since it was last proved (bounded by configuration).
    .addColumn('heal_attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('last_heal_at', 'timestamptz')
    .addColumn('computed_at', 'timestamptz', (c) => c.notNull())
    .addPrimaryKeyConstraint('account_days_pkey', ['account_id', 'day'])
    .addCheckConstraint('account_days_state_check', sql`state in ('proved', 'broken', 'unproved')`)
    .addCheckConstraint(
      'account_days_difference_check',
      sql`(state = 'broken') = (difference_minor is not null and difference_minor <> 0)`,
    )
    .execute();
  await db.schema
    .createIndex('account_days_org_state_idx')
    .on('account_days')
    .columns(['organization_id', 'state'])
    .execute();
  await db.schema
    .createIndex('account_days_open_idx')
    .on('account_days')
    .columns(['account_id', 'day'])
    .where(sql.ref('state'), '<>', 'proved')
    .execute();

  await db.schema
    .createTable('account_day_heals')
    .addColumn('id', 'uuid', (c) => c.primaryKey())
    .addColumn('organization_id', 'uuid', (c) => c.notNull().references('organizations.id'))
    .addColumn('account_id', 'uuid', (c) => c.notNull().references('bank_accounts.id'))
    .addColumn('window_from', 'date', (c) => c.notNull())
    .addColumn('window_to', 'date', (c) => c.notNull())
    // The days that needed healing and the attempt number each was on.
    .addColumn('days', 'jsonb', (c) => c.notNull())
    .addColumn('outcome', 'text', (c) => c.notNull().defaultTo('running'))
    .addColumn('error_message', 'text')
    // { missing: [...], extra: [...], changed: [...] } between the stored rows before and after.
    .addColumn('diff', 'jsonb')
    .addColumn('states_before', 'jsonb', (c) => c.notNull())
    .addColumn('states_after', 'jsonb')
    .addColumn('started_at', 'timestamptz', (c) => c.notNull())
    .addColumn('finished_at', 'timestamptz')
    .addCheckConstraint(
      'account_day_heals_outcome_check',
      sql`outcome in ('running', 'healed', 'still_open', 'refetch_failed')`,
    )
    .execute();
  await db.schema
    .createIndex('account_day_heals_account_idx')
    .on('account_day_heals')
    .columns(['account_id', 'started_at'])
    .execute();

  await db.schema
    .createTable('duplicate_suspicions')
    .addColumn('id', 'uuid', (c) => c.primaryKey())
    .addColumn('organization_id', 'uuid', (c) => c.notNull().references('organizations.id'))
    .addColumn('account_id', 'uuid', (c) => c.notNull().references('bank_accounts.id'))
    .addColumn('booking_date', 'date', (c) => c.notNull())
    .addColumn('fingerprint', 'text', (c) => c.notNull())
    .addColumn('direction', 'text', (c) => c.notNull())
    .addColumn('amount_minor', 'bigint', (c) => c.notNull())
    .addColumn('currency', 'text', (c) => c.notNull())
    .addColumn('decimal_location', 'smallint', (c) => c.notNull())
    .addColumn('transaction_ids', sql`uuid[]`, (c) => c.notNull())
    .addColumn('live_count', 'integer', (c) => c.notNull())
    .addColumn('bank_count', 'integer', (c) => c.notNull())
    .addColumn('evidence', 'jsonb', (c) => c.notNull())
    // False once the evidence no longer holds (e.g. the extra row was resolved); kept for the record.
    .addColumn('active', 'boolean', (c) => c.notNull().defaultTo(true))
    .addColumn('status', 'text', (c) => c.notNull().defaultTo('open'))
    .addColumn('reviewed_by', 'text')
    .addColumn('reviewed_at', 'timestamptz')
    .addColumn('review_note', 'text')
    .addColumn('first_detected_at', 'timestamptz', (c) => c.notNull())
    .addColumn('last_detected_at', 'timestamptz', (c) => c.notNull())
    .addUniqueConstraint('duplicate_suspicions_group_key', ['account_id', 'booking_date', 'fingerprint'])
    .addCheckConstraint(
      'duplicate_suspicions_status_check',
      sql`status in ('open', 'confirmed_duplicate', 'not_duplicate')`,
    )
    .execute();
  await db.schema
    .createIndex('duplicate_suspicions_org_status_idx')
    .on('duplicate_suspicions')
    .columns(['organization_id', 'status', 'booking_date'])
    .execute();

  await db.schema
    .createTable('validation_reports')
    .addColumn('id', 'uuid', (c) => c.primaryKey())
    .addColumn('organization_id', 'uuid', (c) => c.notNull().references('organizations.id'))
    .addColumn('integration_id', 'uuid', (c) => c.notNull().references('integrations.id'))
    .addColumn('period_from', 'date', (c) => c.notNull())
    .addColumn('period_to', 'date', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull().defaultTo('running'))
    .addColumn('passed', 'boolean')
    .addColumn('reasons', 'jsonb', (c) => c.notNull().defaultTo(sql`'[]'::jsonb`))
    .addColumn('report', 'jsonb')
    .addColumn('requested_by', 'text', (c) => c.notNull())
    .addColumn('error_message', 'text')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('completed_at', 'timestamptz')
    .addCheckConstraint('validation_reports_status_check', sql`status in ('running', 'completed', 'failed')`)
    .addCheckConstraint('validation_reports_passed_check', sql`(status = 'completed') = (passed is not null)`)
    .execute();
  await db.schema
    .createIndex('validation_reports_integration_idx')
    .on('validation_reports')
    .columns(['integration_id', 'created_at', 'id'])
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const table of [
    'validation_reports',
    'duplicate_suspicions',
    'account_day_heals',
    'account_days',
    'bank_day_fetches',
  ]) {
    await db.schema.dropTable(table).ifExists().execute();
  }
}
