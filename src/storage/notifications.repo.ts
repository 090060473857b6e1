import { sql } from 'kysely';
import type { Executor } from './db.ts';
import type { FeedPosition } from './change-feed.repo.ts';

/**
 * Milestone emails: the producer's position in the outbox, the deliveries (one per milestone per
 * recipient, unique on the source and address) and the log of every SMTP attempt.
 */
export async function lockNotificationPosition(ex: Executor): Promise<FeedPosition | undefined> {
  const r = await sql<{ xid: string; id: string }>`
    select position_xid::text as xid, position_id::text as id from notification_producer_state
    where source = 'outbox_events' for update skip locked`.execute(ex);
  return r.rows[0];
}

export async function setNotificationPosition(ex: Executor, p: FeedPosition): Promise<void> {
  await sql`update notification_producer_state
      set position_xid = ${p.xid}::xid8, position_id = ${p.id}::bigint, updated_at = now()
    where source = 'outbox_events'`.execute(ex);
}

export type NotificationSource = 'outbox' | 'validation_report' | 'customer_review';

export interface NewNotification {
  id: string;
  organizationId: string;
  integrationId: string;
  source: NotificationSource;
  sourceId: string;
  milestone: string;
  contactId: string | null;
  recipientEmail: string;
  recipientRole: string;
  params: Record<string, unknown>;
}

/**
 * Inserts pending deliveries; one that exists for the same source and address is left alone. Returns how many are new.
 */
export async function insertNotifications(
  ex: Executor,
  rows: readonly NewNotification[],
  maxAgeSeconds: number,
): Promise<number> {
  if (rows.length === 0) {
    return 0;
  }
  const r = await sql<{ id: string }>`
    insert into notification_deliveries
      (id, organization_id, integration_id, source, source_id, milestone, contact_id, recipient_email, recipient_role,
        params, give_up_at)
    select * from unnest(
      ${rows.map((n) => n.id)}::uuid[], ${rows.map((n) => n.organizationId)}::uuid[],
      ${rows.map((n) => n.integrationId)}::uuid[], ${rows.map((n) => n.source)}::text[],
      ${rows.map((n) => n.sourceId)}::text[], ${rows.map((n) => n.milestone)}::text[],
      ${rows.map((n) => n.contactId)}::uuid[], ${rows.map((n) => n.recipientEmail)}::text[],
      ${rows.map((n) => n.recipientRole)}::text[], ${rows.map((n) => JSON.stringify(n.params))}::jsonb[],
      array_fill(now() + make_interval(secs => ${maxAgeSeconds}::double precision), array[${rows.length}::int])
    )
    on conflict (source, source_id, lower(recipient_email)) do nothing
    returning id`.execute(ex);
  return r.rows.length;
}

/**
 * Pending deliveries past their last moment (email was off, or the server unreachable, for their
 * whole retry window) end as failed instead of going out late. Returns how many.
 */
export async function expireStaleNotifications(ex: Executor): Promise<number> {
  const r = await sql<{ id: string }>`
    update notification_deliveries set status = 'failed', completed_at = now(), locked_until = null,
      last_error = coalesce(last_error || '; ', '') || 'not sent in time: too late to be news'
    where status = 'pending' and give_up_at <= now() and (locked_until is null or locked_until < now())
    returning id`.execute(ex);
  return r.rows.length;
}

/** Claims due deliveries for one runner (SKIP LOCKED: concurrent runners never take the same one). */
export async function claimDueNotifications(ex: Executor, limit: number, lockSeconds: number): Promise<string[]> {
  const r = await sql<{ id: string }>`
    update notification_deliveries d
      set locked_until = now() + make_interval(secs => ${lockSeconds}::double precision), attempts = d.attempts + 1
    from (
      select id from notification_deliveries
      where status = 'pending' and next_attempt_at <= now() and give_up_at > now()
        and (locked_until is null or locked_until < now())
      order by next_attempt_at
      limit ${limit}
      for update skip locked
    ) due
    where d.id = due.id
    returning d.id`.execute(ex);
  return r.rows.map((x) => x.id);
}

export const NOTIFICATION_COLUMNS = [
  'id',
  'organization_id',
  'integration_id',
  'source',
  'source_id',
  'milestone',
  'contact_id',
  'recipient_email',
  'recipient_role',
  'params',
  'status',
  'attempts',
  'next_attempt_at',
  'give_up_at',
  'last_attempt_at',
  'last_error',
  'message_id',
  'created_at',
  'completed_at',
] as const;

export async function getNotification(ex: Executor, id: string) {
  return ex.selectFrom('notification_deliveries').select(NOTIFICATION_COLUMNS).where('id', '=', id).executeTakeFirst();
}

export interface NotificationAttempt {
  deliveryId: string;
  attempt: number;
  startedAt: Date;
  durationMs: number;
  sent: boolean;
  error: string | null;
  messageId: string | null;
  /** 0 when sent; otherwise when to try again (past `give_up_at` the delivery fails). */
  retryInMs: number;
}

/** Logs the attempt and moves the delivery to sent, pending (retry later) or failed (gave up). */
export async function recordNotificationAttempt(
  ex: Executor,
  a: NotificationAttempt,
): Promise<'sent' | 'pending' | 'failed'> {
  await ex
    .insertInto('notification_attempts')
    .values({
      delivery_id: a.deliveryId,
      attempt: a.attempt,
      started_at: a.startedAt,
      duration_ms: a.durationMs,
      outcome: a.sent ? 'sent' : 'failed',
      error: a.error,
    })
    .execute();
  const retry = sql`now() + make_interval(secs => ${a.retryInMs / 1000}::double precision)`;
  const r = await sql<{ status: 'sent' | 'pending' | 'failed' }>`
    update notification_deliveries set
      status = case when ${a.sent}::boolean then 'sent' when ${retry} > give_up_at then 'failed' else 'pending' end,
      next_attempt_at = ${retry},
      completed_at = case when ${a.sent}::boolean or ${retry} > give_up_at then now() end,
      locked_until = null, last_attempt_at = ${a.startedAt}, last_error = ${a.error},
      message_id = coalesce(${a.messageId}, message_id)
    where id = ${a.deliveryId}
    returning status`.execute(ex);
  return r.rows[0]?.status ?? 'failed';
}

/** An integration's deliveries, newest first, keyset-paginated on the id (a uuidv7 of the milestone's time). */
export async function listNotifications(
  ex: Executor,
  integrationId: string,
  opts: { limit: number; beforeId?: string | undefined },
) {
  let q = ex
    .selectFrom('notification_deliveries')
    .select(NOTIFICATION_COLUMNS)
    .where('integration_id', '=', integrationId);
  if (opts.beforeId !== undefined) {
    q = q.where('id', '<', opts.beforeId);
  }
  return q.orderBy('id', 'desc').limit(opts.limit).execute();
}

export async function listNotificationAttempts(ex: Executor, deliveryIds: readonly string[]) {
  if (deliveryIds.length === 0) {
    return [];
  }
  return ex
    .selectFrom('notification_attempts')
    .select(['delivery_id', 'attempt', 'started_at', 'duration_ms', 'outcome', 'error'])
    .where('delivery_id', 'in', deliveryIds)
    .orderBy('delivery_id')
    .orderBy('attempt')
    .execute();
}

/**
 * Passed validation reports completed since `since`, of integrations still validating (the
 * customer's review belongs to going live, not to every later report), that have not been
 * announced yet (a report is announced once: its deliveries carry its id). Reports are few (one
 * per request), so the scan is small.
 */
export async function passedReportsToAnnounce(ex: Executor, since: Date, limit: number) {
  return ex
    .selectFrom('validation_reports as r')
    .innerJoin('integrations as i', 'i.id', 'r.integration_id')
    .select([
      'r.id',
      'r.organization_id',
      'r.integration_id',
      'r.period_from',
      'r.period_to',
      'r.completed_at',
      'i.name as integration_name',
    ])
    .where('r.status', '=', 'completed')
    .where('r.passed', '=', true)
    .where('r.completed_at', '>=', since)
    .where('i.stage', '=', 'validating')
    .where((eb) =>
      eb.not(
        eb.exists(
          eb
            .selectFrom('notification_deliveries as n')
            .select('n.id')
            .where('n.source', '=', 'validation_report')
            .whereRef('n.source_id', '=', sql<string>`r.id::text`),
        ),
      ),
    )
    .orderBy('r.completed_at')
    .limit(limit)
    .execute();
}

/** Names of integrations (and their organizations) for message text. */
export async function integrationNames(ex: Executor, integrationIds: readonly string[]) {
  if (integrationIds.length === 0) {
    return [];
  }
  return ex
    .selectFrom('integrations as i')
    .innerJoin('organizations as o', 'o.id', 'i.organization_id')
    .select(['i.id', 'i.name', 'i.stage', 'i.stage_due_at', 'o.name as organization_name'])
    .where('i.id', 'in', integrationIds)
    .execute();
}
