import { z } from 'zod';
import { RECORD_SOURCES, SYNC_MODES, SYNC_RUN_STATUSES, SYNC_TRIGGERS } from '../domain/types.ts';
import { PAGE_QUERY, pageSchema } from '../http/pagination.ts';
import { defineRoute, type Route } from '../http/routes.ts';
import {
  cancelRun,
  getRun,
  MAX_RANGE_DAYS,
  runView,
  triggerSync,
  type ProducerDeps,
  type RunView,
  type TriggeredRun,
} from '../scheduler/index.ts';
import { NotFoundError } from '../shared/errors.ts';
import type { Database } from '../storage/db.ts';
import { getSyncRun, listSyncRunsPage } from '../storage/sync-runs.repo.ts';
import { listRejectsPage, REJECT_STATES, type RejectListRow } from '../storage/transactions.repo.ts';
import { deprecatedAlias, Id, IdParams, Instant, iso } from './dto.ts';
import { integrationOrganization, scopedAccount } from './lookup.ts';

/**
 * Sync runs over HTTP: trigger one for an account or a whole integration (202: the work runs on the
 * queue workers), follow its status, counts and progress, list and cancel runs. The orchestration
 * behind it (windows, single flight, retries) is src/scheduler; this file only exposes its API.
 */
const TAGS = ['Syncs'];
const Day = z.iso.date().meta({ description: 'Business date, YYYY-MM-DD' });
const Status = z.enum(SYNC_RUN_STATUSES);
const ErrorSchema = z.object({ code: z.string(), message: z.string().nullable() }).nullable();

const RejectSchema = z
  .object({
    id: z.string().meta({ description: 'Reject id' }),
    recordType: z.enum(['transaction', 'balance']),
    jpmTransactionId: z
      .string()
      .nullable()
      .meta({ description: "The record's transactionId as the bank sent it; null when none" }),
    recordIndex: z
      .number()
      .int()
      .nullable()
      .meta({ description: "Where the record sat on the bank's page (-1: not from a page position)" }),
    bookingDate: Day.nullable().meta({ description: 'Its asOfDate when readable: the day it blocks' }),
    recordClass: z.string().nullable().meta({ description: 'I (intraday) or P (posted) when known' }),
    fields: z.array(z.string()).meta({ description: 'The unusable fields, e.g. ["amount"]' }),
    reason: z.string().meta({ example: 'amount: expected string, got null' }),
    seenCount: z.number().int().meta({ description: 'How many fetches returned this same bad record' }),
    syncRunId: Id.nullable().meta({ description: 'The run (window) that saw it last' }),
    firstSeenAt: Instant,
    lastSeenAt: Instant,
    resolvedAt: Instant.nullable(),
    resolution: z.enum(['stored', 'not_sent_again']).nullable().meta({
      description:
        'stored: a later sync stored the record; not_sent_again: a complete walk of its day no longer had it',
    }),
  })
  .meta({ id: 'Reject', description: 'A record the bank sent that could not be stored' });

function toRejectDto(r: RejectListRow): z.input<typeof RejectSchema> {
  return {
    id: r.id,
    recordType: r.record_type as 'transaction' | 'balance',
    jpmTransactionId: r.jpm_transaction_id,
    recordIndex: r.record_index,
    bookingDate: r.booking_date,
    recordClass: r.record_class,
    fields: r.fields,
    reason: r.reason,
    seenCount: r.seen_count,
    syncRunId: r.sync_run_id,
    firstSeenAt: iso(r.created_at),
    lastSeenAt: iso(r.last_seen_at),
    resolvedAt: r.resolved_at ? iso(r.resolved_at) : null,
    resolution: r.resolution as 'stored' | 'not_sent_again' | null,
  };
}

export const SyncRequestSchema = z
  .discriminatedUnion('mode', [
    z
      .strictObject({ mode: z.literal('intraday') })
      .meta({ description: "Today, in the account's time zone (pending items and current-day balances)" }),
    z.strictObject({ mode: z.literal('prior_day') }).meta({
      description: "The bank's prior business day plus the configured look-back days (late postings, corrections)",
    }),
    z.strictObject({ mode: z.literal('range'), from: Day, to: Day }).meta({
      description: `A backfill of completed business days (ends before the bank's current business day at the latest; at most ${MAX_RANGE_DAYS} days)`,
    }),
  ])
  .meta({ id: 'SyncRequest', description: 'What to sync' });

export const SyncRunSchema = z
  .object({
    id: Id,
    organizationId: Id,
    integrationId: Id,
    accountId: Id.nullable(),
    trigger: z.string().meta({ description: `${SYNC_TRIGGERS.join(' | ')}` }),
    mode: z.enum(SYNC_MODES),
    source: z.enum(RECORD_SOURCES).meta({
      description:
        "What the run read: jpm_api (the bank's API), or an imported statement file (bai2, camt053, camt052)",
    }),
    window: z.object({ from: Day.nullable(), to: Day.nullable() }),
    status: Status.meta({
      description:
        'queued → running → succeeded | partial (some windows gave up, or records were rejected: error_code records_rejected) | failed | cancelled',
    }),
    counts: z.object({
      fetched: z.number().int(),
      inserted: z.number().int(),
      updated: z.number().int(),
      unchanged: z.number().int(),
      superseded: z.number().int(),
      removed: z.number().int(),
      rejected: z.number().int(),
      balances: z.number().int(),
    }),
    progress: z.object({ windowsTotal: z.number().int(), windowsDone: z.number().int() }),
    error: ErrorSchema,
    bankBusinessDay: Day.nullable().meta({
      description:
        "The business day J.P. Morgan answered for (its CURRENT_DAY for intraday, its PRIOR_DAY for prior-day runs); the run's dates follow it, not our clock",
    }),
    warnings: z
      .array(
        z.object({
          code: z.string().meta({
            description:
              'no_business_day (weekdays the bank reports as no business day: holidays, nothing owed) | no_current_business_day (intraday on a day the bank is closed) | fetched_nothing (business days with no transaction on an account that normally has activity) | bank_business_day_unknown',
          }),
          message: z.string(),
          dates: z.array(Day).optional(),
        }),
      )
      .meta({ description: 'What a person should notice about a run that did not fail it' }),
    createdAt: Instant,
    startedAt: Instant.nullable(),
    finishedAt: Instant.nullable().meta({ description: 'Set once the run is over' }),
    windows: z
      .array(
        z.object({
          id: Id,
          kind: z.string().meta({ description: 'transactions | balances | all' }),
          from: Day.nullable(),
          to: Day.nullable(),
          status: Status,
          attempts: z.number().int(),
          error: ErrorSchema,
        }),
      )
      .optional()
      .meta({ description: "The run's windows in the order they run (single runs only)" }),
  })
  .meta({ id: 'SyncRun', description: 'One sync of one account: a parent run with one window per bank request range' });

const TriggeredRunSchema = SyncRunSchema.extend({
  joined: z.boolean().meta({ description: 'An unfinished run for the same request existed and was joined' }),
}).meta({ id: 'TriggeredSyncRun' });
const TriggeredListSchema = z.object({ data: z.array(TriggeredRunSchema) }).meta({ id: 'TriggeredSyncRunList' });
/** The answer of the old `…/syncs` paths (one release): the runs under `runs`. */
const TriggeredSchema = z.object({ runs: z.array(TriggeredRunSchema) }).meta({ id: 'TriggeredSyncRuns' });

export function toSyncRunDto(r: RunView): z.input<typeof SyncRunSchema> {
  return {
    id: r.runId,
    organizationId: r.organizationId,
    integrationId: r.integrationId,
    accountId: r.accountId,
    trigger: r.trigger,
    mode: r.mode as (typeof SYNC_MODES)[number],
    source: r.source as (typeof RECORD_SOURCES)[number],
    window: r.window,
    status: r.status,
    counts: r.counts,
    progress: r.progress,
    error: r.error,
    bankBusinessDay: r.bankBusinessDay,
    warnings: r.warnings,
    createdAt: iso(r.createdAt),
    startedAt: iso(r.startedAt),
    finishedAt: iso(r.finishedAt),
    ...(r.windows
      ? {
          windows: r.windows.map((w) => ({
            id: w.runId,
            kind: w.kind,
            from: w.from,
            to: w.to,
            status: w.status,
            attempts: w.attempts,
            error: w.error,
          })),
        }
      : {}),
  };
}

export function syncRoutes(deps: { db: Database; producer: ProducerDeps }): Route[] {
  const triggeredRuns = (runs: TriggeredRun[]) =>
    Promise.all(
      runs.map(async (t) => ({
        ...toSyncRunDto(await getRun(deps.producer, t.runId, { windows: true })),
        joined: t.joined,
      })),
    );
  /** A run of the key's organization, or 404. */
  const scopedRun = async (access: { assert(org: string, what: string, id: string): void }, id: string) => {
    const row = await getSyncRun(deps.db, id);
    if (!row) {
      throw new NotFoundError('sync run', id);
    }
    access.assert(row.organization_id, 'sync run', id);
    return row;
  };
  const TRIGGER_DESCRIPTION =
    'Runs on the queue workers: the 202 carries the queued run (or the unfinished run for the same request, joined). Follow it at GET /v1/sync-runs/{id}. 409 when the account is not active or its integration is paused or cancelled.';
  const accountSync = defineRoute({
    method: 'post',
    path: '/v1/accounts/{id}/sync-runs',
    permission: 'syncs:write',
    tags: TAGS,
    auditTarget: 'account',
    summary: 'Sync an account',
    description: TRIGGER_DESCRIPTION,
    request: { params: IdParams, body: SyncRequestSchema },
    response: { status: 202, schema: TriggeredRunSchema, description: 'The run' },
    errors: [409],
    handler: async ({ params, body, access, audit }) => {
      const account = await scopedAccount(deps.db, access, params.id);
      audit.target({ organizationId: account.organization_id });
      const [run] = await triggeredRuns(
        (await triggerSync(deps.producer, { accountId: account.id, request: body, trigger: 'manual' })).runs,
      );
      if (!run) {
        throw new Error('triggerSync started no run for an account');
      }
      return run;
    },
  });
  const integrationSync = defineRoute({
    method: 'post',
    path: '/v1/integrations/{id}/sync-runs',
    permission: 'syncs:write',
    tags: TAGS,
    auditTarget: 'integration',
    summary: 'Sync every active account of an integration',
    description: `One run per active account, listed under \`data\`. ${TRIGGER_DESCRIPTION}`,
    request: { params: IdParams, body: SyncRequestSchema },
    response: { status: 202, schema: TriggeredListSchema, description: 'The runs, one per active account' },
    errors: [409],
    handler: async ({ params, body, access, audit }) => {
      audit.target({ organizationId: await integrationOrganization(deps.db, access, params.id) });
      return {
        data: await triggeredRuns(
          (await triggerSync(deps.producer, { integrationId: params.id, request: body, trigger: 'manual' })).runs,
        ),
      };
    },
  });
  const accountRejects = defineRoute({
    method: 'get',
    path: '/v1/accounts/{id}/rejects',
    permission: 'syncs:read',
    tags: TAGS,
    summary: "List an account's rejected records",
    description:
      'Records the bank sent whose money facts (amount, direction, currency and its scale, booking date, account) were unusable, ' +
      'newest first; `state=open` (default) lists those still blocking their day, `resolved` those a later sync stored or no longer received. ' +
      'The same bad record fetched again is the same entry (`seenCount`).',
    request: { params: IdParams, query: z.object({ ...PAGE_QUERY, state: z.enum(REJECT_STATES).default('open') }) },
    response: {
      status: 200,
      schema: pageSchema(RejectSchema).meta({ id: 'RejectPage' }),
      description: 'A page of rejects',
    },
    handler: async ({ params, query, access }) => {
      const account = await scopedAccount(deps.db, access, params.id);
      const page = await listRejectsPage(deps.db, {
        accountId: account.id,
        state: query.state,
        cursor: query.cursor,
        limit: query.limit,
      });
      return { data: page.rows.map(toRejectDto), nextCursor: page.nextCursor };
    },
  });
  return [
    accountRejects,
    accountSync,
    deprecatedAlias(accountSync, '/v1/accounts/{id}/syncs', {
      response: { ...accountSync.response, schema: TriggeredSchema, description: 'The run, under `runs`' },
      handler: async (input) => ({ runs: [await accountSync.handler(input)] }),
    }),
    integrationSync,
    deprecatedAlias(integrationSync, '/v1/integrations/{id}/syncs', {
      response: {
        ...integrationSync.response,
        schema: TriggeredSchema,
        description: 'The runs, one per active account, under `runs`',
      },
      handler: async (input) => ({ runs: ((await integrationSync.handler(input)) as { data: unknown[] }).data }),
    }),
    defineRoute({
      method: 'get',
      path: '/v1/sync-runs/{id}',
      permission: 'syncs:read',
      tags: TAGS,
      summary: 'Get a sync run',
      description: 'Status, counts, progress and each window (with its attempts and last error).',
      request: { params: IdParams },
      response: { status: 200, schema: SyncRunSchema, description: 'The run' },
      handler: async ({ params, access }) => {
        await scopedRun(access, params.id);
        return toSyncRunDto(await getRun(deps.producer, params.id, { windows: true }));
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/sync-runs',
      permission: 'syncs:read',
      tags: TAGS,
      summary: 'List sync runs',
      description: 'Newest first; whole runs (their windows are in GET /v1/sync-runs/{id}).',
      request: {
        query: z.object({
          ...PAGE_QUERY,
          organizationId: Id.optional(),
          integrationId: Id.optional(),
          accountId: Id.optional(),
          status: Status.optional(),
          trigger: z.enum(SYNC_TRIGGERS).optional(),
          mode: z.enum(SYNC_MODES).optional(),
        }),
      },
      response: {
        status: 200,
        schema: pageSchema(SyncRunSchema).meta({ id: 'SyncRunPage' }),
        description: 'A page of runs',
      },
      handler: async ({ query, access }) => {
        const page = await listSyncRunsPage(deps.db, {
          organizationId: access.filter(query.organizationId),
          integrationId: query.integrationId,
          accountId: query.accountId,
          status: query.status,
          trigger: query.trigger,
          mode: query.mode,
          cursor: query.cursor,
          limit: query.limit,
        });
        return { data: page.rows.map((r) => toSyncRunDto(runView(r))), nextCursor: page.nextCursor };
      },
    }),
    defineRoute({
      method: 'post',
      path: '/v1/sync-runs/{id}/cancel',
      permission: 'syncs:write',
      tags: TAGS,
      auditTarget: 'sync_run',
      summary: 'Cancel a sync run',
      description:
        'Windows not started yet are cancelled; a window already running finishes its current page. 409 `run_finished` when the run already ended.',
      request: { params: IdParams },
      response: { status: 200, schema: SyncRunSchema, description: 'The cancelled run' },
      errors: [409],
      handler: async ({ params, access, audit }) => {
        const row = await scopedRun(access, params.id);
        audit.target({ organizationId: row.organization_id });
        if (row.parent_run_id !== null) {
          throw new NotFoundError('sync run', params.id);
        }
        await cancelRun(deps.producer, params.id);
        return toSyncRunDto(await getRun(deps.producer, params.id, { windows: true }));
      },
    }),
  ];
}
