import { sql } from 'kysely';
import type { SyncCounts, SyncMode, SyncRunStatus, SyncTrigger } from '../domain/types.ts';
import { uuidv7 } from '../shared/ids.ts';
import type { IsoDate } from '../shared/time.ts';
import type { Executor } from './db.ts';
import { decodeCursor, pageOf } from './pagination.ts';
import { withPlannerSettings } from './planner-settings.ts';

/**
 * `sync_runs`: queries only. The run's lifecycle and every status decision belong to
 * src/sync/sync-run.ts, the one module that calls the writes below.
 */

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

const SYNC_RUN_COLUMNS = [
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

/** The run a caller-chosen id joined (`recordRunJoin`), if it joined one. */
export async function findJoinedRun(ex: Executor, requestId: string) {
  return ex
    .selectFrom('sync_runs')
    .select(SYNC_RUN_COLUMNS)
    .where('id', '=', (eb) => eb.selectFrom('sync_run_joins').select('run_id').where('request_id', '=', requestId))
    .executeTakeFirst();
}

/** Records that a caller-chosen id joined `runId` (the first record stands). */
export async function recordRunJoin(ex: Executor, requestId: string, runId: string): Promise<void> {
  await ex
    .insertInto('sync_run_joins')
    .values({ request_id: requestId, run_id: runId })
    .onConflict((oc) => oc.column('request_id').doNothing())
    .execute();
}

/**
 * Adds counts to a run and, for a window, to its parent in the same transaction (the caller's: the page write and its
 * progress commit together), so a parent's counts are always the sum of its windows' whatever order they end in, and
 * also when a page lands on a window that already ended (a worker that took its account lock over runs the window
 * again while the former holder ends it). The parent's row is updated first, as every writer of a run tree locks it
 * (`startWindow`, `endWindowRun`, `finalizeRun`): never a deadlock with them.
 */
export async function addRunCounts(ex: Executor, id: string, c: Partial<SyncCounts>): Promise<void> {
  const add = sql`
      fetched = fetched + ${c.fetched ?? 0}, inserted = inserted + ${c.inserted ?? 0},
      updated = updated + ${c.updated ?? 0}, unchanged = unchanged + ${c.unchanged ?? 0},
      superseded = superseded + ${c.superseded ?? 0}, removed = removed + ${c.removed ?? 0},
      rejected = rejected + ${c.rejected ?? 0}, balances = balances + ${c.balances ?? 0}`;
  await sql`update sync_runs set ${add}
    where id = (select parent_run_id from sync_runs where id = ${id})`.execute(ex);
  await sql`update sync_runs set ${add} where id = ${id}`.execute(ex);
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
      window_from = case when r.mode in ('prior_day', 'intraday')
        then coalesce(${note.window?.from ?? null}::date, r.window_from) else r.window_from end,
      window_to = case when r.mode in ('prior_day', 'intraday')
        then coalesce(${note.window?.to ?? null}::date, r.window_to) else r.window_to end
    where r.id = ${id}`.execute(ex);
}

/** Counts an attempt on an unfinished run (`running` from then on); false when the run had ended, so must not start. */
export async function markRunStarted(ex: Executor, id: string): Promise<boolean> {
  const r = await sql`
    update sync_runs set status = 'running', started_at = coalesce(started_at, now()), attempts = attempts + 1
    where id = ${id} and status in ('queued', 'running')`.execute(ex);
  return (r.numAffectedRows ?? 0n) > 0n;
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
 *
 * The page is a backward walk of its scope's top-level runs in page order that stops at the page: every
 * organization's, an organization's, an integration's or an account's (`sync_runs_top_…created_idx`), and with a
 * status, trigger or mode that scope's runs of that value (`sync_runs_top_…_status_at_idx`, `…_trigger_at_idx`,
 * `…_mode_at_idx`; with several of them one of their indexes, the others checked along it: a rare combination of
 * common values reads that value's runs until its page is full). Sorting is off for it: without statistics the
 * planner otherwise read every top-level run of the scope and sorted them for one page.
 */
export async function listSyncRunsPage(ex: Executor, f: SyncRunListFilter) {
  const rows = await withPlannerSettings(
    ex,
    { enable_sort: 'off', enable_incremental_sort: 'off', jit: 'off' },
    (trx) => syncRunsPage(trx, f).execute(),
  );
  return pageOf(rows, f.limit, (r) => [r.created_key, r.id]);
}

type ListColumn = 'organization_id' | 'integration_id' | 'account_id' | 'status' | 'trigger' | 'mode';

function syncRunsPage(ex: Executor, f: SyncRunListFilter) {
  const scope = (
    [
      ['account_id', f.accountId],
      ['integration_id', f.integrationId],
      ['organization_id', f.organizationId],
    ] as const
  ).find(([, value]) => value !== undefined)?.[0];
  const refined = (
    [
      ['status', f.status],
      ['trigger', f.trigger],
      ['mode', f.mode],
    ] as const
  ).find(([, value]) => value !== undefined)?.[0];
  // With a filter, the walk's index is `([scope,] filter, created_at, id)`. Its first column is compared as
  // `= any(array[value])`, which is no equivalence with a constant, so the page's order keeps that column and only an
  // index that starts with it gives the order without a sort: never every organization's runs of the filter checking
  // the scope (a never-analyzed table made that index look as cheap, being smaller), nor another filter's index.
  const lead: ListColumn | undefined = refined === undefined ? undefined : (scope ?? refined);
  let q = ex
    .selectFrom('sync_runs')
    .select(SYNC_RUN_COLUMNS)
    .select(sql<string>`(extract(epoch from created_at) * 1000000)::bigint::text`.as('created_key'))
    .where('parent_run_id', 'is', null);
  // An account or integration with a wider scope that is not its own (an organization's key naming another
  // organization's account): no page, told once before the walk (a one-time filter), not by reading the account's runs.
  if (f.accountId !== undefined && (f.organizationId !== undefined || f.integrationId !== undefined)) {
    const { accountId, organizationId = null, integrationId = null } = f;
    q = q.where(sql<boolean>`exists (select 1 from bank_accounts a where a.id = ${accountId}
      and a.organization_id = coalesce(${organizationId}::uuid, a.organization_id)
      and a.integration_id = coalesce(${integrationId}::uuid, a.integration_id))`);
  } else if (f.integrationId !== undefined && f.organizationId !== undefined) {
    q = q.where(sql<boolean>`exists (select 1 from integrations i where i.id = ${f.integrationId}
      and i.organization_id = ${f.organizationId})`);
  }
  for (const [column, value] of [
    ['organization_id', f.organizationId],
    ['integration_id', f.integrationId],
    ['account_id', f.accountId],
    ['status', f.status],
    ['trigger', f.trigger],
    ['mode', f.mode],
  ] as const) {
    if (value === undefined) {
      continue;
    }
    if (column === lead) {
      const type = column.endsWith('_id') ? sql`uuid[]` : sql`text[]`;
      q = q.where(sql<boolean>`${sql.ref(column)} = any(${[value]}::${type})`);
    } else {
      q = q.where(column, '=', value);
    }
  }
  if (lead !== undefined) {
    q = q.orderBy(lead, 'desc');
  }
  q = q
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .limit(f.limit + 1);
  if (f.cursor !== undefined) {
    const [micros, id] = decodeCursor(f.cursor, ['int', 'uuid']);
    q = q.where(
      sql<boolean>`(created_at, id) < (timestamptz 'epoch' + ${micros}::bigint * interval '1 microsecond', ${id}::uuid)`,
    );
  }
  return q;
}

// The run tree (issue 5): one parent row per account and request, one child row per window.

type CountColumn =
  'fetched' | 'inserted' | 'updated' | 'unchanged' | 'superseded' | 'removed' | 'rejected' | 'balances';

export interface RunError {
  code: string;
  message: string;
}

/**
 * The account's unfinished run tree for the same request, if any (a second trigger may join it). Only a run
 * tree: queued, or with window rows (as `listUnfinishedParentRunIds`); a standalone run (a validation re-fetch,
 * a statement import) has neither and is never joined: its owner finishes it, no flow of windows does.
 *
 * Read from the unfinished top-level runs of every account (`sync_runs_unfinished_idx`, a subquery of its own, so
 * kept apart): the runs in flight, not the account's history, which every trigger (each scheduled tick) read along an
 * index of the account's runs checking each one's status. Bitmap scans off for it: a run's status changes are not
 * HOT updates, so without vacuum (autovacuum is off) that index keeps an entry for every run ever queued; a bitmap
 * reads them all each time, a plain index scan marks the dead ones on its first pass and skips them after.
 */
export async function findActiveRun(
  ex: Executor,
  accountId: string,
  mode: SyncMode,
  windowFrom: string | null,
  windowTo: string | null,
) {
  if (!ex.isTransaction) {
    return withPlannerSettings(ex, { enable_bitmapscan: 'off' }, (trx) =>
      activeRun(trx, accountId, mode, windowFrom, windowTo),
    );
  }
  // In the caller's transaction (a trigger's): off for this statement only, then as it was.
  const { rows } = await sql<{ prior: string }>`
    select current_setting('enable_bitmapscan') as prior, set_config('enable_bitmapscan', 'off', true)`.execute(ex);
  const run = await activeRun(ex, accountId, mode, windowFrom, windowTo);
  await sql`select set_config('enable_bitmapscan', ${rows[0]!.prior}, true)`.execute(ex);
  return run;
}

function activeRun(
  ex: Executor,
  accountId: string,
  mode: SyncMode,
  windowFrom: string | null,
  windowTo: string | null,
) {
  const unfinished = ex
    .selectFrom('sync_runs')
    .selectAll()
    .where('parent_run_id', 'is', null)
    .where('status', 'in', ['queued', 'running'])
    .offset(0)
    .as('r');
  return ex
    .selectFrom(unfinished)
    .select(SYNC_RUN_COLUMNS)
    .where('account_id', '=', accountId)
    .where('mode', '=', mode)
    .where(sql<boolean>`window_from is not distinct from ${windowFrom}::date`)
    .where(sql<boolean>`window_to is not distinct from ${windowTo}::date`)
    .where((eb) =>
      eb.or([
        eb('status', '=', 'queued'),
        eb.exists(eb.selectFrom('sync_runs as w').select('w.id').whereRef('w.parent_run_id', '=', 'r.id')),
      ]),
    )
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
 * Ends a window and adds one done window to its parent (its counts are on the parent already: `addRunCounts`).
 * Guarded by the window's own status, so a window ended twice is counted once: false when it had ended.
 */
export async function endWindowRun(
  ex: Executor,
  windowRunId: string,
  parentRunId: string,
  status: 'succeeded' | 'failed' | 'cancelled',
  error?: RunError,
): Promise<boolean> {
  const ended = await sql`
    update sync_runs set status = ${status}, finished_at = now(),
      error_code = ${error?.code ?? null}, error_message = ${error?.message ?? null}
    where id = ${windowRunId} and status in ('queued', 'running')`.execute(ex);
  if ((ended.numAffectedRows ?? 0n) === 0n) {
    return false;
  }
  await sql`update sync_runs set windows_done = windows_done + 1 where id = ${parentRunId}`.execute(ex);
  return true;
}

/** Writes a run's last error without changing its status. */
export async function setRunError(ex: Executor, runId: string, error: RunError): Promise<void> {
  await sql`update sync_runs set error_code = ${error.code}, error_message = ${error.message} where id = ${runId}`.execute(
    ex,
  );
}

/** Windows not started yet become cancelled, and the parent's progress is recounted from its windows. */
export async function cancelQueuedWindows(ex: Executor, parentRunId: string): Promise<void> {
  await sql`update sync_runs set status = 'cancelled', finished_at = now()
    where parent_run_id = ${parentRunId} and status = 'queued'`.execute(ex);
  await sql`update sync_runs p set windows_done = (
      select count(*) from sync_runs w where w.parent_run_id = p.id
        and w.status in ('succeeded', 'failed', 'cancelled'))
    where p.id = ${parentRunId}`.execute(ex);
}

/** Sets an unfinished run `failed` with its error, `finished_at` untouched; true when this call changed it. */
export async function markRunFailed(ex: Executor, runId: string, error: RunError): Promise<boolean> {
  const r =
    await sql`update sync_runs set status = 'failed', error_code = ${error.code}, error_message = ${error.message}
    where id = ${runId} and status in ('queued', 'running')`.execute(ex);
  return (r.numAffectedRows ?? 0n) > 0n;
}

/** Sets an unfinished parent run `cancelled` and finished, with why when given; true when this call changed it. */
export async function markParentCancelled(ex: Executor, parentRunId: string, error?: RunError): Promise<boolean> {
  const r = await sql`update sync_runs set status = 'cancelled', finished_at = now(),
      error_code = coalesce(${error?.code ?? null}, error_code),
      error_message = coalesce(${error?.message ?? null}, error_message)
    where id = ${parentRunId} and parent_run_id is null and status in ('queued', 'running')`.execute(ex);
  return (r.numAffectedRows ?? 0n) > 0n;
}

/** Locks a run's row for the rest of the transaction (`for update`) and returns what its end depends on. */
export async function lockRunForUpdate(ex: Executor, runId: string) {
  return ex
    .selectFrom('sync_runs')
    .select(['status', 'account_id', 'finished_at', 'started_at', 'error_code', 'error_message'])
    .where('id', '=', runId)
    .forUpdate()
    .executeTakeFirst();
}

/**
 * Ends the windows of a parent still queued or running with `status`; an error is written only
 * where the window has none of its own.
 */
export async function endUnfinishedWindows(
  ex: Executor,
  parentRunId: string,
  status: 'failed' | 'cancelled',
  error: RunError | null,
): Promise<void> {
  await sql`update sync_runs set status = ${status}, finished_at = now(),
      error_code = coalesce(error_code, ${error?.code ?? null}),
      error_message = coalesce(error_message, ${error?.message ?? null})
    where parent_run_id = ${parentRunId} and status in ('queued', 'running')`.execute(ex);
}

/**
 * What a parent's windows add up to: how many, how many succeeded or ended, their counts, and the error of the earliest
 * failed window (its code and its message, from the same window).
 */
export interface WindowTotals extends Record<CountColumn, number> {
  total: number;
  ok: number;
  done: number;
  error_code: string | null;
  error_message: string | null;
}

export async function sumWindowRuns(ex: Executor, parentRunId: string): Promise<WindowTotals> {
  const r = await sql<WindowTotals>`
    select count(*)::int as total,
      count(*) filter (where status = 'succeeded')::int as ok,
      count(*) filter (where status in ('succeeded', 'failed', 'cancelled'))::int as done,
      coalesce(sum(fetched), 0)::int as fetched, coalesce(sum(inserted), 0)::int as inserted,
      coalesce(sum(updated), 0)::int as updated, coalesce(sum(unchanged), 0)::int as unchanged,
      coalesce(sum(superseded), 0)::int as superseded, coalesce(sum(removed), 0)::int as removed,
      coalesce(sum(rejected), 0)::int as rejected, coalesce(sum(balances), 0)::int as balances,
      (array_agg(error_code order by window_from, id) filter (where status = 'failed'))[1] as error_code,
      (array_agg(error_message order by window_from, id) filter (where status = 'failed'))[1] as error_message
    from sync_runs where parent_run_id = ${parentRunId}`.execute(ex);
  const row = r.rows[0];
  if (!row) {
    throw new Error('an aggregate query returned no row');
  }
  return row;
}

/**
 * Writes a parent's outcome: status, progress and counts, its error code and message each where the
 * row has none yet, and its start and end times where they are not set yet.
 */
export async function writeParentOutcome(
  ex: Executor,
  parentRunId: string,
  o: {
    status: SyncRunStatus;
    windowsDone: number;
    counts: SyncCounts;
    errorCode: string | null;
    errorMessage: string | null;
  },
): Promise<void> {
  const c = o.counts;
  await sql`
    update sync_runs set status = ${o.status},
      windows_done = ${o.windowsDone}, fetched = ${c.fetched}, inserted = ${c.inserted}, updated = ${c.updated},
      unchanged = ${c.unchanged}, superseded = ${c.superseded}, removed = ${c.removed}, rejected = ${c.rejected},
      balances = ${c.balances},
      error_code = coalesce(error_code, ${o.errorCode}), error_message = coalesce(error_message, ${o.errorMessage}),
      started_at = coalesce(started_at, now()), finished_at = coalesce(finished_at, now())
    where id = ${parentRunId}`.execute(ex);
}

/** Where a page of `listUnfinishedParentRunIds` ended: its last run's creation time (as Postgres text, exact to the
 * microsecond a JS Date would lose) and id. */
export interface UnfinishedRunsCursor {
  createdAt: string;
  id: string;
}

/**
 * Run trees not finished (queued or running), oldest first, a page of at most `limit` after `after` (keyset on
 * created_at then id): what the lost-job recovery checks against Redis.
 * Standalone runs (statement imports, validation re-fetches) have no flow to lose: the process working one ends it.
 */
export async function listUnfinishedParentRunIds(
  ex: Executor,
  limit: number,
  after?: UnfinishedRunsCursor,
): Promise<{ ids: string[]; next: UnfinishedRunsCursor | undefined }> {
  let q = ex
    .selectFrom('sync_runs as p')
    .select(['p.id', sql<string>`p.created_at::text`.as('created_at_text')])
    .where('p.parent_run_id', 'is', null)
    .where('p.status', 'in', ['queued', 'running'])
    // A run tree: it has windows, or it is still queued (a standalone run starts `running` and never has any).
    .where((eb) =>
      eb.or([
        eb('p.status', '=', 'queued'),
        eb.exists(eb.selectFrom('sync_runs as w').select('w.id').whereRef('w.parent_run_id', '=', 'p.id')),
      ]),
    );
  if (after) {
    // Spelled out (not a row comparison) so the created_at index bounds the scan.
    q = q
      .where(sql<boolean>`p.created_at >= ${after.createdAt}::timestamptz`)
      .where(sql<boolean>`(p.created_at > ${after.createdAt}::timestamptz or p.id > ${after.id}::uuid)`);
  }
  const rows = await q.orderBy('p.created_at').orderBy('p.id').limit(limit).execute();
  const last = rows.at(-1);
  return {
    ids: rows.map((r) => r.id),
    next: last && rows.length === limit ? { createdAt: last.created_at_text, id: last.id } : undefined,
  };
}

/** Says the process working a standalone run is alive (database time, as the sweep below compares). */
export async function touchRunHeartbeat(ex: Executor, id: string): Promise<void> {
  await sql`update sync_runs set heartbeat_at = now() where id = ${id} and status = 'running'`.execute(ex);
}

/**
 * Fails the standalone runs still `running` whose owner has not said it is alive for `quietSeconds` (run trees
 * never have a heartbeat). Served by `sync_runs_unfinished_idx`. Returns the runs failed.
 */
export async function failQuietStandaloneRuns(
  ex: Executor,
  quietSeconds: number,
  error: { code: string; message: string },
): Promise<{ id: string; account_id: string | null; heartbeat_at: Date }[]> {
  const r = await sql<{ id: string; account_id: string | null; heartbeat_at: Date }>`
    update sync_runs set status = 'failed', finished_at = now(), error_code = ${error.code},
      error_message = ${error.message}
    where parent_run_id is null and status = 'running'
      and heartbeat_at < now() - make_interval(secs => ${quietSeconds})
    returning id, account_id, heartbeat_at`.execute(ex);
  return r.rows;
}

/** A failed or partial run of validation's coverage (see listFailedWindows). */
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
 * [from, to] (a run without a window: created in the period or the day after), oldest first, each `recovered` when
 * every day of its window was fetched again by a later successful run (see `laterSuccess`), not necessarily by one
 * run: a heal re-fetches a window's days in windows of its own. A run with windows is told by its windows. An account in
 * `accountFrom` has its period start there instead of on `from` (a report since approval: each account's own day).
 */
export async function listFailedWindows(
  ex: Executor,
  integrationId: string,
  accountIds: readonly string[],
  from: IsoDate,
  to: IsoDate,
  accountFrom: ReadonlyMap<string, IsoDate> = new Map(),
): Promise<FailedWindowRow[]> {
  // Each account's own start (a run of no account, the integration's, starts on `from`).
  const starts = [...accountFrom];
  // A later successful run of the same account (or of the integration, for an integration's run) that fetched the same
  // data: the same kind or all kinds; for a completed day's data (prior-day and range runs) either mode, as the balance
  // proof counts either as the day's fetch (a heal re-fetches days as a range run); an intraday run by an intraday run.
  const laterSuccess = sql`s.status = 'succeeded' and s.kind in ('all', r.kind)
          and (s.mode = r.mode or (s.mode in ('prior_day', 'range') and r.mode in ('prior_day', 'range')))
          and (s.account_id = r.account_id
            or (r.account_id is null and s.integration_id = r.integration_id and s.account_id is null))
          and s.created_at > r.created_at`;
  const failed = await sql<FailedWindowRow>`
    select r.id, r.account_id, r.mode, r.status, r.window_from::text as window_from, r.window_to::text as window_to,
      r.error_code, r.error_message, coalesce(r.finished_at, r.created_at) as at,
      case when r.window_from is null then exists (
        select 1 from sync_runs s
        where ${laterSuccess}
      ) else not exists (
        -- A day of the window no later successful run fetched again.
        select 1 from generate_series(r.window_from, r.window_to, interval '1 day') as d(day)
        where not exists (
          select 1 from sync_runs s
          where ${laterSuccess} and d.day::date between s.window_from and s.window_to
        )
      ) end as recovered
    -- The integration's failed and partial runs alone (sync_runs_failed_idx), not checked row by row along the
    -- accounts' whole run history: kept a subquery of its own (offset 0) so the planner reads only them.
    from (
      select * from sync_runs where integration_id = ${integrationId} and status in ('failed', 'partial') offset 0
    ) as r
    left join unnest(${starts.map(([id]) => id)}::uuid[], ${starts.map(([, day]) => day)}::date[]) as st(account_id, day)
      on st.account_id = r.account_id
    where (r.account_id is null or r.account_id = any(${accountIds}::uuid[]))
      -- A run whose windows all ended, some failed or partial, is told by those windows (listed themselves): as one
      -- more failed window it counted the failure twice, and only a run of its whole range could recover it. A run
      -- partial with every window succeeded (records rejected) is listed itself.
      -- One read of the run's windows (sync_runs_parent_idx): a window's status as a filter of the scan would let the
      -- planner combine it with every failed run of sync_runs_failed_idx.
      and not coalesce((
        select bool_or(w.status in ('failed', 'partial')) and bool_and(w.status in ('succeeded', 'failed', 'partial'))
        from sync_runs w where w.parent_run_id = r.id
      ), false)
      and (
        (r.window_from is not null and r.window_from <= ${to} and r.window_to >= coalesce(st.day, ${from}::date))
        or (r.window_from is null and r.created_at::date between coalesce(st.day, ${from}::date) and ${to}::date + 1)
      )
    order by r.created_at, r.id`.execute(ex);
  return failed.rows;
}
