import { sql, type Kysely } from 'kysely';

/**
 * `webhook_endpoints.older_secret_*`: a second earlier signing secret. A rotation within the previous rotation's
 * grace period moves the secret still in its grace here instead of dropping it, so a receiver that has not switched
 * yet keeps verifying until that secret's own grace ends (`older_secret_expires_at`). Sealed like the others (the
 * endpoint id and the secret's version bound as associated data).
 *
 * Nullable columns without defaults: adding them rewrites nothing.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    alter table webhook_endpoints
      add column older_secret_ciphertext bytea,
      add column older_secret_iv bytea,
      add column older_secret_auth_tag bytea,
      add column older_secret_key_id text,
      add column older_secret_version integer,
      add column older_secret_expires_at timestamptz`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`
    alter table webhook_endpoints
      drop column older_secret_ciphertext,
      drop column older_secret_iv,
      drop column older_secret_auth_tag,
      drop column older_secret_key_id,
      drop column older_secret_version,
      drop column older_secret_expires_at`.execute(db);
}
