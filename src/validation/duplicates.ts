import { sql } from 'kysely';
import { NotFoundError } from '../shared/errors.ts';
import type { IsoDate } from '../shared/time.ts';
import type { Executor } from '../storage/db.ts';

/**
 * Duplicate suspicion. Rows "look the same" when they share the ingestion fingerprint: account,
 * booking date, direction, amount, currency, BAI type and both references (the middle part of
 * `fingerprint_key`). Looking the same is not enough: three identical 25.00 fees on one day are
 * three real fees. So a group is suspicious only when we hold MORE live rows (posted or pending)
 * than the bank itself reported:
 *
 * - the bank's count is the number of identical items in the latest complete fetch of that day's
 *   posted data (`bank_day_fetches.repeated_fingerprints`, absent = 1);
 * - for a day never fetched that way, the count is the highest occurrence number the bank's pages
 *   gave those rows when they were stored (identity.ts numbers identical items 1..n within one walk),
 *   compared per record class, since pending and posted items of a day not yet closed coexist.
 *
 * Suspicions are listed for a person to review and never merged or deleted automatically. When the
 * set of rows of a reviewed group changes, the suspicion goes back to `open`: the review was about
 * other evidence.
 */
export const SUSPICION_STATUSES = ['open', 'confirmed_duplicate', 'not_duplicate'] as const;
export type SuspicionStatus = (typeof SUSPICION_STATUSES)[number];

export interface DetectResult {
  /** Suspicions raised or still holding in the range. */
  active: number;
  /** Suspicions that no longer hold (set inactive). */
  cleared: number;
}

export async function detectDuplicateSuspicions(
  ex: Executor,
  accountId: string,
  from: IsoDate,
  to: IsoDate,
  now: Date = new Date(),
): Promise<DetectResult> {
  const at = now.toISOString();
  const found = await sql<{ id: string }>`
    with live as (
      select t.id, t.organization_id, t.booking_date, t.direction, t.amount_minor, t.currency, t.decimal_location, t.status,
        t.jpm_transaction_id, t.fingerprint_key, t.first_seen_at, split_part(t.fingerprint_key, ':', 1) as cls,
        split_part(t.fingerprint_key, ':', 2) as fp, nullif(split_part(t.fingerprint_key, ':', 3), '')::int as occ
      from transactions t
      where t.account_id = ${accountId} and t.booking_date between ${from} and ${to} and t.status in ('posted', 'pending')
    ), groups as (
      select booking_date, fp, min(organization_id::text)::uuid as organization_id, min(direction) as direction,
        min(amount_minor) as amount_minor, min(currency) as currency, min(decimal_location) as decimal_location,
        count(*)::int as live_count,
        (count(*) filter (where status = 'posted'))::int as posted_count,
        (count(*) filter (where status = 'pending'))::int as pending_count,
        coalesce(max(occ) filter (where status = 'posted' and cls = 'P'), 0) as posted_occ,
        coalesce(max(occ) filter (where status = 'pending' and cls = 'I'), 0) as pending_occ,
        array_agg(id order by first_seen_at, id) as ids,
        jsonb_agg(jsonb_build_object('id', id, 'jpmTransactionId', jpm_transaction_id, 'status', status,
          'fingerprintKey', fingerprint_key, 'firstSeenAt', first_seen_at) order by first_seen_at, id) as rows
      from live group by booking_date, fp having count(*) > 1
    ), judged as (
      select g.*, f.fetched_at,
        case when f.booking_date is not null then coalesce((f.repeated_fingerprints ->> g.fp)::int, 1) end as fetched_count
      from groups g left join bank_day_fetches f on f.account_id = ${accountId} and f.booking_date = g.booking_date
    ), suspicious as (
      select judged.*,
        case when fetched_count is not null then fetched_count else posted_occ + pending_occ end as bank_count
      from judged
      where (fetched_count is not null and live_count > fetched_count)
        or (fetched_count is null and (posted_count > posted_occ or pending_count > pending_occ))
    )
    insert into duplicate_suspicions as s (id, organization_id, account_id, booking_date, fingerprint, direction, amount_minor,
      currency, decimal_location, transaction_ids, live_count, bank_count, evidence, active, status, first_detected_at, last_detected_at)
    select gen_random_uuid(), organization_id, ${accountId}::uuid, booking_date, fp, direction, amount_minor, currency,
      decimal_location, ids, live_count, bank_count,
      jsonb_build_object(
        'rule', 'more live identical rows than the bank reported',
        'bankCountSource', case when fetched_count is not null then 'latest_posted_fetch' else 'occurrence_numbers' end,
        'bankFetchedAt', fetched_at, 'postedRows', posted_count, 'pendingRows', pending_count, 'rows', rows),
      true, 'open', ${at}::timestamptz, ${at}::timestamptz
    from suspicious
    on conflict (account_id, booking_date, fingerprint) do update set
      transaction_ids = excluded.transaction_ids, live_count = excluded.live_count, bank_count = excluded.bank_count,
      evidence = excluded.evidence, active = true, last_detected_at = excluded.last_detected_at,
      status = case when s.transaction_ids is distinct from excluded.transaction_ids then 'open' else s.status end,
      reviewed_by = case when s.transaction_ids is distinct from excluded.transaction_ids then null else s.reviewed_by end,
      reviewed_at = case when s.transaction_ids is distinct from excluded.transaction_ids then null else s.reviewed_at end
    returning s.id`.execute(ex);
  const ids = found.rows.map((r) => r.id);
  const cleared = await sql<{ id: string }>`
    update duplicate_suspicions set active = false, last_detected_at = ${at}::timestamptz
    where account_id = ${accountId} and booking_date between ${from} and ${to} and active
      and not (id = any(${ids}::uuid[]))
    returning id`.execute(ex);
  return { active: ids.length, cleared: cleared.rows.length };
}

export interface SuspicionReview {
  status: SuspicionStatus;
  reviewedBy: string;
  note?: string | null;
}

/** Records a person's verdict on a suspicion. Nothing about the transactions changes. */
export async function reviewSuspicion(
  ex: Executor,
  id: string,
  review: SuspicionReview,
  now: Date = new Date(),
): Promise<void> {
  const updated = await ex
    .updateTable('duplicate_suspicions')
    .set({ status: review.status, reviewed_by: review.reviewedBy, reviewed_at: now, review_note: review.note ?? null })
    .where('id', '=', id)
    .executeTakeFirst();
  if (updated.numUpdatedRows === 0n) {
    throw new NotFoundError('duplicate suspicion', id, 'suspicion_not_found');
  }
}

export const SUSPICION_COLUMNS = [
  'id',
  'account_id',
  'booking_date',
  'fingerprint',
  'direction',
  'amount_minor',
  'currency',
  'decimal_location',
  'transaction_ids',
  'live_count',
  'bank_count',
  'evidence',
  'active',
  'status',
  'reviewed_by',
  'reviewed_at',
  'review_note',
  'first_detected_at',
  'last_detected_at',
] as const;

/** Active suspicions of the given accounts in a period, oldest day first. */
export async function listActiveSuspicions(ex: Executor, accountIds: readonly string[], from: IsoDate, to: IsoDate) {
  if (accountIds.length === 0) {
    return [];
  }
  return ex
    .selectFrom('duplicate_suspicions')
    .select(SUSPICION_COLUMNS)
    .where('account_id', 'in', accountIds)
    .where('booking_date', '>=', from)
    .where('booking_date', '<=', to)
    .where('active', '=', true)
    .orderBy('booking_date')
    .orderBy('id')
    .execute();
}

export type SuspicionRow = Awaited<ReturnType<typeof listActiveSuspicions>>[number];
