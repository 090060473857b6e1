import { sql, type Kysely } from 'kysely';

/**
 * Onboarding lifecycle (issue 6): the facts each stage guard needs live on `integrations`; every
 * stage change is a row in `integration_transitions`; milestone events go to `outbox_events` in the
 * same transaction as the change they announce.
 *
 * Credentials: a private key is only ever stored as AES-256-GCM ciphertext under a random data key,
 * and the data key is stored wrapped by the master key named in `master_key_id` (envelope
 * encryption, so rotating the master key re-wraps 32-byte data keys, never re-encrypts keys).
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('integrations')
    // { jpmAccessAccount, notChaseConnect, jpmRepresentative, signingAuthority }
    .addColumn('eligibility', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('jpm_project_id', 'text')
    .addColumn('api_access_products', sql`text[]`, (c) => c.notNull().defaultTo(sql`'{}'::text[]`))
    .addColumn('api_access_requested_at', 'timestamptz')
    .addColumn('api_access_confirmed_at', 'timestamptz')
    .addColumn('stage_entered_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('stage_due_at', 'timestamptz')
    .addColumn('stage_overdue_flagged_at', 'timestamptz')
    .addColumn('process_due_at', 'timestamptz')
    .addColumn('process_overdue_flagged_at', 'timestamptz')
    // The stage a paused integration resumes to.
    .addColumn('paused_from_stage', 'text')
    // Per-integration override of the expectations (days per stage, whole process); null = defaults.
    .addColumn('expectations', 'jsonb')
    .addColumn('live_at', 'timestamptz')
    .execute();
  await sql`alter table integrations add constraint integrations_stage_check check (stage in ('requested', 'kickoff', 'technical_setup', 'security_admins', 'awaiting_approval', 'approved', 'validating', 'live', 'paused', 'cancelled'))`.execute(
    db,
  );
  await db.schema
    .createIndex('integrations_stage_due_idx')
    .on('integrations')
    .columns(['stage_due_at'])
    .where(sql.ref('stage_due_at'), 'is not', null)
    .execute();

  await db.schema
    .createTable('integration_transitions')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('organization_id', 'uuid', (c) => c.notNull().references('organizations.id'))
    .addColumn('integration_id', 'uuid', (c) => c.notNull().references('integrations.id'))
    // null on the first row: the integration's creation.
    .addColumn('from_stage', 'text')
    .addColumn('to_stage', 'text', (c) => c.notNull())
    .addColumn('actor', 'text', (c) => c.notNull())
    .addColumn('note', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema
    .createIndex('integration_transitions_integration_idx')
    .on('integration_transitions')
    .columns(['integration_id', 'id'])
    .execute();

  await db.schema
    .createTable('security_admins')
    .addColumn('id', 'uuid', (c) => c.primaryKey())
    .addColumn('organization_id', 'uuid', (c) => c.notNull().references('organizations.id'))
    .addColumn('integration_id', 'uuid', (c) => c.notNull().references('integrations.id'))
    .addColumn('side', 'text', (c) => c.notNull())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('email', 'text', (c) => c.notNull())
    .addColumn('role', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addCheckConstraint('security_admins_side_check', sql`side in ('customer', 'ours')`)
    .execute();
  await sql`create unique index security_admins_integration_side_email_key on security_admins (integration_id, side, lower(email))`.execute(
    db,
  );

  await db.schema
    .createTable('key_pairs')
    .addColumn('id', 'uuid', (c) => c.primaryKey())
    .addColumn('organization_id', 'uuid', (c) => c.notNull().references('organizations.id'))
    .addColumn('integration_id', 'uuid', (c) => c.notNull().references('integrations.id'))
    .addColumn('environment', 'text', (c) => c.notNull())
    .addColumn('algorithm', 'text', (c) => c.notNull())
    .addColumn('subject', 'text', (c) => c.notNull())
    .addColumn('common_name', 'text', (c) => c.notNull())
    .addColumn('csr_pem', 'text', (c) => c.notNull())
    // SHA-256 of the DER SubjectPublicKeyInfo: how an issued certificate is matched to its key.
    .addColumn('public_key_sha256', 'text', (c) => c.notNull())
    .addColumn('private_key_ciphertext', 'bytea', (c) => c.notNull())
    .addColumn('private_key_iv', 'bytea', (c) => c.notNull())
    .addColumn('private_key_auth_tag', 'bytea', (c) => c.notNull())
    .addColumn('wrapped_data_key', 'bytea', (c) => c.notNull())
    .addColumn('data_key_iv', 'bytea', (c) => c.notNull())
    .addColumn('data_key_auth_tag', 'bytea', (c) => c.notNull())
    .addColumn('master_key_id', 'text', (c) => c.notNull())
    .addColumn('created_by', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('rewrapped_at', 'timestamptz')
    .addCheckConstraint('key_pairs_environment_check', sql`environment in ('simulator', 'cat', 'prod')`)
    .execute();
  await db.schema
    .createIndex('key_pairs_integration_idx')
    .on('key_pairs')
    .columns(['integration_id', 'created_at'])
    .execute();
  await db.schema
    .createIndex('key_pairs_public_key_idx')
    .on('key_pairs')
    .columns(['integration_id', 'public_key_sha256'])
    .execute();

  await db.schema
    .createTable('certificates')
    .addColumn('id', 'uuid', (c) => c.primaryKey())
    .addColumn('organization_id', 'uuid', (c) => c.notNull().references('organizations.id'))
    .addColumn('integration_id', 'uuid', (c) => c.notNull().references('integrations.id'))
    .addColumn('key_pair_id', 'uuid', (c) => c.notNull().references('key_pairs.id'))
    .addColumn('environment', 'text', (c) => c.notNull())
    .addColumn('certificate_pem', 'text', (c) => c.notNull())
    .addColumn('chain_pem', 'text')
    .addColumn('fingerprint_sha256', 'text', (c) => c.notNull())
    .addColumn('serial_number', 'text', (c) => c.notNull())
    .addColumn('subject_cn', 'text', (c) => c.notNull())
    .addColumn('issuer', 'text', (c) => c.notNull())
    .addColumn('not_before', 'timestamptz', (c) => c.notNull())
    .addColumn('not_after', 'timestamptz', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull().defaultTo('active'))
    .addColumn('installed_by', 'text', (c) => c.notNull())
    .addColumn('installed_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('retired_by', 'text')
    .addColumn('retired_at', 'timestamptz')
    .addColumn('expired_at', 'timestamptz')
    // Days-before-expiry thresholds (60, 30, 7) already warned about, so each warning goes out once.
    .addColumn('expiry_warnings_sent', sql`integer[]`, (c) => c.notNull().defaultTo(sql`'{}'::integer[]`))
    .addCheckConstraint('certificates_status_check', sql`status in ('active', 'retired', 'expired')`)
    .addUniqueConstraint('certificates_integration_fingerprint_key', ['integration_id', 'fingerprint_sha256'])
    .execute();
  await db.schema
    .createIndex('certificates_active_idx')
    .on('certificates')
    .columns(['integration_id', 'subject_cn', 'not_after'])
    .where(sql.ref('status'), '=', 'active')
    .execute();

  // Transactional outbox for milestone events. Generic on purpose: the delivery side (events/, issue 8)
  // only needs type, payload and the tenant. `xid` lets a reader skip nothing that commits late,
  // exactly as change_events does.
  await db.schema
    .createTable('outbox_events')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('xid', sql`xid8`, (c) => c.notNull().defaultTo(sql`pg_current_xact_id()`))
    .addColumn('organization_id', 'uuid', (c) => c.notNull().references('organizations.id'))
    .addColumn('integration_id', 'uuid', (c) => c.references('integrations.id'))
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('payload', 'jsonb', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema.createIndex('outbox_events_xid_id_idx').on('outbox_events').columns(['xid', 'id']).execute();
  await db.schema
    .createIndex('outbox_events_integration_idx')
    .on('outbox_events')
    .columns(['integration_id', 'id'])
    .execute();
  await db.schema.createIndex('outbox_events_org_idx').on('outbox_events').columns(['organization_id', 'id']).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const table of ['outbox_events', 'certificates', 'key_pairs', 'security_admins', 'integration_transitions']) {
    await db.schema.dropTable(table).ifExists().execute();
  }
  await sql`alter table integrations drop constraint if exists integrations_stage_check`.execute(db);
  await db.schema.dropIndex('integrations_stage_due_idx').ifExists().execute();
  let alter = db.schema.alterTable('integrations').dropColumn('eligibility');
  for (const column of [
    'jpm_project_id',
    'api_access_products',
    'api_access_requested_at',
    'api_access_confirmed_at',
    'stage_entered_at',
    'stage_due_at',
    'stage_overdue_flagged_at',
    'process_due_at',
    'process_overdue_flagged_at',
    'paused_from_stage',
    'expectations',
    'live_at',
  ]) {
    alter = alter.dropColumn(column);
  }
  await alter.execute();
}
