import { sql, type Kysely } from 'kysely';

/**
 * Admin/read API keys. Only a SHA-256 hash of the whole key is stored: keys are 238 random bits, so a
 * fast hash cannot be brute-forced and a slow KDF (bcrypt/argon2) would only add latency to every
 * request. `prefix` is the visible, unique part (`jpms_<prefix>_…`) used to find the row and to name
 * the key in lists, logs and the audit log. `organization_id` null = the key sees every organization.
 * Keys are never deleted (audit rows point at them); revoking sets `revoked_at`.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('api_keys')
    .addColumn('id', 'uuid', (c) => c.primaryKey())
    .addColumn('prefix', 'text', (c) => c.notNull().unique())
    .addColumn('key_hash', 'text', (c) => c.notNull().unique())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('role', 'text', (c) => c.notNull())
    .addColumn('organization_id', 'uuid', (c) => c.references('organizations.id'))
    .addColumn('created_by_key_id', 'uuid', (c) => c.references('api_keys.id'))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('last_used_at', 'timestamptz')
    .addColumn('revoked_at', 'timestamptz')
    .addCheckConstraint('api_keys_role_check', sql`role in ('admin', 'operator', 'viewer')`)
    .execute();
  await db.schema.createIndex('api_keys_org_idx').on('api_keys').columns(['organization_id', 'id']).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('api_keys').ifExists().execute();
}
