import { sql } from 'kysely';
import type { IsoDate } from '../shared/time.ts';
import type { Executor } from './db.ts';

/**
 * `sync_runs` as validation's coverage reads them. (A reader of sync_runs: it belongs with
 * sync-runs.repo.ts, kept apart while that file is being split.)
 */
export interface FailedWindowRow {
  id: string;
  account_id: string | null;
  mode: string;
  status: string;
  window_from: string | null;
  window_to: string | null;
  error_code: string | null;
  error_message: string | null;
  at: Date;
  /** A later succeeded run of the same mode and kind covered the whole window. */
  recovered: boolean;
}

/**
 * Failed or partial runs of the integration (its own or the given accounts') whose window touches
 * [from, to] (a run without a window: created in the period or the day after), oldest first.
 */
export async function listFailedWindows(
  ex: Executor,
  integrationId: string,
  accountIds: readonly string[],
  from: IsoDate,
  to: IsoDate,
): Promise<FailedWindowRow[]> {
  const failed = await sql<FailedWindowRow>`
    select r.id, r.account_id, r.mode, r.status, r.window_from::text as window_from, r.window_to::text as window_to,
      r.error_code, r.error_message, coalesce(r.finished_at, r.created_at) as at,
      exists (
        select 1 from sync_runs s
        where s.status = 'succeeded' and s.mode = r.mode and s.kind in ('all', r.kind)
          and (s.account_id = r.account_id
            or (r.account_id is null and s.integration_id = r.integration_id and s.account_id is null))
          and s.created_at > r.created_at
          and (r.window_from is null or (s.window_from <= r.window_from and s.window_to >= r.window_to))
      ) as recovered
    from sync_runs r
    where r.integration_id = ${integrationId} and r.status in ('failed', 'partial')
      and (r.account_id is null or r.account_id = any(${accountIds}::uuid[]))
      and (
        (r.window_from is not null and r.window_from <= ${to} and r.window_to >= ${from})
        or (r.window_from is null and r.created_at::date between ${from}::date and ${to}::date + 1)
      )
    order by r.created_at, r.id`.execute(ex);
  return failed.rows;
}
