import { sql } from 'kysely';
import type { Executor } from './db.ts';

/**
 * Walks of an account's posted days in progress (`posted_day_walks`): an API walk of posted days, or a statement
 * import of the days a file reports in full, from its first stored page to its days' fetch evidence. A marker is added
 * only under the account's write lock (with the page) and removed in the evidence's transaction, so a writer holding
 * the lock that reads the markers and then the evidence sees, for a day the walk has stored rows of, the one or the
 * other, never neither.
 */
export interface PostedWalk {
  accountId: string;
  /** The database clock when the walk began reading (its evidence's `read_at`). */
  readAt: string;
  from: string;
  to: string;
  /** The days it covers when not every day from `from` to `to` (a file's days); every day when absent. */
  days?: readonly string[];
  /** The run storing the days (an API sync's window, a statement import), when it has one. */
  runId: string | null;
}

export async function markPostedWalk(ex: Executor, walk: PostedWalk): Promise<void> {
  const days = walk.days === undefined ? null : [...walk.days];
  await sql`
    insert into posted_day_walks (account_id, read_at, from_date, to_date, days, sync_run_id)
    values (${walk.accountId}, ${walk.readAt}::timestamptz, ${walk.from}::date, ${walk.to}::date, ${days}::date[],
      ${walk.runId}::uuid)
    on conflict (account_id, read_at) do update set
      from_date = least(posted_day_walks.from_date, excluded.from_date),
      to_date = greatest(posted_day_walks.to_date, excluded.to_date),
      days = case when posted_day_walks.days is null or excluded.days is null then null
        else array(select distinct d from unnest(posted_day_walks.days || excluded.days) as u(d) order by d) end`.execute(
    ex,
  );
}

/**
 * Ends the walk that wrote its days' evidence (in that evidence's transaction, after it), and every older walk of the
 * account each of whose days now has evidence read no earlier than that walk began: a walk that failed or whose worker
 * died never ends its own, and until a later sync stores each of its days in full (their evidence), an interim import
 * of a day of it without evidence is refused rather than written beside rows of a day the walk may have stored in full.
 */
export async function endPostedWalks(ex: Executor, walk: { accountId: string; readAt: string }): Promise<void> {
  await sql`
    delete from posted_day_walks w where w.account_id = ${walk.accountId}
      and (w.read_at = ${walk.readAt}::timestamptz or (w.read_at <= ${walk.readAt}::timestamptz and not exists (
        select 1 from generate_series(w.from_date, w.to_date, interval '1 day') as g(day)
        where (w.days is null or g.day::date = any(w.days))
          and not exists (select 1 from bank_day_fetches f where f.account_id = w.account_id
            and f.booking_date = g.day::date and f.read_at >= w.read_at))))`.execute(ex);
}

/**
 * A walk in progress (or one that failed) of some of `days`: when it began reading, which of `days` it covers, and its
 * run (the top-level run an operator sees, with its status and error code) when it has one.
 */
export interface WalkOfDays {
  readAt: string;
  days: string[];
  run: { id: string; status: string; errorCode: string | null } | null;
}

/**
 * The walks in progress of the account, or that failed, covering some of `days` that no evidence read since the walk
 * began says are stored in full, oldest first.
 */
export async function walksOfDays(ex: Executor, accountId: string, days: readonly string[]): Promise<WalkOfDays[]> {
  if (days.length === 0) {
    return [];
  }
  const r = await sql<{
    read_at: Date | string;
    days: string[];
    run_id: string | null;
    status: string | null;
    error_code: string | null;
  }>`
    select w.read_at, w.days, r.id as run_id, r.status, r.error_code
    from (select w.read_at, w.sync_run_id, array_agg(d.day::text order by d.day) as days
      from posted_day_walks w join unnest(${[...days]}::date[]) as d(day)
        on d.day between w.from_date and w.to_date and (w.days is null or d.day = any(w.days))
      where w.account_id = ${accountId}
        -- A day stored in full since the walk began (evidence read no earlier) is no longer the walk's to say.
        and not exists (select 1 from bank_day_fetches f where f.account_id = w.account_id and f.booking_date = d.day
          and f.read_at >= w.read_at)
      group by w.read_at, w.sync_run_id) w
    left join sync_runs s on s.id = w.sync_run_id
    left join sync_runs r on r.id = coalesce(s.parent_run_id, s.id)
    order by w.read_at`.execute(ex);
  return r.rows.map((x) => ({
    readAt: x.read_at instanceof Date ? x.read_at.toISOString() : x.read_at,
    days: x.days,
    run: x.run_id === null ? null : { id: x.run_id, status: x.status!, errorCode: x.error_code },
  }));
}
