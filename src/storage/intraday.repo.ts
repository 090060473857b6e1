import { sql } from 'kysely';
import { decodePgText } from '../shared/pg-text.ts';
import type { Executor } from './db.ts';

/**
 * The queries of intraday reconciliation (src/sync/supersede.ts `reconcileIntraday`): the intraday
 * (post code `I`) rows of one account-day that a current-day snapshot can remove or restore.
 */
export interface IntradayCandidate {
  id: string;
  status: 'pending' | 'removed' | 'superseded';
  /** The posted row a superseded row is linked to. */
  superseded_by: string | null;
  jpm_transaction_id: string;
  booking_date: string;
  direction: string;
  amount_minor: string;
  /** No one wrote the row since `since` (a newer writer may know more than the walk that started then). */
  quiet_since: boolean;
  /**
   * The rule of the row's latest status decision, and whether that decision's evidence is older than `since`: the
   * start of the latest walk it was decided on (`walk.startedAt`), else when it was made.
   */
  last_rule: string | null;
  last_decision_before: boolean | null;
  /** The booking date the row had when that decision was made (its evidence's `bookingDate`). */
  decided_on: string | null;
}

/** The database's clock: a walk notes it before its first page, to recognise rows written after it began. */
export async function databaseClock(ex: Executor): Promise<string> {
  const r = await sql<{ now: string }>`select clock_timestamp()::text as now`.execute(ex);
  return r.rows[0]?.now ?? new Date().toISOString();
}

/**
 * Whether the account has a pending row on any of `dates`, read from the partial index of pending rows: without
 * one, pending → posted resolution (src/sync/supersede.ts) has nothing to do and leaves the dates' posted rows unread.
 */
export async function hasPendingRows(ex: Executor, accountId: string, dates: readonly string[]): Promise<boolean> {
  const r = await sql<{ found: boolean }>`
    select exists (select 1 from transactions where status = 'pending' and booking_date = any(${dates}::date[])
      and account_id = ${accountId}) as found`.execute(ex);
  return r.rows[0]?.found === true;
}

/**
 * Pending, removed and superseded intraday rows of one account-day (the organization predicate lets Postgres use
 * the `(organization_id, booking_date, id)` index instead of every intraday row of the account).
 */
export async function intradayCandidates(
  ex: Executor,
  organizationId: string,
  accountId: string,
  day: string,
  since: string,
): Promise<IntradayCandidate[]> {
  const r = await sql<IntradayCandidate>`
    select t.id, t.status, t.superseded_by, t.jpm_transaction_id, t.booking_date::text as booking_date, t.direction,
      t.amount_minor::text as amount_minor, t.updated_at < ${since}::timestamptz as quiet_since, d.rule as last_rule,
      coalesce((d.evidence->'walk'->>'startedAt')::timestamptz, d.created_at) < ${since}::timestamptz
        as last_decision_before, d.evidence->>'bookingDate' as decided_on
    from transactions t
    left join lateral (
      -- The latest decision that set the row's status (a re_identified decision changes its id, not its status).
      select rule, created_at, evidence from transaction_decisions
      where transaction_id = t.id and decision in ('removed', 'restored', 'superseded') order by id desc limit 1
    ) d on true
    where t.organization_id = ${organizationId} and t.account_id = ${accountId} and t.booking_date = ${day}
      and t.post_code = 'I'
      and (t.status in ('pending', 'removed') and t.superseded_by is null or t.status = 'superseded')
    order by t.id`.execute(ex);
  for (const row of r.rows) {
    // Ids are stored escaped (U+0000, src/shared/pg-text.ts); the walk's ids are the bank's text.
    row.jpm_transaction_id = decodePgText(row.jpm_transaction_id);
  }
  return r.rows;
}

/**
 * Notes that a current-day walk of the account that began at `walkStartedAt` (database clock) is reconciling, and
 * answers whether it is the newest to do so: false when a walk that began later has reconciled already (its evidence
 * is newer than this one's). Call under the account's write lock.
 */
export async function noteIntradayWalk(ex: Executor, accountId: string, walkStartedAt: string): Promise<boolean> {
  const r = await sql<{ newest: boolean }>`
    with before as (select intraday_walk_at from bank_accounts where id = ${accountId}),
    noted as (
      update bank_accounts set intraday_walk_at = greatest(intraday_walk_at, ${walkStartedAt}::timestamptz)
      where id = ${accountId}
    )
    select coalesce((select intraday_walk_at <= ${walkStartedAt}::timestamptz from before), true) as newest`.execute(
    ex,
  );
  return r.rows[0]?.newest !== false;
}

/** Moves rows between `pending` and `removed` when they still have the status we read; returns the ids moved. */
export async function setIntradayStatus(
  ex: Executor,
  rows: readonly { id: string; from: 'pending' | 'removed'; to: 'pending' | 'removed' }[],
): Promise<string[]> {
  if (rows.length === 0) {
    return [];
  }
  const r = await sql<{ id: string }>`
    update transactions t set status = r.to_status, version = t.version + 1, updated_at = now()
    from jsonb_to_recordset(${JSON.stringify(rows.map((x) => ({ id: x.id, from_status: x.from, to_status: x.to })))}::jsonb)
      as r(id uuid, from_status text, to_status text)
    where t.id = r.id and t.status = r.from_status
    returning t.id`.execute(ex);
  return r.rows.map((x) => x.id);
}

/**
 * Unlinks superseded intraday rows from the posted rows they were linked to (back to `pending`), each only while it is
 * still linked to the posted row read; the posted rows change too (the read API shows the link as `supersedes`).
 * Returns the ids of the rows unlinked and of their posted rows.
 */
export async function unlinkSuperseded(
  ex: Executor,
  rows: readonly { id: string; superseded_by: string }[],
): Promise<{ unlinked: string[]; posted: string[] }> {
  if (rows.length === 0) {
    return { unlinked: [], posted: [] };
  }
  const r = await sql<{ id: string; posted: boolean }>`
    with unlinked as (
      update transactions t set status = 'pending', superseded_by = null, version = t.version + 1, updated_at = now()
      from jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) as r(id uuid, superseded_by uuid)
      where t.id = r.id and t.status = 'superseded' and t.superseded_by = r.superseded_by
      returning t.id, r.superseded_by
    ), posted as (
      update transactions t set version = t.version + 1, updated_at = now()
      where t.id in (select superseded_by from unlinked)
      returning t.id
    )
    select id, false as posted from unlinked union all select id, true from posted`.execute(ex);
  return {
    unlinked: r.rows.filter((x) => !x.posted).map((x) => x.id),
    posted: r.rows.filter((x) => x.posted).map((x) => x.id),
  };
}

/**
 * Days before `day` on which the account has a pending row although the day's posted data is stored (a complete
 * prior-day walk or final report left its fetch evidence): a current-day snapshot listed an item under a closed day.
 */
export async function pendingOnClosedDays(ex: Executor, accountId: string, day: string): Promise<string[]> {
  const r = await sql<{ day: string }>`
    select distinct t.booking_date::text as day from transactions t
    where t.status = 'pending' and t.account_id = ${accountId} and t.booking_date < ${day}::date
      and exists (select 1 from bank_day_fetches f where f.account_id = t.account_id and f.booking_date = t.booking_date)
    order by 1`.execute(ex);
  return r.rows.map((x) => x.day);
}

/**
 * The days among `days` holding a stored open reject of a record not intraday (src/sync/supersede.ts
 * `resolvePending`): such a record may be a pending item's posting, so the day proves no pending item absent.
 */
export async function daysWithUnreadablePosted(ex: Executor, accountId: string, days: readonly string[]) {
  const r = await sql<{ day: string }>`
    select distinct booking_date::text as day from sync_rejects
    where account_id = ${accountId} and resolved_at is null and record_type = 'transaction'
      and booking_date = any(${[...days]}::date[]) and record_class is distinct from 'I'`.execute(ex);
  return new Set(r.rows.map((x) => x.day));
}
