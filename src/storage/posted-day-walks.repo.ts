import { sql } from 'kysely';
import type { Executor } from './db.ts';

/**
 * API walks of an account's posted days in progress (`posted_day_walks`): from the walk's first stored page to its
 * days' fetch evidence. A marker is added only under the account's write lock (with the page) and removed in the
 * evidence's transaction, so a writer holding the lock that reads the markers and then the evidence sees, for a day
 * the walk has stored rows of, the one or the other, never neither.
 */
export async function markPostedWalk(
  ex: Executor,
  walk: { accountId: string; readAt: string; from: string; to: string },
): Promise<void> {
  await sql`
    insert into posted_day_walks (account_id, read_at, from_date, to_date)
    values (${walk.accountId}, ${walk.readAt}::timestamptz, ${walk.from}::date, ${walk.to}::date)
    on conflict (account_id, read_at) do update set
      from_date = least(posted_day_walks.from_date, excluded.from_date),
      to_date = greatest(posted_day_walks.to_date, excluded.to_date)`.execute(ex);
}

/**
 * Ends the walk that wrote its days' evidence, and the account's older walks of days within its own (a walk that failed
 * or whose worker died never ends its own; until a later walk stores those days in full, an interim import of them is
 * refused rather than written beside rows of a day the API may have stored in full).
 */
export async function endPostedWalks(
  ex: Executor,
  walk: { accountId: string; readAt: string; from: string; to: string },
): Promise<void> {
  await sql`
    delete from posted_day_walks where account_id = ${walk.accountId} and read_at <= ${walk.readAt}::timestamptz
      and from_date >= ${walk.from}::date and to_date <= ${walk.to}::date`.execute(ex);
}

/** The days among `days` that a walk in progress of the account covers. */
export async function daysBeingWalked(ex: Executor, accountId: string, days: readonly string[]): Promise<string[]> {
  if (days.length === 0) {
    return [];
  }
  const r = await sql<{ day: string }>`
    select distinct d.day::text as day from unnest(${[...days]}::date[]) as d(day)
    where exists (select 1 from posted_day_walks w
      where w.account_id = ${accountId} and d.day between w.from_date and w.to_date)
    order by 1`.execute(ex);
  return r.rows.map((x) => x.day);
}
