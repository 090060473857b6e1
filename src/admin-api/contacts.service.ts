import type { Database } from '../storage/db.ts';
import { listNotificationAttempts, listNotifications } from '../storage/notifications.repo.ts';
import { decodeCursor, pageOf, type Page } from '../storage/pagination.ts';

export type MilestoneEmail = Awaited<ReturnType<typeof listNotifications>>[number];
export type MilestoneEmailAttempt = Awaited<ReturnType<typeof listNotificationAttempts>>[number];

/**
 * One keyset page of an integration's milestone emails, newest first, each with its SMTP attempts
 * (`cursor`: the `nextCursor` of the page before).
 */
export async function pageMilestoneEmails(
  db: Database,
  integrationId: string,
  query: { cursor?: string | undefined; limit: number },
): Promise<Page<{ email: MilestoneEmail; attempts: MilestoneEmailAttempt[] }>> {
  const beforeId = query.cursor === undefined ? undefined : decodeCursor(query.cursor, ['uuid'])[0];
  const page = pageOf(
    await listNotifications(db, integrationId, { limit: query.limit + 1, beforeId }),
    query.limit,
    (r) => [r.id],
  );
  const attempts = await listNotificationAttempts(
    db,
    page.rows.map((r) => r.id),
  );
  return {
    rows: page.rows.map((email) => ({ email, attempts: attempts.filter((a) => a.delivery_id === email.id) })),
    nextCursor: page.nextCursor,
  };
}
