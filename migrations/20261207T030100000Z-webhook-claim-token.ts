import { type Kysely } from 'kysely';

/**
 * `webhook_deliveries.claim_token`: set to a fresh value each time a runner claims a delivery, cleared when the
 * attempt is recorded. A runner whose claim ran out (a stalled process, a send slower than its hold) finds another
 * token there and can no longer move the delivery on: it never puts an acknowledged delivery back to pending nor
 * reschedules one that another runner holds now (src/events/webhook-delivery.ts).
 *
 * A nullable column without a default: adding it rewrites nothing. Deliveries claimed before it (no token) are
 * claimed again when their hold runs out.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('webhook_deliveries').addColumn('claim_token', 'uuid').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('webhook_deliveries').dropColumn('claim_token').execute();
}
