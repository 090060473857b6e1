import { sql, type Kysely } from 'kysely';

/**
 * Exact bank text and records with odd fields (issue 14).
 *
 * - `transactions.narrative`: the bank's `narrativeText` exactly as sent (no backfill: that would rewrite
 *   every row; the read side falls back to `raw->'narrativeText'` for rows stored before);
 *   `transactions.data_quality`: `[{ field, problem }]` for a record stored although some field other
 *   than its money facts was missing, null or odd (null otherwise).
 * - A record without a usable `transactionId` is stored with `jpm_transaction_id = ''` and identified by
 *   its fingerprint key; ids longer than 200 characters are stored but are not keys either (a btree entry
 *   cannot hold 16k characters). The unique index covers the id keys only.
 * - The reference indexes skip references longer than 200 characters for the same reason (the read API's
 *   reference filter takes at most 200 characters, so it can never match a longer one).
 * - `sync_rejects` become one row per distinct bad record while it is open (`record_hash`, `seen_count`,
 *   `last_seen_at`), name the record (`jpm_transaction_id`, `record_index`, `booking_date`,
 *   `record_class`) and the fields, and are resolved (`resolved_at`, `resolution`) when a later sync stores
 *   the record or a complete walk of its day no longer has it. Existing rows get a unique legacy hash.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('transactions')
    .addColumn('narrative', 'jsonb')
    .addColumn('data_quality', 'jsonb')
    .execute();

  await db.schema.dropIndex('transactions_account_jpm_id_key').execute();
  await sql`create unique index transactions_account_jpm_id_key on transactions (account_id, post_code, jpm_transaction_id)
    where jpm_transaction_id <> '' and char_length(jpm_transaction_id) <= 200`.execute(db);
  await db.schema.dropIndex('transactions_org_bank_reference_idx').execute();
  await sql`create index transactions_org_bank_reference_idx on transactions (organization_id, bank_reference)
    where bank_reference <> '' and char_length(bank_reference) <= 200`.execute(db);
  await db.schema.dropIndex('transactions_org_customer_reference_idx').execute();
  await sql`create index transactions_org_customer_reference_idx on transactions (organization_id, customer_reference)
    where customer_reference <> '' and char_length(customer_reference) <= 200`.execute(db);

  await db.schema
    .alterTable('sync_rejects')
    .addColumn('record_hash', 'text')
    .addColumn('record_index', 'integer')
    .addColumn('jpm_transaction_id', 'text')
    .addColumn('booking_date', 'date')
    .addColumn('record_class', 'text')
    .addColumn('fields', sql`text[]`, (c) => c.notNull().defaultTo(sql`'{}'::text[]`))
    .addColumn('seen_count', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('last_seen_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('resolved_at', 'timestamptz')
    .addColumn('resolution', 'text')
    .execute();
  await sql`update sync_rejects set record_hash = 'legacy:' || id::text, last_seen_at = created_at,
    jpm_transaction_id = case when jsonb_typeof(raw) = 'object' then nullif(raw->>'transactionId', '') end`.execute(db);
  await sql`alter table sync_rejects alter column record_hash set not null`.execute(db);
  await sql`alter table sync_rejects add constraint sync_rejects_resolution_check
    check (resolution in ('stored', 'not_sent_again'))`.execute(db);
  await sql`create unique index sync_rejects_open_key on sync_rejects (account_id, record_type, record_hash)
    where resolved_at is null`.execute(db);
  await sql`create index sync_rejects_open_day_idx on sync_rejects (account_id, booking_date)
    where resolved_at is null`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('sync_rejects_open_day_idx').execute();
  await db.schema.dropIndex('sync_rejects_open_key').execute();
  await sql`alter table sync_rejects drop constraint sync_rejects_resolution_check`.execute(db);
  await db.schema
    .alterTable('sync_rejects')
    .dropColumn('record_hash')
    .dropColumn('record_index')
    .dropColumn('jpm_transaction_id')
    .dropColumn('booking_date')
    .dropColumn('record_class')
    .dropColumn('fields')
    .dropColumn('seen_count')
    .dropColumn('last_seen_at')
    .dropColumn('resolved_at')
    .dropColumn('resolution')
    .execute();
  await db.schema.dropIndex('transactions_org_customer_reference_idx').execute();
  await db.schema
    .createIndex('transactions_org_customer_reference_idx')
    .on('transactions')
    .columns(['organization_id', 'customer_reference'])
    .where('customer_reference', '<>', '')
    .execute();
  await db.schema.dropIndex('transactions_org_bank_reference_idx').execute();
  await db.schema
    .createIndex('transactions_org_bank_reference_idx')
    .on('transactions')
    .columns(['organization_id', 'bank_reference'])
    .where('bank_reference', '<>', '')
    .execute();
  // Rows without an id key cannot go back under the full unique index: give them their fingerprint key.
  await sql`update transactions set jpm_transaction_id = '~' || fingerprint_key
    where jpm_transaction_id = '' or char_length(jpm_transaction_id) > 200`.execute(db);
  await db.schema.dropIndex('transactions_account_jpm_id_key').execute();
  await db.schema
    .createIndex('transactions_account_jpm_id_key')
    .unique()
    .on('transactions')
    .columns(['account_id', 'post_code', 'jpm_transaction_id'])
    .execute();
  await db.schema.alterTable('transactions').dropColumn('narrative').dropColumn('data_quality').execute();
}
