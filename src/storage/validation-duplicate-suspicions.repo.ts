import { sql } from 'kysely';
import type { IsoDate } from '../shared/time.ts';
import type { Executor } from './db.ts';
import { decodeCursor, pageOf } from './pagination.ts';

/**
 * `duplicate_suspicions`: groups of live transactions that look the same where we hold more than the
 * bank reported (the rule is explained in src/validation/duplicates.ts). Raised, kept and cleared by
 * detection; reviewed by a person; never merged or deleted.
 */

/**
 * Raises or refreshes the suspicions of an account's days in [from, to] (one statement: insert … on
 * conflict do update; a group whose rows changed goes back to `open`). Returns the ids of the
 * suspicions that hold.
 */
export async function upsertDuplicateSuspicions(
  ex: Executor,
  accountId: string,
  from: IsoDate,
  to: IsoDate,
  at: string,
): Promise<string[]> {
  const found = await sql<{ id: string }>`
    with live as (
      select t.id, t.organization_id, t.booking_date, t.direction, t.amount_minor, t.currency, t.decimal_location,
        t.status, t.jpm_transaction_id, t.fingerprint_key, t.first_seen_at,
        split_part(t.fingerprint_key, ':', 1) as cls, split_part(t.fingerprint_key, ':', 2) as fp,
        nullif(split_part(t.fingerprint_key, ':', 3), '')::int as occ
      from transactions t
      where t.account_id = ${accountId} and t.booking_date between ${from} and ${to}
        and t.status in ('posted', 'pending')
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
        case when f.booking_date is not null
          then coalesce((f.repeated_fingerprints ->> g.fp)::int, 1) end as fetched_count
      from groups g left join bank_day_fetches f on f.account_id = ${accountId} and f.booking_date = g.booking_date
    ), suspicious as (
      select judged.*,
        case when fetched_count is not null then fetched_count else posted_occ + pending_occ end as bank_count
      from judged
      where (fetched_count is not null and live_count > fetched_count)
        or (fetched_count is null and (posted_count > posted_occ or pending_count > pending_occ))
    )
    insert into duplicate_suspicions as s (id, organization_id, account_id, booking_date, fingerprint, direction,
      amount_minor, currency, decimal_location, transaction_ids, live_count, bank_count, evidence, active, status,
      first_detected_at, last_detected_at)
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
      reviewed_by = case when s.transaction_ids is distinct from excluded.transaction_ids then null
        else s.reviewed_by end,
      reviewed_at = case when s.transaction_ids is distinct from excluded.transaction_ids then null
        else s.reviewed_at end
    returning s.id`.execute(ex);
  return found.rows.map((r) => r.id);
}

/** Sets the account's active suspicions of [from, to] other than `ids` inactive. Returns how many. */
export async function deactivateSuspicionsExcept(
  ex: Executor,
  accountId: string,
  from: IsoDate,
  to: IsoDate,
  ids: readonly string[],
  at: string,
): Promise<number> {
  const cleared = await sql<{ id: string }>`
    update duplicate_suspicions set active = false, last_detected_at = ${at}::timestamptz
    where account_id = ${accountId} and booking_date between ${from} and ${to} and active
      and not (id = any(${ids}::uuid[]))
    returning id`.execute(ex);
  return cleared.rows.length;
}

/** Records a review; false when there is no such suspicion. */
export async function updateSuspicionReview(
  ex: Executor,
  id: string,
  review: { status: string; reviewedBy: string; note: string | null; at: Date },
): Promise<boolean> {
  const updated = await ex
    .updateTable('duplicate_suspicions')
    .set({ status: review.status, reviewed_by: review.reviewedBy, reviewed_at: review.at, review_note: review.note })
    .where('id', '=', id)
    .executeTakeFirst();
  return updated.numUpdatedRows !== 0n;
}

/** The organization of a suspicion, or undefined when there is none. */
export async function suspicionOrganization(ex: Executor, id: string): Promise<string | undefined> {
  const s = await ex
    .selectFrom('duplicate_suspicions')
    .select(['organization_id'])
    .where('id', '=', id)
    .executeTakeFirst();
  return s?.organization_id;
}

const SUSPICION_COLUMNS = [
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

/**
 * A keyset page of the active suspicions of the given accounts in a period, oldest day first, then by id (the order of
 * `listActiveSuspicions`); the cursor is the last row's day and id.
 */
export async function pageActiveSuspicions(
  ex: Executor,
  f: { accountIds: readonly string[]; from: IsoDate; to: IsoDate; limit: number; cursor?: string | undefined },
) {
  let q = ex
    .selectFrom('duplicate_suspicions')
    .select(SUSPICION_COLUMNS)
    .where('booking_date', '>=', f.from)
    .where('booking_date', '<=', f.to)
    .where('active', '=', true)
    .orderBy('booking_date')
    .orderBy('id')
    .limit(f.limit + 1);
  if (f.cursor !== undefined) {
    const [day, id] = decodeCursor(f.cursor, ['date', 'uuid']);
    q = q.where((eb) =>
      eb.or([eb('booking_date', '>', day), eb.and([eb('booking_date', '=', day), eb('id', '>', id)])]),
    );
  }
  if (f.accountIds.length === 0) {
    return { rows: [], nextCursor: null };
  }
  const rows = await q.where('account_id', 'in', f.accountIds).execute();
  return pageOf(rows, f.limit, (r) => [r.booking_date, r.id]);
}
