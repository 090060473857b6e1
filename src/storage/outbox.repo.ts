import { sql } from 'kysely';
import type { Executor } from './db.ts';

/**
 * Transactional outbox for milestone events (integration stage changes, overdue, certificate
 * expiry). Writers insert in the same transaction as the change they announce; the events module
 * delivers them later. Kept generic: a type, a JSON payload and the tenant.
 */
export interface OutboxEventInput {
  organizationId: string;
  integrationId?: string | null;
  type: string;
  payload: Record<string, unknown>;
}

export interface OutboxEventRow {
  id: string;
  organization_id: string;
  integration_id: string | null;
  type: string;
  payload: unknown;
  created_at: Date;
}

export async function insertOutboxEvents(ex: Executor, events: readonly OutboxEventInput[]): Promise<void> {
  if (events.length === 0) {
    return;
  }
  await ex
    .insertInto('outbox_events')
    .values(
      events.map((e) => ({
        organization_id: e.organizationId,
        integration_id: e.integrationId ?? null,
        type: e.type,
        payload: JSON.stringify(e.payload),
      })),
    )
    .execute();
}

export async function listOutboxEvents(
  ex: Executor,
  filter: { organizationId?: string; integrationId?: string; type?: string; afterId?: string; limit?: number },
): Promise<OutboxEventRow[]> {
  let q = ex
    .selectFrom('outbox_events')
    .select(['id', 'organization_id', 'integration_id', 'type', 'payload', 'created_at'])
    .orderBy('id', 'asc')
    .limit(filter.limit ?? 100);
  if (filter.organizationId !== undefined) {
    q = q.where('organization_id', '=', filter.organizationId);
  }
  if (filter.integrationId !== undefined) {
    q = q.where('integration_id', '=', filter.integrationId);
  }
  if (filter.type !== undefined) {
    q = q.where('type', '=', filter.type);
  }
  if (filter.afterId !== undefined) {
    q = q.where('id', '>', sql<string>`${filter.afterId}::bigint`);
  }
  return q.execute();
}
