import { sql, type Kysely } from 'kysely';

/**
 * The customer's side of onboarding.
 *
 * - `integration_contacts`: the customer's people (finance owner, security administrator,
 *   controller) and our account manager, per integration. Removing one keeps the row (`removed_at`)
 *   so the delivery log still names who a message went to.
 * - `notification_deliveries` / `notification_attempts`: one email per milestone per recipient
 *   (unique on the source event and address, so a milestone is never mailed twice) and every SMTP
 *   attempt. The producer's position in the milestone outbox is `notification_producer_state`,
 *   advanced in the transaction that creates the deliveries.
 * - `review_links`, `customer_reviews`, `customer_review_settings`: the signed review link a
 *   customer's controller gets when validation passes, what they answered (and on which report),
 *   and whether going live waits for that sign-off.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('integration_contacts')
    .addColumn('id', 'uuid', (c) => c.primaryKey())
    .addColumn('organization_id', 'uuid', (c) => c.notNull().references('organizations.id'))
    .addColumn('integration_id', 'uuid', (c) => c.notNull().references('integrations.id'))
    .addColumn('role', 'text', (c) => c.notNull())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('email', 'text', (c) => c.notNull())
    .addColumn('created_by', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('removed_at', 'timestamptz')
    .addCheckConstraint(
      'integration_contacts_role_check',
      sql`role in ('finance_owner', 'security_admin', 'controller', 'account_manager')`,
    )
    .execute();
  await sql`create unique index integration_contacts_current_idx on integration_contacts (integration_id, role, lower(email)) where removed_at is null`.execute(
    db,
  );

  await db.schema
    .createTable('notification_deliveries')
    .addColumn('id', 'uuid', (c) => c.primaryKey())
    .addColumn('organization_id', 'uuid', (c) => c.notNull().references('organizations.id'))
    .addColumn('integration_id', 'uuid', (c) => c.notNull().references('integrations.id'))
    // What caused the message: an outbox event id, a validation report id or a customer review id.
    .addColumn('source', 'text', (c) => c.notNull())
    .addColumn('source_id', 'text', (c) => c.notNull())
    .addColumn('milestone', 'text', (c) => c.notNull())
    .addColumn('contact_id', 'uuid', (c) => c.references('integration_contacts.id'))
    .addColumn('recipient_email', 'text', (c) => c.notNull())
    .addColumn('recipient_role', 'text', (c) => c.notNull())
    // The template's inputs (no secrets, no account numbers): the message is rendered at send time.
    .addColumn('params', 'jsonb', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull().defaultTo('pending'))
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('next_attempt_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('give_up_at', 'timestamptz', (c) => c.notNull())
    .addColumn('locked_until', 'timestamptz')
    .addColumn('last_attempt_at', 'timestamptz')
    .addColumn('last_error', 'text')
    .addColumn('message_id', 'text')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('completed_at', 'timestamptz')
    .addCheckConstraint('notification_deliveries_status_check', sql`status in ('pending', 'sent', 'failed')`)
    .addCheckConstraint(
      'notification_deliveries_source_check',
      sql`source in ('outbox', 'validation_report', 'customer_review')`,
    )
    .execute();
  await sql`create unique index notification_deliveries_once_idx on notification_deliveries (source, source_id, lower(recipient_email))`.execute(
    db,
  );
  await db.schema
    .createIndex('notification_deliveries_due_idx')
    .on('notification_deliveries')
    .column('next_attempt_at')
    .where(sql.ref('status'), '=', 'pending')
    .execute();
  await db.schema
    .createIndex('notification_deliveries_integration_idx')
    .on('notification_deliveries')
    .columns(['integration_id', 'id'])
    .execute();

  await db.schema
    .createTable('notification_attempts')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('delivery_id', 'uuid', (c) => c.notNull().references('notification_deliveries.id'))
    .addColumn('attempt', 'integer', (c) => c.notNull())
    .addColumn('started_at', 'timestamptz', (c) => c.notNull())
    .addColumn('duration_ms', 'integer', (c) => c.notNull())
    .addColumn('outcome', 'text', (c) => c.notNull())
    .addColumn('error', 'text')
    .addCheckConstraint('notification_attempts_outcome_check', sql`outcome in ('sent', 'failed')`)
    .execute();
  await db.schema
    .createIndex('notification_attempts_delivery_idx')
    .on('notification_attempts')
    .columns(['delivery_id', 'attempt'])
    .execute();

  await db.schema
    .createTable('notification_producer_state')
    .addColumn('source', 'text', (c) => c.primaryKey())
    .addColumn('position_xid', sql`xid8`, (c) => c.notNull().defaultTo(sql`'0'::xid8`))
    .addColumn('position_id', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addCheckConstraint('notification_producer_state_source_check', sql`source in ('outbox_events')`)
    .execute();
  await sql`insert into notification_producer_state (source) values ('outbox_events')`.execute(db);

  await db.schema
    .createTable('review_links')
    .addColumn('id', 'uuid', (c) => c.primaryKey())
    .addColumn('organization_id', 'uuid', (c) => c.notNull().references('organizations.id'))
    .addColumn('integration_id', 'uuid', (c) => c.notNull().references('integrations.id'))
    .addColumn('report_id', 'uuid', (c) => c.notNull().references('validation_reports.id'))
    .addColumn('contact_id', 'uuid', (c) => c.notNull().references('integration_contacts.id'))
    .addColumn('expires_at', 'timestamptz', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await sql`create unique index review_links_once_idx on review_links (report_id, contact_id)`.execute(db);

  await db.schema
    .createTable('customer_reviews')
    .addColumn('id', 'uuid', (c) => c.primaryKey())
    .addColumn('organization_id', 'uuid', (c) => c.notNull().references('organizations.id'))
    .addColumn('integration_id', 'uuid', (c) => c.notNull().references('integrations.id'))
    .addColumn('link_id', 'uuid', (c) => c.notNull().references('review_links.id'))
    .addColumn('report_id', 'uuid', (c) => c.notNull().references('validation_reports.id'))
    .addColumn('contact_id', 'uuid', (c) => c.notNull().references('integration_contacts.id'))
    .addColumn('reviewer_name', 'text', (c) => c.notNull())
    .addColumn('reviewer_email', 'text', (c) => c.notNull())
    .addColumn('verdict', 'text', (c) => c.notNull())
    .addColumn('note', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('transaction_ids', sql`uuid[]`, (c) => c.notNull().defaultTo(sql`'{}'::uuid[]`))
    // "Something is wrong" opens a follow-up on the integration; an operator resolves it.
    .addColumn('follow_up_status', 'text')
    .addColumn('follow_up_resolved_at', 'timestamptz')
    .addColumn('follow_up_resolved_by', 'text')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addCheckConstraint('customer_reviews_verdict_check', sql`verdict in ('accurate', 'problem')`)
    .addCheckConstraint(
      'customer_reviews_follow_up_check',
      sql`follow_up_status is null or follow_up_status in ('open', 'resolved')`,
    )
    .execute();
  await db.schema
    .createIndex('customer_reviews_integration_idx')
    .on('customer_reviews')
    .columns(['integration_id', 'id'])
    .execute();

  await db.schema
    .createTable('customer_review_settings')
    .addColumn('integration_id', 'uuid', (c) => c.primaryKey().references('integrations.id'))
    .addColumn('organization_id', 'uuid', (c) => c.notNull().references('organizations.id'))
    .addColumn('require_signoff_for_live', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('updated_by', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const table of [
    'customer_review_settings',
    'customer_reviews',
    'review_links',
    'notification_producer_state',
    'notification_attempts',
    'notification_deliveries',
    'integration_contacts',
  ]) {
    await db.schema.dropTable(table).ifExists().execute();
  }
}
