import { sql } from 'kysely';
import type { SyncMode } from '../domain/types.ts';
import type { Executor } from './db.ts';
import { SYNC_RUN_COLUMNS } from './sync-runs.repo.ts';

/**
 * Queries behind the scheduler (issue 5): the run tree of a sync (one parent row per account and
 * request, one child row per window), its progress, the accounts that get schedules, and the
 * "mark once" status changes of permanent failures. Business rules live in src/scheduler.
 */

type CountColumn =
  'fetched' | 'inserted' | 'updated' | 'unchanged' | 'superseded' | 'removed' | 'rejected' | 'balances';

/** Serialises triggers of one account (find-or-create of its active run) for this transaction. */
export async function lockAccountTriggers(ex: Executor, accountId: string): Promise<void> {
  await sql`select pg_advisory_xact_lock(hashtextextended(${`account-trigger:${accountId}`}, 0))`.execute(ex);
}

/** The account's unfinished parent run for the same request, if any (a second trigger joins it). */
export async function findActiveRun(
  ex: Executor,
  accountId: string,
  mode: SyncMode,
  windowFrom: string | null,
  windowTo: string | null,
) {
  return ex
    .selectFrom('sync_runs')
    .select(SYNC_RUN_COLUMNS)
    .where('account_id', '=', accountId)
    .where('parent_run_id', 'is', null)
    .where('status', 'in', ['queued', 'running'])
    .where('mode', '=', mode)
    .where(sql<boolean>`window_from is not distinct from ${windowFrom}::date`)
    .where(sql<boolean>`window_to is not distinct from ${windowTo}::date`)
    .orderBy('created_at', 'desc')
    .executeTakeFirst();
}

export async function listWindowRuns(ex: Executor, parentRunId: string) {
  // Transactions windows first, then balances, each oldest first: the order the chain runs them.
  return ex
    .selectFrom('sync_runs')
    .select(SYNC_RUN_COLUMNS)
    .where('parent_run_id', '=', parentRunId)
    .orderBy(sql`kind = 'balances'`)
    .orderBy('window_from')
    .orderBy('id')
    .execute();
}

/** The parent turns `running` when its first window starts (never back from a final status). */
export async function markParentRunning(ex: Executor, parentRunId: string): Promise<void> {
  await sql`update sync_runs set status = 'running', started_at = coalesce(started_at, now())
    where id = ${parentRunId} and status = 'queued'`.execute(ex);
}

/**
 * Ends a window and adds it to its parent's progress in one transaction. Guarded by the window's
 * own status, so a window completed twice (a worker crashed after this commit, before BullMQ heard
 * of it, and the job ran again) is counted once.
 */
export async function completeWindow(
  ex: Executor,
  windowRunId: string,
  parentRunId: string,
  status: 'succeeded' | 'failed' | 'cancelled',
  error?: { code: string; message: string },
): Promise<boolean> {
  const ended = await sql<Record<CountColumn, number>>`
    update sync_runs set status = ${status}, finished_at = now(),
      error_code = ${error?.code ?? null}, error_message = ${error?.message ?? null}
    where id = ${windowRunId} and status in ('queued', 'running')
    returning fetched, inserted, updated, unchanged, superseded, removed, rejected, balances`.execute(ex);
  const c = ended.rows[0];
  if (!c) {
    return false;
  }
  await sql`
    update sync_runs set windows_done = windows_done + 1,
      fetched = fetched + ${c.fetched}, inserted = inserted + ${c.inserted}, updated = updated + ${c.updated},
      unchanged = unchanged + ${c.unchanged}, superseded = superseded + ${c.superseded}, removed = removed + ${c.removed},
      rejected = rejected + ${c.rejected}, balances = balances + ${c.balances}
    where id = ${parentRunId}`.execute(ex);
  return true;
}

/** Records a failure on a window that will be retried (its status stays `running`). */
export async function noteWindowError(
  ex: Executor,
  windowRunId: string,
  error: { code: string; message: string },
): Promise<void> {
  await sql`update sync_runs set error_code = ${error.code}, error_message = ${error.message} where id = ${windowRunId}`.execute(
    ex,
  );
}

/** Windows not started yet are cancelled, and the parent's progress counts them as done. */
async function cancelQueuedWindows(ex: Executor, parentRunId: string): Promise<void> {
  await sql`update sync_runs set status = 'cancelled', finished_at = now()
    where parent_run_id = ${parentRunId} and status = 'queued'`.execute(ex);
  await sql`update sync_runs p set windows_done = (
      select count(*) from sync_runs w where w.parent_run_id = p.id and w.status in ('succeeded', 'failed', 'cancelled'))
    where p.id = ${parentRunId}`.execute(ex);
}

/**
 * A permanent error ends the whole run at once: the run is failed and its windows not started yet
 * are cancelled (their jobs find them finished and end without calling the bank). `finished_at` is
 * left to `finalizeRun`, which the parent job runs once the chain has drained.
 */
export async function failRun(
  ex: Executor,
  parentRunId: string,
  error: { code: string; message: string },
): Promise<boolean> {
  const r =
    await sql`update sync_runs set status = 'failed', error_code = ${error.code}, error_message = ${error.message}
    where id = ${parentRunId} and status in ('queued', 'running')`.execute(ex);
  await cancelQueuedWindows(ex, parentRunId);
  return (r.numAffectedRows ?? 0n) > 0n;
}

/** Cancels a parent run and its windows not started yet. Returns false when the run had already ended. */
export async function cancelRunTree(ex: Executor, parentRunId: string): Promise<boolean> {
  const r = await sql`update sync_runs set status = 'cancelled', finished_at = now()
    where id = ${parentRunId} and parent_run_id is null and status in ('queued', 'running')`.execute(ex);
  if ((r.numAffectedRows ?? 0n) === 0n) {
    return false;
  }
  await cancelQueuedWindows(ex, parentRunId);
  return true;
}

/**
 * Final bookkeeping of a parent run, idempotent: windows still unfinished (their job failed outside
 * the handler, e.g. stalled too often) are closed, counts and progress are recomputed from the
 * windows, and the status is decided: all windows succeeded and no record was rejected → succeeded; some
 * windows, or all but with rejected records (unusable money facts, `sync_rejects`) → partial; none, or a
 * permanent error already failed the run → failed; a cancelled run stays cancelled.
 */
export async function finalizeRun(
  ex: Executor,
  parentRunId: string,
): Promise<{ status: string; first: boolean; startedAt: Date | null } | undefined> {
  const parent = await ex
    .selectFrom('sync_runs')
    .select(['status', 'finished_at', 'started_at'])
    .where('id', '=', parentRunId)
    .forUpdate()
    .executeTakeFirst();
  if (!parent) {
    return undefined;
  }
  const leftover = parent.status === 'cancelled' ? 'cancelled' : 'failed';
  await sql`update sync_runs set status = ${leftover}, finished_at = now(),
      error_code = coalesce(error_code, ${leftover === 'failed' ? 'window_not_finished' : null}),
      error_message = coalesce(error_message, ${leftover === 'failed' ? 'the window job ended without finishing its window' : null})
    where parent_run_id = ${parentRunId} and status in ('queued', 'running')`.execute(ex);
  const result = await sql<{ status: string }>`
    with w as (
      select count(*)::int as total,
        count(*) filter (where status = 'succeeded')::int as ok,
        count(*) filter (where status in ('succeeded', 'failed', 'cancelled'))::int as done,
        coalesce(sum(fetched), 0)::int as fetched, coalesce(sum(inserted), 0)::int as inserted,
        coalesce(sum(updated), 0)::int as updated, coalesce(sum(unchanged), 0)::int as unchanged,
        coalesce(sum(superseded), 0)::int as superseded, coalesce(sum(removed), 0)::int as removed,
        coalesce(sum(rejected), 0)::int as rejected, coalesce(sum(balances), 0)::int as balances,
        max(error_code) filter (where status = 'failed') as error_code,
        max(error_message) filter (where status = 'failed') as error_message
      from sync_runs where parent_run_id = ${parentRunId}
    )
    update sync_runs p set
      status = case
        when p.status in ('cancelled', 'failed') then p.status
        when w.ok = w.total and w.rejected = 0 then 'succeeded'
        when w.ok > 0 then 'partial'
        else 'failed' end,
      windows_done = w.done, fetched = w.fetched, inserted = w.inserted, updated = w.updated, unchanged = w.unchanged,
      superseded = w.superseded, removed = w.removed, rejected = w.rejected, balances = w.balances,
      error_code = coalesce(p.error_code, w.error_code, case when w.rejected > 0 then 'records_rejected' end),
      error_message = coalesce(p.error_message, w.error_message,
        case when w.rejected > 0 then w.rejected || ' record(s) rejected (unusable money facts); they are retried on the next sync' end),
      started_at = coalesce(p.started_at, now()), finished_at = coalesce(p.finished_at, now())
    from w where p.id = ${parentRunId}
    returning p.status`.execute(ex);
  const status = result.rows[0]?.status;
  return status === undefined
    ? undefined
    : { status, first: parent.finished_at === null, startedAt: parent.started_at };
}

/** Marks an account failed once; true only for the call that changed it (so the alert goes out once). */
export async function markAccountFailedOnce(ex: Executor, accountId: string, reason: string): Promise<boolean> {
  const r = await ex
    .updateTable('bank_accounts')
    .set({ status: 'failed', status_reason: reason, updated_at: new Date() })
    .where('id', '=', accountId)
    .where('status', 'in', ['active', 'paused'])
    .executeTakeFirst();
  return r.numUpdatedRows > 0n;
}

export type IntegrationSyncStatus = 'ok' | 'degraded' | 'failed' | 'certificate_expired';

/** Moves an integration's sync status from one of `from` to `to`; true when this call changed it. */
export async function setIntegrationSyncStatus(
  ex: Executor,
  integrationId: string,
  to: IntegrationSyncStatus,
  reason: string | null,
  from: readonly IntegrationSyncStatus[],
): Promise<boolean> {
  const r = await ex
    .updateTable('integrations')
    .set({ sync_status: to, sync_status_reason: reason, updated_at: new Date() })
    .where('id', '=', integrationId)
    .where('sync_status', 'in', [...from])
    .executeTakeFirst();
  return r.numUpdatedRows > 0n;
}

export async function getIntegrationSyncState(ex: Executor, integrationId: string) {
  return ex
    .selectFrom('integrations')
    .select(['id', 'organization_id', 'stage', 'sync_status', 'sync_status_reason', 'intraday_runs_per_day'])
    .where('id', '=', integrationId)
    .executeTakeFirst();
}

/** Integration stages whose accounts get no scheduled syncs. */
export const UNSCHEDULED_STAGES = ['paused', 'cancelled'] as const;
/** Integration sync statuses that stop scheduled syncs until a person fixes the cause. */
export const STOPPED_SYNC_STATUSES = ['failed', 'certificate_expired'] as const;

export interface SchedulableAccount {
  id: string;
  integration_id: string;
  time_zone: string;
  intraday_runs_per_day: number;
}

/**
 * Accounts that should have job schedulers: active accounts of integrations that are neither paused
 * nor cancelled and whose syncs are not stopped. Optionally limited to one integration or account.
 */
export async function listSchedulableAccounts(
  ex: Executor,
  scope: { integrationId?: string; accountId?: string } = {},
): Promise<SchedulableAccount[]> {
  let q = ex
    .selectFrom('bank_accounts as a')
    .innerJoin('integrations as i', 'i.id', 'a.integration_id')
    .select(['a.id', 'a.integration_id', 'a.time_zone'])
    // An account's own schedule override (PUT /v1/accounts/{id}/schedule) wins over its integration's.
    .select(
      sql<number>`coalesce((a.schedule_override->>'intradayRunsPerDay')::int, i.intraday_runs_per_day)`.as(
        'intraday_runs_per_day',
      ),
    )
    .where('a.status', '=', 'active')
    .where('i.stage', 'not in', [...UNSCHEDULED_STAGES])
    .where('i.sync_status', 'not in', [...STOPPED_SYNC_STATUSES])
    .orderBy('a.id');
  if (scope.integrationId !== undefined) {
    q = q.where('a.integration_id', '=', scope.integrationId);
  }
  if (scope.accountId !== undefined) {
    q = q.where('a.id', '=', scope.accountId);
  }
  return q.execute();
}

/** Every account id of a scope, whatever its state (to find schedulers that must go). */
export async function listAccountIds(
  ex: Executor,
  scope: { integrationId?: string; accountId?: string },
): Promise<string[]> {
  let q = ex.selectFrom('bank_accounts').select(['id']);
  if (scope.integrationId !== undefined) {
    q = q.where('integration_id', '=', scope.integrationId);
  }
  if (scope.accountId !== undefined) {
    q = q.where('id', '=', scope.accountId);
  }
  return (await q.execute()).map((r) => r.id);
}

/** Parent runs not finished (queued or running), oldest first: what the lost-job recovery checks against Redis. */
export async function listUnfinishedParentRunIds(ex: Executor, limit: number): Promise<string[]> {
  const rows = await ex
    .selectFrom('sync_runs')
    .select(['id'])
    .where('parent_run_id', 'is', null)
    .where('status', 'in', ['queued', 'running'])
    .orderBy('created_at')
    .limit(limit)
    .execute();
  return rows.map((r) => r.id);
}
