import { z } from 'zod';
import { SYNC_MODES, SYNC_TRIGGERS } from '../domain/types.ts';
import { PAGE_QUERY, pageSchema } from '../http/pagination.ts';
import { defineRoute, type Route } from '../http/routes.ts';
import { atomicWrite } from '../storage/db.ts';
import { REJECT_STATES } from '../storage/transactions.repo.ts';
import { deprecatedAlias, Id, IdParams } from './dto.ts';
import {
  RejectSchema,
  Status,
  SyncRequestSchema,
  SyncRunSchema,
  toRejectDto,
  toSyncRunDto,
  TriggeredListSchema,
  TriggeredSchema,
  TriggeredRunSchema,
} from './syncs.dto.ts';
import {
  cancelScopedRun,
  getScopedRun,
  listAccountRejects,
  listRuns,
  triggerAccountSync,
  triggerIntegrationSync,
  type SyncsServiceDeps,
  type TriggeredRunView,
} from './syncs.service.ts';

/** Where statements.routes.ts and the tests import them from. */
export { SyncRunSchema, toSyncRunDto } from './syncs.dto.ts';

/**
 * Sync runs over HTTP: trigger one for an account or a whole integration (202: the work runs on the
 * queue workers), follow its status, counts and progress, list and cancel runs. The route table and
 * DTO mapping only: the work is syncs.service.ts, the DTOs syncs.dto.ts.
 */
const TAGS = ['Syncs'];

const toTriggeredDto = (t: TriggeredRunView) => ({ ...toSyncRunDto(t.run), joined: t.joined });

export function syncRoutes(deps: SyncsServiceDeps): Route[] {
  const TRIGGER_DESCRIPTION =
    'Runs on the queue workers: the 202 carries the queued run, or a joined one: a range joins the unfinished run for its dates; intraday and prior-day join only a run still queued, otherwise a new run queues behind the running one (the account lock runs them one after the other). Follow it at GET /v1/sync-runs/{id}. 409 when the account is not active (`account_not_active`) or its integration is paused (`integration_paused`) or cancelled (`integration_cancelled`: final).';
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
    handler: async ({ params, body, access, audit, atomicAnswer }) =>
      toTriggeredDto(
        await triggerAccountSync(
          deps,
          access,
          params.id,
          body,
          (organizationId) => audit.target({ organizationId }),
          (trx, [run]) => atomicAnswer(trx, run && toTriggeredDto(run)),
        ),
      ),
  });
  const integrationSync = defineRoute({
    method: 'post',
    path: '/v1/integrations/{id}/sync-runs',
    permission: 'syncs:write',
    tags: TAGS,
    auditTarget: 'integration',
    summary: 'Sync every active account of an integration',
    description: `One run per active account, listed under \`data\`. Every account is checked and planned before any run is opened: a request refused for one account (each has its own business day) opens none and names that account. ${TRIGGER_DESCRIPTION}`,
    request: { params: IdParams, body: SyncRequestSchema },
    response: { status: 202, schema: TriggeredListSchema, description: 'The runs, one per active account' },
    errors: [409],
    handler: async ({ params, body, access, audit, atomicAnswer }) => {
      const runs = await triggerIntegrationSync(
        deps,
        access,
        params.id,
        body,
        (organizationId) => audit.target({ organizationId }),
        (trx, views) => atomicAnswer(trx, { data: views.map(toTriggeredDto) }),
      );
      return { data: runs.map(toTriggeredDto) };
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
      const page = await listAccountRejects(deps, access, params.id, query);
      return { data: page.rows.map(toRejectDto), nextCursor: page.nextCursor };
    },
  });
  return [
    accountRejects,
    accountSync,
    deprecatedAlias(accountSync, '/v1/accounts/{id}/syncs', {
      response: { ...accountSync.response, schema: TriggeredSchema, description: 'The run, under `runs`' },
      // The answer stored under an Idempotency-Key is this path's too.
      handler: async (input) => ({
        runs: [
          await accountSync.handler({
            ...input,
            atomicAnswer: (trx, body) => input.atomicAnswer(trx, { runs: [body] }),
          }),
        ],
      }),
    }),
    integrationSync,
    deprecatedAlias(integrationSync, '/v1/integrations/{id}/syncs', {
      response: {
        ...integrationSync.response,
        schema: TriggeredSchema,
        description: 'The runs, one per active account, under `runs`',
      },
      handler: async (input) => ({
        runs: (
          (await integrationSync.handler({
            ...input,
            atomicAnswer: (trx, body) => input.atomicAnswer(trx, { runs: (body as { data: unknown[] }).data }),
          })) as { data: unknown[] }
        ).data,
      }),
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
      handler: async ({ params, access }) => toSyncRunDto(await getScopedRun(deps, access, params.id)),
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
        const page = await listRuns(deps, access, {
          organizationId: query.organizationId,
          integrationId: query.integrationId,
          accountId: query.accountId,
          status: query.status,
          trigger: query.trigger,
          mode: query.mode,
          cursor: query.cursor,
          limit: query.limit,
        });
        return { data: page.rows.map(toSyncRunDto), nextCursor: page.nextCursor };
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
        'Windows not started yet are cancelled; a window already running finishes its current page. 409 `run_finished` when the run already ended, `run_is_window` for the id of one of its windows (the detail names the run to cancel).',
      request: { params: IdParams },
      response: { status: 200, schema: SyncRunSchema, description: 'The cancelled run' },
      errors: [409],
      handler: ({ params, access, audit, atomicAnswer }) =>
        atomicWrite(deps.db, atomicAnswer, async (trx) =>
          toSyncRunDto(
            await cancelScopedRun(
              { db: trx, producer: { ...deps.producer, db: trx } },
              access,
              params.id,
              (organizationId) => audit.target({ organizationId }),
            ),
          ),
        ),
    }),
  ];
}
