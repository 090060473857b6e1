import { sql, type Kysely } from 'kysely';

/**
 * Audit log of every authenticated mutating API call: who (key id and prefix), what (method and
 * route template), the target, the organization, when, the request id and the outcome status code.
 * `organization_id` and `target_id` carry no foreign key on purpose: an audit row must outlive and
 * never block the rows it talks about, and a failed create names an id that never existed.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('audit_log')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('occurred_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('request_id', 'text', (c) => c.notNull())
    .addColumn('api_key_id', 'uuid', (c) => c.references('api_keys.id'))
    .addColumn('api_key_prefix', 'text')
    .addColumn('organization_id', 'uuid')
    .addColumn('method', 'text', (c) => c.notNull())
    .addColumn('route', 'text', (c) => c.notNull())
    .addColumn('target_type', 'text')
    .addColumn('target_id', 'text')
    .addColumn('status_code', 'smallint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('audit_log_org_id_idx').on('audit_log').columns(['organization_id', 'id']).execute();
  await db.schema.createIndex('audit_log_key_id_idx').on('audit_log').columns(['api_key_id', 'id']).execute();
  await db.schema.createIndex('audit_log_target_idx').on('audit_log').columns(['target_id', 'id']).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('audit_log').ifExists().execute();
}
