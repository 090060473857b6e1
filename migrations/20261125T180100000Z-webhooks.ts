import { sql, type Kysely } from 'kysely';

/**
 * Webhooks (issue 8). An organization registers endpoints with the event types it wants. A producer
 * turns committed change_events (one `transactions.changed` per organization per poll) and
 * outbox_events (milestones) into `webhook_events`, with one `webhook_deliveries` row per subscribed
 * endpoint, in the same transaction that advances its position in `webhook_producer_state`: so each
 * source event becomes deliveries exactly once. Every HTTP attempt is a `webhook_delivery_attempts` row.
 *
 * Signing secrets are needed in clear to compute HMACs, so they are stored AES-256-GCM encrypted
 * under the credentials master key (`secret_key_id` names it), never hashed and never in clear.
 * After a rotation the previous secret stays until `previous_secret_expires_at` and both sign.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('webhook_endpoints')
    .addColumn('id', 'uuid', (c) => c.primaryKey())
    .addColumn('organization_id', 'uuid', (c) => c.notNull().references('organizations.id'))
    .addColumn('url', 'text', (c) => c.notNull())
    .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('event_types', sql`text[]`, (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull().defaultTo('active'))
    .addColumn('secret_ciphertext', 'bytea', (c) => c.notNull())
    .addColumn('secret_iv', 'bytea', (c) => c.notNull())
    .addColumn('secret_auth_tag', 'bytea', (c) => c.notNull())
    .addColumn('secret_key_id', 'text', (c) => c.notNull())
    .addColumn('secret_version', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('previous_secret_ciphertext', 'bytea')
    .addColumn('previous_secret_iv', 'bytea')
    .addColumn('previous_secret_auth_tag', 'bytea')
    .addColumn('previous_secret_key_id', 'text')
    .addColumn('previous_secret_version', 'integer')
    .addColumn('previous_secret_expires_at', 'timestamptz')
    .addColumn('secret_rotated_at', 'timestamptz')
    .addColumn('created_by', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addCheckConstraint('webhook_endpoints_status_check', sql`status in ('active', 'disabled', 'deleted')`)
    .execute();
  await db.schema
    .createIndex('webhook_endpoints_org_idx')
    .on('webhook_endpoints')
    .columns(['organization_id', 'id'])
    .execute();

  await db.schema
    .createTable('webhook_events')
    .addColumn('id', 'uuid', (c) => c.primaryKey())
    .addColumn('organization_id', 'uuid', (c) => c.notNull().references('organizations.id'))
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('payload', 'jsonb', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema
    .createIndex('webhook_events_org_idx')
    .on('webhook_events')
    .columns(['organization_id', 'created_at'])
    .execute();

  await db.schema
    .createTable('webhook_deliveries')
    .addColumn('id', 'uuid', (c) => c.primaryKey())
    .addColumn('organization_id', 'uuid', (c) => c.notNull().references('organizations.id'))
    .addColumn('endpoint_id', 'uuid', (c) => c.notNull().references('webhook_endpoints.id'))
    .addColumn('event_id', 'uuid', (c) => c.notNull().references('webhook_events.id'))
    .addColumn('status', 'text', (c) => c.notNull().defaultTo('pending'))
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('next_attempt_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    // Retries stop after this instant (a day after the delivery was created, by default).
    .addColumn('give_up_at', 'timestamptz', (c) => c.notNull())
    // A runner that claimed the delivery holds it until then; a crashed runner's claim simply expires.
    .addColumn('locked_until', 'timestamptz')
    .addColumn('last_attempt_at', 'timestamptz')
    .addColumn('last_response_status', 'integer')
    .addColumn('last_error', 'text')
    .addColumn('replay_of', 'uuid', (c) => c.references('webhook_deliveries.id'))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('completed_at', 'timestamptz')
    .addCheckConstraint('webhook_deliveries_status_check', sql`status in ('pending', 'succeeded', 'failed')`)
    .execute();
  await db.schema
    .createIndex('webhook_deliveries_endpoint_idx')
    .on('webhook_deliveries')
    .columns(['endpoint_id', 'created_at', 'id'])
    .execute();
  await db.schema
    .createIndex('webhook_deliveries_due_idx')
    .on('webhook_deliveries')
    .column('next_attempt_at')
    .where(sql.ref('status'), '=', 'pending')
    .execute();
  await db.schema.createIndex('webhook_deliveries_event_idx').on('webhook_deliveries').column('event_id').execute();

  await db.schema
    .createTable('webhook_delivery_attempts')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('organization_id', 'uuid', (c) => c.notNull().references('organizations.id'))
    .addColumn('delivery_id', 'uuid', (c) => c.notNull().references('webhook_deliveries.id'))
    .addColumn('endpoint_id', 'uuid', (c) => c.notNull().references('webhook_endpoints.id'))
    .addColumn('attempt', 'integer', (c) => c.notNull())
    .addColumn('started_at', 'timestamptz', (c) => c.notNull())
    .addColumn('duration_ms', 'integer', (c) => c.notNull())
    .addColumn('outcome', 'text', (c) => c.notNull())
    .addColumn('response_status', 'integer')
    .addColumn('error', 'text')
    .addCheckConstraint('webhook_delivery_attempts_outcome_check', sql`outcome in ('succeeded', 'failed')`)
    .execute();
  await db.schema
    .createIndex('webhook_delivery_attempts_delivery_idx')
    .on('webhook_delivery_attempts')
    .columns(['delivery_id', 'attempt'])
    .execute();

  // The producer's position in each source, advanced in the transaction that creates the deliveries.
  await db.schema
    .createTable('webhook_producer_state')
    .addColumn('source', 'text', (c) => c.primaryKey())
    .addColumn('position_xid', sql`xid8`, (c) => c.notNull().defaultTo(sql`'0'::xid8`))
    .addColumn('position_id', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addCheckConstraint('webhook_producer_state_source_check', sql`source in ('change_events', 'outbox_events')`)
    .execute();
  await sql`insert into webhook_producer_state (source) values ('change_events'), ('outbox_events')`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const table of [
    'webhook_producer_state',
    'webhook_delivery_attempts',
    'webhook_deliveries',
    'webhook_events',
    'webhook_endpoints',
  ]) {
    await db.schema.dropTable(table).ifExists().execute();
  }
}
