import { createHash } from 'node:crypto';
import type { FlowJob, FlowJobNode } from 'bullmq';
import type { SyncRequest, SyncRunStatus, SyncTrigger } from '../domain/types.ts';
import { isUnscheduledStage } from '../domain/sync-rules.ts';
import { ConflictError, NotFoundError, ValidationError } from '../shared/errors.ts';
import type { Logger } from '../shared/logger.ts';
import { syncRecordsTotal, syncRunDurationSeconds, syncRunsTotal } from '../shared/metrics.ts';
import { getAccount, listAccountsOfIntegration, type AccountRow } from '../storage/accounts.repo.ts';
import { inTransaction, type BeforeCommit, type Database } from '../storage/db.ts';
import { getIntegrationSyncState } from '../storage/integrations.repo.ts';
import { getSyncRun, listWindowRuns, type RunWarning } from '../storage/sync-runs.repo.ts';
import { estimateBusinessDay } from '../sync/business-calendar.ts';
import { cancelRunTree, finalizeRun, openRun } from '../sync/sync-run.ts';
import { jobOptions, parsePayload, type JobPayload } from './jobs.ts';
import { assertRangeOrder, parseSyncRequest, planRun } from './plan.ts';
import type { Queues } from './queues.ts';

/** What the producer side needs (api role, CLI, scheduled ticks): the database, the queues, a clock. */
export interface ProducerDeps {
  db: Database;
  queues: Queues;
  now(): Date;
  logger: Logger;
  /** `config.sync.lookbackDays`: prior-day runs re-read this many days before the prior day. */
  lookbackDays: number;
}

export interface TriggerInput {
  /** Exactly one of accountId / integrationId (a whole integration = each of its active accounts). */
  accountId?: string;
  integrationId?: string;
  request: SyncRequest;
  trigger: SyncTrigger;
  /** A caller-chosen run id (scheduled ticks derive one from the tick, so a re-processed tick is a no-op). */
  runId?: string;
}

export interface TriggeredRun {
  runId: string;
  accountId: string;
  /**
   * True when an existing run was returned: the account's unfinished run for the same request (a range's, or a
   * still-queued one), or, for a tick processed again, the run it opened or joined the first time (maybe finished).
   */
  joined: boolean;
  status: SyncRunStatus;
}

/**
 * Starts a sync (the contract the admin API puts behind HTTP). For each account: joins the account's
 * unfinished run for the same request where it may (a range joins the unfinished run for its dates; intraday
 * and prior-day join only a run still queued), or creates a parent `sync_runs` row (queued) with one child
 * row per window, then enqueues the run as a BullMQ flow. A new run for an account with one running queues
 * behind it (the per-account lock runs their windows one after the other); it never races it.
 */
export async function triggerSync(
  deps: ProducerDeps,
  input: TriggerInput,
  beforeCommit?: BeforeCommit<TriggeredRun[]>,
): Promise<{ runs: TriggeredRun[] }> {
  const request = parseSyncRequest(input.request);
  // Refused for every account alike: said even when no account is active to plan it (a whole integration's).
  assertRangeOrder(request);
  if ((input.accountId === undefined) === (input.integrationId === undefined)) {
    throw new ValidationError('give exactly one of accountId or integrationId', [
      { path: 'accountId', message: 'exactly one of accountId, integrationId' },
    ]);
  }
  if (input.accountId !== undefined) {
    const account = await getAccount(deps.db, input.accountId);
    if (!account) {
      throw new NotFoundError('account', input.accountId, 'account_not_found');
    }
    const prepared = await prepareAccount(deps, account, request);
    if (beforeCommit) {
      return { runs: await openAtomically(deps, [prepared], input.trigger, beforeCommit) };
    }
    return { runs: [await openAndEnqueue(deps, prepared, input.trigger, input.runId)] };
  }
  const integrationId = input.integrationId ?? '';
  const integration = await getIntegrationSyncState(deps.db, integrationId);
  if (!integration) {
    throw new NotFoundError('integration', integrationId, 'integration_not_found');
  }
  // Refused here too, not only by each active account's plan: with none active, a 202 naming no run said "done".
  assertIntegrationSyncs(integrationId, integration.stage);
  const accounts = (await listAccountsOfIntegration(deps.db, integrationId)).filter((a) => a.status === 'active');
  // Every account's plan first (each account has its own business day, so a range can be refused for one and not
  // another): a request refused for any account opens no run for the others.
  const prepared: PreparedAccount[] = [];
  for (const account of accounts) {
    try {
      prepared.push(await prepareAccount(deps, account, request));
    } catch (err) {
      // Which account refused it: the dates are each account's own.
      if (err instanceof ValidationError) {
        throw new ValidationError(
          `account ${account.id}: ${err.message}; no account of the integration was synced`,
          err.fields,
          err.code,
        );
      }
      throw err;
    }
  }
  if (beforeCommit) {
    return { runs: await openAtomically(deps, prepared, input.trigger, beforeCommit) };
  }
  const runs: TriggeredRun[] = [];
  for (const p of prepared) {
    runs.push(await openAndEnqueue(deps, p, input.trigger, undefined));
  }
  return { runs };
}

/**
 * Opens (or joins) the runs of every prepared account in one transaction, with `beforeCommit` last in it (an API
 * request's answer stored with its runs, src/http/idempotency.ts), then puts each unfinished run's flow into Redis.
 * A dead run joined (its final job ended without finishing it) is finalized here as `openAndEnqueue` does; the answer
 * committed with it names it as joined, and the runs are opened again after it so the request's work still runs. A
 * flow that cannot be added now (Redis away) is added by the workers' recovery sweep (the run is queued in the
 * database).
 */
async function openAtomically(
  deps: ProducerDeps,
  prepared: readonly PreparedAccount[],
  trigger: SyncTrigger,
  beforeCommit: BeforeCommit<TriggeredRun[]>,
): Promise<TriggeredRun[]> {
  const runs = await inTransaction(deps.db, async (trx) => {
    const opened: TriggeredRun[] = [];
    for (const { account, plan } of prepared) {
      opened.push({ ...(await openRun(trx, { account, trigger, plan })), accountId: account.id });
    }
    await beforeCommit(trx, opened);
    return opened;
  });
  for (const [i, run] of runs.entries()) {
    const p = prepared[i];
    if (p && isUnfinished(run.status) && (await ensureEnqueued(deps, run.runId)) === 'finalized' && run.joined) {
      await openAndEnqueue(deps, p, trigger, undefined);
    }
  }
  deps.logger.info({ runs: runs.map((r) => ({ runId: r.runId, joined: r.joined })), trigger }, 'sync triggered');
  return runs;
}

interface PreparedAccount {
  account: AccountRow;
  plan: ReturnType<typeof planRun>;
}

/**
 * A paused integration takes no sync until resumed (409 `integration_paused`); a cancelled one never again: cancelled
 * is final, so there is nothing to resume (409 `integration_cancelled`, the code its runs end with too).
 */
function assertIntegrationSyncs(integrationId: string, stage: string): void {
  if (stage === 'cancelled') {
    throw new ConflictError(
      `integration ${integrationId} is cancelled, which is final: it takes no syncs`,
      'integration_cancelled',
    );
  }
  if (isUnscheduledStage(stage)) {
    throw new ConflictError(`integration ${integrationId} is ${stage}; resume it before syncing`, 'integration_paused');
  }
}

/** Checks that the account may sync and plans its run (nothing written): refusals are thrown here. */
async function prepareAccount(deps: ProducerDeps, account: AccountRow, request: SyncRequest): Promise<PreparedAccount> {
  if (account.status !== 'active') {
    throw new ConflictError(
      `account ${account.id} is ${account.status}${account.status_reason ? ` (${account.status_reason})` : ''}; only active accounts sync`,
      'account_not_active',
    );
  }
  const integration = await getIntegrationSyncState(deps.db, account.integration_id);
  if (integration) {
    assertIntegrationSyncs(account.integration_id, integration.stage);
  }
  // The bank's business day as it last reported it (the clock only moves the estimate on); each
  // window asks the bank again where its dates depend on it (sync/business-calendar.ts).
  return { account, plan: planRun(request, estimateBusinessDay(account, deps.now()), deps.lookbackDays) };
}

async function openAndEnqueue(
  deps: ProducerDeps,
  { account, plan }: PreparedAccount,
  trigger: SyncTrigger,
  wantedId: string | undefined,
): Promise<TriggeredRun> {
  // Joins the account's unfinished run for the same request, or creates the run tree (sync/sync-run.ts).
  let result = await openRun(deps.db, { account, trigger, plan, runId: wantedId });
  if (isUnfinished(result.status) && (await ensureEnqueued(deps, result.runId)) === 'finalized' && result.joined) {
    // The run joined was dead (its final job had ended without finishing it): finished now, it is no longer
    // joined, and this request gets a run of its own that runs (a tick's id returns the run it joined, finished).
    result = await openRun(deps.db, { account, trigger, plan, runId: wantedId });
    if (isUnfinished(result.status)) {
      await ensureEnqueued(deps, result.runId);
    }
  }
  deps.logger.info(
    {
      runId: result.runId,
      accountId: account.id,
      mode: plan.mode,
      trigger,
      joined: result.joined,
      windows: plan.windows.length,
    },
    'sync triggered',
  );
  return { ...result, accountId: account.id };
}

const isUnfinished = (status: string): boolean => status === 'queued' || status === 'running';

/** What `ensureEnqueued` found and did. */
type EnsureOutcome = 'present' | 'enqueued' | 'finalized';

/**
 * Makes sure an unfinished run will be finished. Its flow goes into Redis unless it is there already: the parent
 * `sync-account` job with its windows as a chain of children (the first window deepest, so it runs first; each next
 * window becomes runnable when the one before it finished). The chain keeps an account's windows in order without
 * them contending for the account lock. Job ids are deterministic, so adding twice is a no-op.
 *
 * A parent job that has ended (`failed`: its attempts at the final bookkeeping were spent, e.g. while the database
 * was away; `completed`: its bookkeeping's commit was lost, e.g. in a database failover) will never finish the run,
 * and while it is in Redis the flow cannot be added again. Its windows have all ended by then (the parent runs only
 * after its chain), so the run is finalized here, as that job would have done (`finalizeRun`, idempotent: a parent job
 * that finished the run between our reads changes nothing).
 * Returns `enqueued` when it added the flow, `finalized` when it finished the run, `present` otherwise.
 */
export async function ensureEnqueued(
  deps: Pick<ProducerDeps, 'db' | 'queues' | 'logger'>,
  runId: string,
): Promise<EnsureOutcome> {
  const run = await getSyncRun(deps.db, runId);
  if (!run?.account_id) {
    throw new NotFoundError('sync run', runId, 'run_not_found');
  }
  const rootPayload: JobPayload<'sync-account'> = parsePayload('sync-account', { runId, accountId: run.account_id });
  const rootOptions = jobOptions('sync-account', rootPayload);
  const root = rootOptions.jobId ? await deps.queues.queue('sync').getJob(rootOptions.jobId) : undefined;
  const state = root ? await root.getState() : 'unknown';
  if (state === 'failed' || state === 'completed') {
    // Read again: the parent job may have finished the run since the read above, and then there is nothing to do.
    const current = await getSyncRun(deps.db, runId);
    const ended = current && isUnfinished(current.status) ? await endRun(deps.db, deps.logger, runId) : undefined;
    return ended?.first ? 'finalized' : 'present';
  }
  if (state !== 'unknown') {
    return 'present';
  }
  const windows = await listWindowRuns(deps.db, runId);
  let chain: FlowJobNode | undefined;
  for (const w of windows) {
    const kinds = w.kind === 'all' ? ['transactions', 'balances'] : [w.kind];
    const payload = parsePayload('sync-window', {
      parentRunId: runId,
      windowRunId: w.id,
      accountId: run.account_id,
      integrationId: run.integration_id,
      mode: run.mode,
      kinds,
      ...(run.mode === 'range' && w.window_from && w.window_to ? { from: w.window_from, to: w.window_to } : {}),
    });
    chain = {
      name: 'sync-window',
      queueName: 'sync',
      data: payload,
      opts: jobOptions('sync-window', payload),
      ...(chain ? { children: [chain] } : {}),
    };
  }
  const flow: FlowJob = {
    name: 'sync-account',
    queueName: 'sync',
    data: rootPayload,
    opts: rootOptions,
    ...(chain ? { children: [chain] } : {}),
  };
  await deps.queues.flows.add(flow);
  return 'enqueued';
}

const RECORD_OUTCOMES = ['inserted', 'updated', 'unchanged', 'superseded', 'removed', 'rejected', 'balances'] as const;

/**
 * A run tree's final bookkeeping (`finalizeRun`), by its parent job or by `ensureEnqueued` for a run whose parent job
 * ended without it: the run's metrics counted by the call that finished it (once), and the log line saying how it
 * ended. Undefined when the run's row is missing.
 */
export async function endRun(
  db: Database,
  log: Logger,
  runId: string,
): Promise<{ status: string; first: boolean } | undefined> {
  const r = await finalizeRun(db, runId);
  if (!r) {
    log.warn({ runId }, 'sync run row missing');
    return undefined;
  }
  const run = await getSyncRun(db, runId);
  if (r.first) {
    syncRunsTotal.inc({ outcome: r.status });
    if (r.startedAt) {
      syncRunDurationSeconds.observe({ outcome: r.status }, (Date.now() - r.startedAt.getTime()) / 1000);
    }
    for (const outcome of RECORD_OUTCOMES) {
      if (run && run[outcome] > 0) {
        syncRecordsTotal.inc({ outcome }, run[outcome]);
      }
    }
  }
  const warnings = Array.isArray(run?.warnings) ? (run.warnings as { code?: unknown; dates?: unknown }[]) : [];
  const fields = {
    runId,
    accountId: run?.account_id ?? null,
    status: r.status,
    bankBusinessDay: run?.bank_business_day ?? null,
  };
  if (warnings.some((w) => w.code === 'fetched_nothing')) {
    // The bank returned nothing for a business day of an account that normally has activity.
    log.warn({ ...fields, warnings }, 'sync run finished: the bank reported no transaction on a business day');
  } else {
    log.info({ ...fields, warnings: warnings.map((w) => w.code) }, 'sync run finished');
  }
  return { status: r.status, first: r.first };
}

export interface RunView {
  runId: string;
  organizationId: string;
  integrationId: string;
  accountId: string | null;
  trigger: string;
  mode: string;
  /** The channel the run read: `jpm_api`, or the format of an imported statement file. */
  source: string;
  window: { from: string | null; to: string | null };
  status: SyncRunStatus;
  counts: {
    fetched: number;
    inserted: number;
    updated: number;
    unchanged: number;
    superseded: number;
    removed: number;
    rejected: number;
    balances: number;
  };
  progress: { windowsTotal: number; windowsDone: number };
  error: { code: string; message: string | null } | null;
  /** The business day the bank answered for (see sync/business-calendar.ts). */
  bankBusinessDay: string | null;
  /** What a person should notice about a run that did not fail it (no business day, nothing fetched). */
  warnings: RunWarning[];
  createdAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
  windows?: {
    runId: string;
    kind: string;
    from: string | null;
    to: string | null;
    status: SyncRunStatus;
    attempts: number;
    error: { code: string; message: string | null } | null;
  }[];
}

type RunRow = NonNullable<Awaited<ReturnType<typeof getSyncRun>>>;

/** A `sync_runs` row as a RunView (without windows), e.g. for a page of runs listed in one query. */
export function runView(r: RunRow): RunView {
  return {
    runId: r.id,
    organizationId: r.organization_id,
    integrationId: r.integration_id,
    accountId: r.account_id,
    trigger: r.trigger,
    mode: r.mode,
    source: r.source,
    window: { from: r.window_from, to: r.window_to },
    status: r.status as SyncRunStatus,
    counts: {
      fetched: r.fetched,
      inserted: r.inserted,
      updated: r.updated,
      unchanged: r.unchanged,
      superseded: r.superseded,
      removed: r.removed,
      rejected: r.rejected,
      balances: r.balances,
    },
    progress: { windowsTotal: r.windows_total, windowsDone: r.windows_done },
    error: r.error_code ? { code: r.error_code, message: r.error_message } : null,
    bankBusinessDay: r.bank_business_day,
    warnings: Array.isArray(r.warnings) ? (r.warnings as unknown as RunWarning[]) : [],
    createdAt: r.created_at,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
  };
}

/**
 * A run's status (`queued|running|succeeded|partial|failed|cancelled`), counts and progress; with
 * `windows`, each window too. A run is over when `finishedAt` is set (a run failed by a permanent
 * error shows `failed` at once, and `finishedAt` once its remaining windows have been skipped).
 */
export async function getRun(
  deps: Pick<ProducerDeps, 'db'>,
  runId: string,
  opts: { windows?: boolean } = {},
): Promise<RunView> {
  const row = await getSyncRun(deps.db, runId);
  if (!row) {
    throw new NotFoundError('sync run', runId, 'run_not_found');
  }
  const out = runView(row);
  if (opts.windows) {
    out.windows = (await listWindowRuns(deps.db, runId)).map((w) => ({
      runId: w.id,
      kind: w.kind,
      from: w.window_from,
      to: w.window_to,
      status: w.status as SyncRunStatus,
      attempts: w.attempts,
      error: w.error_code ? { code: w.error_code, message: w.error_message } : null,
    }));
  }
  return out;
}

/**
 * Cancels an unfinished run: the run and its windows not yet started become `cancelled`; a window
 * that is running finishes its current window (its writes are whole pages), and every later window
 * sees the cancellation and ends without calling the bank. Throws ConflictError for a finished run.
 */
export async function cancelRun(deps: Pick<ProducerDeps, 'db' | 'logger'>, runId: string): Promise<RunView> {
  await cancelRunTree(deps.db, runId);
  deps.logger.info({ runId }, 'sync run cancelled');
  return getRun(deps, runId);
}

/** A UUID (version 8, RFC 9562 custom) derived from a name: the same tick always names the same run. */
export function deterministicUuid(name: string): string {
  const b = createHash('sha256').update(name).digest();
  b[6] = ((b[6] ?? 0) & 0x0f) | 0x80;
  b[8] = ((b[8] ?? 0) & 0x3f) | 0x80;
  const h = b.subarray(0, 16).toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}
