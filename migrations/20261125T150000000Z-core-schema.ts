import { sql, type Kysely } from 'kysely';

/**
 * Core tenancy and ingestion schema. Every row carries organization_id so tenant isolation can be
 * checked in SQL. Money is bigint minor units plus the currency's decimal_location; never numeric
 * floats. Dates are `date` (business days), instants `timestamptz`.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('organizations')
    .addColumn('id', 'uuid', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();

  await db.schema
    .createTable('integrations')
    .addColumn('id', 'uuid', (c) => c.primaryKey())
    .addColumn('organization_id', 'uuid', (c) => c.notNull().references('organizations.id'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('stage', 'text', (c) => c.notNull().defaultTo('requested'))
    .addColumn('environment', 'text', (c) => c.notNull().defaultTo('simulator'))
    .addColumn('base_url', 'text', (c) => c.notNull())
    .addColumn('server_ca_pem', 'text')
    .addColumn('sync_status', 'text', (c) => c.notNull().defaultTo('ok'))
    .addColumn('sync_status_reason', 'text')
    .addColumn('intraday_runs_per_day', 'integer', (c) => c.notNull().defaultTo(4))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addCheckConstraint('integrations_environment_check', sql`environment in ('simulator', 'cat', 'prod')`)
    .addCheckConstraint(
      'integrations_sync_status_check',
      sql`sync_status in ('ok', 'degraded', 'failed', 'certificate_expired')`,
    )
    .execute();
  await db.schema.createIndex('integrations_org_idx').on('integrations').columns(['organization_id', 'id']).execute();

  await db.schema
    .createTable('bank_accounts')
    .addColumn('id', 'uuid', (c) => c.primaryKey())
    .addColumn('organization_id', 'uuid', (c) => c.notNull().references('organizations.id'))
    .addColumn('integration_id', 'uuid', (c) => c.notNull().references('integrations.id'))
    .addColumn('jpm_account_id', 'text', (c) => c.notNull())
    .addColumn('bank_id', 'text', (c) => c.notNull())
    .addColumn('account_name', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('currency', 'text', (c) => c.notNull())
    .addColumn('decimal_location', 'smallint', (c) => c.notNull())
    .addColumn('time_zone', 'text', (c) => c.notNull().defaultTo('America/New_York'))
    .addColumn('status', 'text', (c) => c.notNull().defaultTo('active'))
    .addColumn('status_reason', 'text')
    .addColumn('schedule_override', 'jsonb')
    .addColumn('last_synced_at', 'timestamptz')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addUniqueConstraint('bank_accounts_integration_account_key', ['integration_id', 'jpm_account_id'])
    .addCheckConstraint('bank_accounts_status_check', sql`status in ('active', 'paused', 'removed', 'failed')`)
    .execute();
  await db.schema.createIndex('bank_accounts_org_idx').on('bank_accounts').columns(['organization_id', 'id']).execute();

  await db.schema
    .createTable('sync_runs')
    .addColumn('id', 'uuid', (c) => c.primaryKey())
    .addColumn('organization_id', 'uuid', (c) => c.notNull().references('organizations.id'))
    .addColumn('integration_id', 'uuid', (c) => c.notNull().references('integrations.id'))
    .addColumn('account_id', 'uuid', (c) => c.references('bank_accounts.id'))
    .addColumn('parent_run_id', 'uuid', (c) => c.references('sync_runs.id'))
    .addColumn('trigger', 'text', (c) => c.notNull())
    .addColumn('mode', 'text', (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull().defaultTo('all'))
    .addColumn('window_from', 'date')
    .addColumn('window_to', 'date')
    .addColumn('status', 'text', (c) => c.notNull().defaultTo('queued'))
    .addColumn('fetched', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('inserted', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('updated', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('unchanged', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('superseded', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('removed', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('rejected', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('balances', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('windows_total', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('windows_done', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('error_code', 'text')
    .addColumn('error_message', 'text')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('started_at', 'timestamptz')
    .addColumn('finished_at', 'timestamptz')
    .addCheckConstraint(
      'sync_runs_status_check',
      sql`status in ('queued', 'running', 'succeeded', 'partial', 'failed', 'cancelled')`,
    )
    .addCheckConstraint('sync_runs_mode_check', sql`mode in ('intraday', 'prior_day', 'range')`)
    .execute();
  await db.schema
    .createIndex('sync_runs_org_created_idx')
    .on('sync_runs')
    .columns(['organization_id', 'created_at', 'id'])
    .execute();
  await db.schema.createIndex('sync_runs_account_idx').on('sync_runs').columns(['account_id', 'created_at']).execute();
  await db.schema.createIndex('sync_runs_parent_idx').on('sync_runs').column('parent_run_id').execute();

  await db.schema
    .createTable('transactions')
    .addColumn('id', 'uuid', (c) => c.primaryKey())
    .addColumn('organization_id', 'uuid', (c) => c.notNull().references('organizations.id'))
    .addColumn('account_id', 'uuid', (c) => c.notNull().references('bank_accounts.id'))
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('direction', 'text', (c) => c.notNull())
    .addColumn('amount_minor', 'bigint', (c) => c.notNull())
    .addColumn('currency', 'text', (c) => c.notNull())
    .addColumn('decimal_location', 'smallint', (c) => c.notNull())
    .addColumn('booking_date', 'date', (c) => c.notNull())
    .addColumn('value_date', 'date')
    .addColumn('bai_type_code', 'text')
    .addColumn('bai_summary_code', 'text')
    .addColumn('bank_reference', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('customer_reference', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('jpm_transaction_id', 'text', (c) => c.notNull())
    .addColumn('post_code', 'text', (c) => c.notNull())
    .addColumn('fingerprint_key', 'text', (c) => c.notNull())
    .addColumn('content_hash', 'text', (c) => c.notNull())
    .addColumn('version', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('superseded_by', 'uuid', (c) => c.references('transactions.id'))
    .addColumn('raw', 'jsonb', (c) => c.notNull())
    .addColumn('first_seen_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addCheckConstraint('transactions_status_check', sql`status in ('pending', 'posted', 'superseded', 'removed')`)
    .addCheckConstraint('transactions_direction_check', sql`direction in ('credit', 'debit')`)
    .addCheckConstraint('transactions_amount_check', sql`amount_minor >= 0`)
    .execute();
  // Safety net under the per-account advisory lock: one row per J.P. Morgan id per account and record
  // class (an intraday id and a posted id are separate items even if the bank ever reused one).
  await db.schema
    .createIndex('transactions_account_jpm_id_key')
    .unique()
    .on('transactions')
    .columns(['account_id', 'post_code', 'jpm_transaction_id'])
    .execute();
  await db.schema
    .createIndex('transactions_account_fingerprint_idx')
    .on('transactions')
    .columns(['account_id', 'fingerprint_key'])
    .execute();
  await db.schema
    .createIndex('transactions_org_booking_idx')
    .on('transactions')
    .columns(['organization_id', 'booking_date', 'id'])
    .execute();

  await db.schema
    .createTable('transaction_versions')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('organization_id', 'uuid', (c) => c.notNull().references('organizations.id'))
    .addColumn('transaction_id', 'uuid', (c) => c.notNull().references('transactions.id'))
    .addColumn('version', 'integer', (c) => c.notNull())
    .addColumn('reason', 'text', (c) => c.notNull())
    .addColumn('changed_fields', sql`text[]`, (c) => c.notNull())
    .addColumn('previous', 'jsonb', (c) => c.notNull())
    .addColumn('sync_run_id', 'uuid', (c) => c.references('sync_runs.id'))
    .addColumn('changed_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addUniqueConstraint('transaction_versions_txn_version_key', ['transaction_id', 'version'])
    .execute();

  await db.schema
    .createTable('transaction_decisions')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('organization_id', 'uuid', (c) => c.notNull().references('organizations.id'))
    .addColumn('account_id', 'uuid', (c) => c.notNull().references('bank_accounts.id'))
    .addColumn('transaction_id', 'uuid', (c) => c.notNull().references('transactions.id'))
    .addColumn('related_transaction_id', 'uuid', (c) => c.references('transactions.id'))
    .addColumn('decision', 'text', (c) => c.notNull())
    .addColumn('rule', 'text', (c) => c.notNull())
    .addColumn('evidence', 'jsonb', (c) => c.notNull())
    .addColumn('sync_run_id', 'uuid', (c) => c.references('sync_runs.id'))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addCheckConstraint(
      'transaction_decisions_decision_check',
      sql`decision in ('matched', 'superseded', 'removed', 're_identified')`,
    )
    .execute();
  await db.schema
    .createIndex('transaction_decisions_txn_idx')
    .on('transaction_decisions')
    .column('transaction_id')
    .execute();
  await db.schema
    .createIndex('transaction_decisions_related_idx')
    .on('transaction_decisions')
    .column('related_transaction_id')
    .execute();

  await db.schema
    .createTable('balances')
    .addColumn('id', 'uuid', (c) => c.primaryKey())
    .addColumn('organization_id', 'uuid', (c) => c.notNull().references('organizations.id'))
    .addColumn('account_id', 'uuid', (c) => c.notNull().references('bank_accounts.id'))
    .addColumn('as_of_date', 'date', (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('currency', 'text', (c) => c.notNull())
    .addColumn('decimal_location', 'smallint', (c) => c.notNull())
    .addColumn('opening_ledger_minor', 'bigint')
    .addColumn('opening_available_minor', 'bigint')
    .addColumn('ending_ledger_minor', 'bigint')
    .addColumn('ending_available_minor', 'bigint')
    .addColumn('record_timestamp', 'timestamptz')
    .addColumn('content_hash', 'text', (c) => c.notNull())
    .addColumn('raw', 'jsonb', (c) => c.notNull())
    .addColumn('first_seen_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addUniqueConstraint('balances_account_date_kind_key', ['account_id', 'as_of_date', 'kind'])
    .addCheckConstraint('balances_kind_check', sql`kind in ('current_day', 'final')`)
    .execute();

  await db.schema
    .createTable('sync_rejects')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('organization_id', 'uuid', (c) => c.notNull().references('organizations.id'))
    .addColumn('account_id', 'uuid', (c) => c.references('bank_accounts.id'))
    .addColumn('sync_run_id', 'uuid', (c) => c.references('sync_runs.id'))
    .addColumn('record_type', 'text', (c) => c.notNull())
    .addColumn('reason', 'text', (c) => c.notNull())
    .addColumn('raw', 'jsonb', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();

  // Change feed. `xid` is the writing transaction's id: readers only return events whose transaction
  // is older than every transaction still running (pg_snapshot_xmin), so a lower sequence number that
  // commits late can never be skipped. See src/events/change-feed.ts.
  await db.schema
    .createTable('change_events')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('xid', sql`xid8`, (c) => c.notNull().defaultTo(sql`pg_current_xact_id()`))
    .addColumn('organization_id', 'uuid', (c) => c.notNull().references('organizations.id'))
    .addColumn('account_id', 'uuid', (c) => c.notNull().references('bank_accounts.id'))
    .addColumn('entity', 'text', (c) => c.notNull().defaultTo('transaction'))
    .addColumn('entity_id', 'uuid', (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addCheckConstraint('change_events_kind_check', sql`kind in ('added', 'modified', 'removed')`)
    .execute();
  await db.schema.createIndex('change_events_xid_id_idx').on('change_events').columns(['xid', 'id']).execute();
  await db.schema
    .createIndex('change_events_org_xid_id_idx')
    .on('change_events')
    .columns(['organization_id', 'xid', 'id'])
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const table of [
    'change_events',
    'sync_rejects',
    'balances',
    'transaction_decisions',
    'transaction_versions',
    'transactions',
    'sync_runs',
    'bank_accounts',
    'integrations',
    'organizations',
  ]) {
    await db.schema.dropTable(table).ifExists().execute();
  }
}
