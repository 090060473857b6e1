import { decodeCursor, pageOf, type Page } from '../storage/pagination.ts';
import type { OutboxEventRow } from '../storage/outbox.repo.ts';

/**
 * One keyset page of milestone events, oldest first by sequence number; `fetch` reads rows after an
 * event id (onboarding's listMilestones, the outbox's listOutboxEvents).
 */
export async function pageMilestoneEvents(
  page: { cursor?: string | undefined; limit: number },
  fetch: (p: { afterId?: string; limit: number }) => Promise<OutboxEventRow[]>,
): Promise<Page<OutboxEventRow>> {
  const afterId = page.cursor === undefined ? undefined : decodeCursor(page.cursor, ['int'])[0];
  const rows = await fetch({ ...(afterId !== undefined ? { afterId } : {}), limit: page.limit + 1 });
  return pageOf(rows, page.limit, (r) => [String(r.id)]);
}
