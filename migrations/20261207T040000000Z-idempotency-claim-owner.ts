import { type Kysely } from 'kysely';

/**
 * `idempotency_keys.owner_token`: which request holds an in-flight claim. The request that claims a key writes a
 * fresh token and completes, releases or renews the claim only while the token is still its own, so a request whose
 * claim was taken over (its process looked dead) cannot store its answer over, or delete, the new owner's claim.
 * Rows written before this column have none: the code that wrote them finishes them, or a retry takes them over.
 *
 * A nullable column without a default: adding it rewrites nothing.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('idempotency_keys').addColumn('owner_token', 'uuid').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('idempotency_keys').dropColumn('owner_token').execute();
}
