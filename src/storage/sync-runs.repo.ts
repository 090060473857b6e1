import { sql } from 'kysely';
import type { SyncCounts, SyncMode, SyncRunStatus, SyncTrigger } from '../domain/types.ts';
import { uuidv7 } from '../shared/ids.ts';
import type { Executor } from './db.ts';
import { decodeCursor, pageOf } from './pagination.ts';

export interface NewSyncRun {
  id?: string;
  organizationId: string;
  integrationId: string;
  accountId: string | null;
  parentRunId?: string | null;
  trigger: SyncTrigger;
  mode: SyncMode;
  kind?: 'all' | 'transactions' | 'balances';
  windowFrom?: string | null;
  windowTo?: string | null;
  windowsTotal?: number;
  /** The channel the run reads (`jpm_api` when absent: the column's default). */
  source?: string;
}

export const SYNC_RUN_COLUMNS = [
  'id',
  'organization_id',
  'integration_id',
  'account_id',
  'parent_run_id',
  'trigger',
  'mode',
  'kind',
  'window_from',
  'window_to',
  'status',
  'fetched',
  'inserted',
  'updated',
  'unchanged',
  'superseded',
  'removed',
  'rejected',
  'balances',
  'windows_total',
  'windows_done',
  'attempts',
  'error_code',
  'error_message',
  'created_at',
  'started_at',
  'finished_at',
  'warnings',
  'bank_business_day',
  'source',
] as const;

export async function createSyncRun(ex: Executor, run: NewSyncRun): Promise<string> {
  const id = run.id ?? uuidv7();
  await ex
    .insertInto('sync_runs')
    .values({
      id,
      organization_id: run.organizationId,
      integration_id: run.integrationId,
      account_id: run.accountId,
      parent_run_id: run.parentRunId ?? null,
      trigger: run.trigger,
      mode: run.mode,
      kind: run.kind ?? 'all',
      window_from: run.windowFrom ?? null,
      window_to: run.windowTo ?? null,
      windows_total: run.windowsTotal ?? 0,
      source: run.source,
    })
    .onConflict((oc) => oc.column('id').doNothing())
    .execute();
  return id;
}

export async function getSyncRun(ex: Executor, id: string) {
  return ex.selectFrom('sync_runs').select(SYNC_RUN_COLUMNS).where('id', '=', id).executeTakeFirst();
}

/** Adds counts to a run, inside the caller's transaction (the page write and its progress commit together). */
export async function addRunCounts(ex: Executor, id: string, c: Partial<SyncCounts>): Promise<void> {
  await sql`
    update sync_runs set
      fetched = fetched + ${c.fetched ?? 0}, inserted = inserted + ${c.inserted ?? 0}, updated = updated + ${c.updated ?? 0},
      unchanged = unchanged + ${c.unchanged ?? 0}, superseded = superseded + ${c.superseded ?? 0},
      removed = removed + ${c.removed ?? 0}, rejected = rejected + ${c.rejected ?? 0}, balances = balances + ${c.balances ?? 0}
    where id = ${id}`.execute(ex);
}

/** Something a person should notice about a run that did not fail it (e.g. `no_business_day`, `fetched_nothing`). */
export interface RunWarning {
  code: string;
  message: string;
  dates?: string[];
}

/** A window's run and its parent, locked for a change of their notes (warnings, bank business day). */
export async function lockRunAndParent(ex: Executor, runId: string): Promise<{ id: string; warnings: RunWarning[] }[]> {
  const r = await sql<{ id: string; warnings: RunWarning[] }>`
    select id, warnings from sync_runs
    where id = ${runId} or id = (select parent_run_id from sync_runs where id = ${runId})
    order by id for update`.execute(ex);
  return r.rows;
}

/**
 * Writes a run's notes: its warnings, the business day the bank answered for, and for prior-day and
 * intraday runs the dates actually fetched (the plan's dates were an estimate before the bank answered).
 */
export async function writeRunNotes(
  ex: Executor,
  id: string,
  note: {
    warnings: readonly RunWarning[];
    bankBusinessDay?: string | undefined;
    window?: { from: string; to: string } | undefined;
  },
): Promise<void> {
  await sql`
    update sync_runs r set
      warnings = ${JSON.stringify(note.warnings)}::jsonb,
      bank_business_day = coalesce(${note.bankBusinessDay ?? null}::date, r.bank_business_day),
      window_from = case when r.mode in ('prior_day', 'intraday') then coalesce(${note.window?.from ?? null}::date, r.window_from) else r.window_from end,
      window_to = case when r.mode in ('prior_day', 'intraday') then coalesce(${note.window?.to ?? null}::date, r.window_to) else r.window_to end
    where r.id = ${id}`.execute(ex);
}

export async function markRunStarted(ex: Executor, id: string): Promise<void> {
  await sql`
    update sync_runs set status = 'running', started_at = coalesce(started_at, now()), attempts = attempts + 1
    where id = ${id} and status in ('queued', 'running', 'failed')`.execute(ex);
}

/**
 * Sets a final status. Counts accumulate over attempts: `inserted`/`updated` are exact (a row is
 * written once), `fetched`/`unchanged` also count re-reads after a retry, and `attempts` says how many.
 */
export async function finishRun(
  ex: Executor,
  id: string,
  status: SyncRunStatus,
  error?: { code: string; message: string },
): Promise<void> {
  await sql`
    update sync_runs set status = ${status}, finished_at = now(),
      error_code = ${error?.code ?? null}, error_message = ${error?.message ?? null}
    where id = ${id}`.execute(ex);
}

export interface SyncRunListFilter {
  organizationId?: string | undefined;
  integrationId?: string | undefined;
  accountId?: string | undefined;
  status?: string | undefined;
  trigger?: string | undefined;
  mode?: string | undefined;
  cursor?: string | undefined;
  limit: number;
}

/**
 * A keyset page of runs (parent rows only: one per account and request), newest first. The key is
 * (created_at, id) with created_at as exact epoch microseconds: run ids are not all time-ordered
 * (scheduled ticks derive theirs from the tick), and a JS Date would drop timestamptz microseconds.
 */
export async function listSyncRunsPage(ex: Executor, f: SyncRunListFilter) {
  let q = ex
    .selectFrom('sync_runs')
    .select(SYNC_RUN_COLUMNS)
    .select(sql<string>`(extract(epoch from created_at) * 1000000)::bigint::text`.as('created_key'))
    .where('parent_run_id', 'is', null)
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .limit(f.limit + 1);
  for (const [column, value] of [
    ['organization_id', f.organizationId],
    ['integration_id', f.integrationId],
    ['account_id', f.accountId],
    ['status', f.status],
    ['trigger', f.trigger],
    ['mode', f.mode],
  ] as const) {
    if (value !== undefined) {
      q = q.where(column, '=', value);
    }
  }
  if (f.cursor !== undefined) {
    const [micros, id] = decodeCursor(f.cursor, ['int', 'uuid']);
    q = q.where(
      sql<boolean>`(created_at, id) < (timestamptz 'epoch' + ${micros}::bigint * interval '1 microsecond', ${id}::uuid)`,
    );
  }
  return pageOf(await q.execute(), f.limit, (r) => [r.created_key, r.id]);
}
