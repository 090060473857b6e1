import type { SyncRequest } from '../domain/types.ts';
import type { OrgAccess } from '../http/auth.ts';
import {
  cancelRun,
  getRun,
  runView,
  triggerSync,
  type ProducerDeps,
  type RunView,
  type TriggeredRun,
} from '../scheduler/index.ts';
import { ConflictError, NotFoundError } from '../shared/errors.ts';
import type { BeforeCommit, Database } from '../storage/db.ts';
import type { Page } from '../storage/pagination.ts';
import { getSyncRun, listSyncRunsPage, type SyncRunListFilter } from '../storage/sync-runs.repo.ts';
import { listRejectsPage, type RejectListFilter, type RejectListRow } from '../storage/transactions.repo.ts';
import { integrationOrganization, scopedAccount } from './lookup.ts';

/**
 * Sync runs for the admin API, under the key's organization scope (another organization's run,
 * account or integration → 404): trigger for an account or a whole integration, read, list and cancel.
 * The runs themselves are src/scheduler's (producer side) and src/sync/sync-run.ts's (lifecycle).
 * `scoped` is told the organization acted on once access is established (the route's audit target).
 */
export interface SyncsServiceDeps {
  db: Database;
  producer: ProducerDeps;
}

type Scoped = (organizationId: string) => void;

/** A triggered run as the admin API answers it: the run with its windows, and whether it was joined. */
export interface TriggeredRunView {
  run: RunView;
  joined: boolean;
}

function withWindows(deps: SyncsServiceDeps, runs: TriggeredRun[]): Promise<TriggeredRunView[]> {
  return Promise.all(
    runs.map(async (t) => ({ run: await getRun(deps.producer, t.runId, { windows: true }), joined: t.joined })),
  );
}

/**
 * The `beforeCommit` of the runs' own transaction (src/scheduler/runs.ts `triggerSync`), handed their views as read
 * in it, one after the other on its connection; the views answered are those (`answered`), so the request's answer
 * is the one stored with its runs.
 */
function viewsBeforeCommit(beforeCommit: BeforeCommit<TriggeredRunView[]> | undefined): {
  hook: BeforeCommit<TriggeredRun[]> | undefined;
  answered: () => TriggeredRunView[] | undefined;
} {
  let views: TriggeredRunView[] | undefined;
  return {
    hook:
      beforeCommit &&
      (async (trx, runs) => {
        views = [];
        for (const t of runs) {
          views.push({ run: await getRun({ db: trx }, t.runId, { windows: true }), joined: t.joined });
        }
        await beforeCommit(trx, views);
      }),
    answered: () => views,
  };
}

/** A run of the key's organization, or 404. */
async function scopedRun(deps: SyncsServiceDeps, access: OrgAccess, id: string) {
  const row = await getSyncRun(deps.db, id);
  if (!row) {
    throw new NotFoundError('sync run', id);
  }
  access.assert(row.organization_id, 'sync run', id);
  return row;
}

export async function triggerAccountSync(
  deps: SyncsServiceDeps,
  access: OrgAccess,
  accountId: string,
  request: SyncRequest,
  scoped: Scoped,
  beforeCommit?: BeforeCommit<TriggeredRunView[]>,
): Promise<TriggeredRunView> {
  const account = await scopedAccount(deps.db, access, accountId);
  scoped(account.organization_id);
  const views = viewsBeforeCommit(beforeCommit);
  const { runs } = await triggerSync(deps.producer, { accountId: account.id, request, trigger: 'manual' }, views.hook);
  const [run] = views.answered() ?? (await withWindows(deps, runs));
  if (!run) {
    throw new Error('triggerSync started no run for an account');
  }
  return run;
}

/** One run per active account of the integration. */
export async function triggerIntegrationSync(
  deps: SyncsServiceDeps,
  access: OrgAccess,
  integrationId: string,
  request: SyncRequest,
  scoped: Scoped,
  beforeCommit?: BeforeCommit<TriggeredRunView[]>,
): Promise<TriggeredRunView[]> {
  scoped(await integrationOrganization(deps.db, access, integrationId));
  const views = viewsBeforeCommit(beforeCommit);
  const { runs } = await triggerSync(deps.producer, { integrationId, request, trigger: 'manual' }, views.hook);
  return views.answered() ?? withWindows(deps, runs);
}

/** A run with its windows. */
export async function getScopedRun(deps: SyncsServiceDeps, access: OrgAccess, id: string): Promise<RunView> {
  await scopedRun(deps, access, id);
  return getRun(deps.producer, id, { windows: true });
}

/** A page of runs (parent rows), newest first; an organization's key sees its own only. */
export async function listRuns(
  deps: SyncsServiceDeps,
  access: OrgAccess,
  filter: SyncRunListFilter,
): Promise<Page<RunView>> {
  const page = await listSyncRunsPage(deps.db, { ...filter, organizationId: access.filter(filter.organizationId) });
  return { rows: page.rows.map(runView), nextCursor: page.nextCursor };
}

/** Cancels a run (a window of one: 409 `run_is_window`, naming its run) and returns it with its windows. */
export async function cancelScopedRun(
  deps: SyncsServiceDeps,
  access: OrgAccess,
  id: string,
  scoped: Scoped,
): Promise<RunView> {
  const row = await scopedRun(deps, access, id);
  scoped(row.organization_id);
  if (row.parent_run_id !== null) {
    // A window reads like a run (GET /v1/sync-runs/{id}), so "not found" would be false: name the run to cancel.
    throw new ConflictError(
      `sync run ${id} is a window of run ${row.parent_run_id}; a window is not cancelled alone: cancel run ${row.parent_run_id}`,
      'run_is_window',
      { runId: row.parent_run_id },
    );
  }
  await cancelRun(deps.producer, id);
  return getRun(deps.producer, id, { windows: true });
}

/** A page of an account's rejected records (`open`: still blocking their day; `resolved`; `all`). */
export async function listAccountRejects(
  deps: SyncsServiceDeps,
  access: OrgAccess,
  accountId: string,
  query: Omit<RejectListFilter, 'accountId'>,
): Promise<Page<RejectListRow>> {
  const account = await scopedAccount(deps.db, access, accountId);
  return listRejectsPage(deps.db, {
    accountId: account.id,
    state: query.state,
    cursor: query.cursor,
    limit: query.limit,
  });
}
