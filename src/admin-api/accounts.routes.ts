import { z } from 'zod';
import {
  DEFAULT_TIME_ZONE,
  discoverIntegrationAccounts,
  pauseAccount,
  registerAccount,
  resumeAccount,
  setAccountSchedule,
  type AccountServiceDeps,
} from '../accounts/index.ts';
import { ACCOUNT_STATUSES } from '../domain/types.ts';
import { PAGE_QUERY, pageSchema } from '../http/pagination.ts';
import { assertPermission } from '../http/auth.ts';
import { answerBeforeCommit, defineRoute, type Route } from '../http/routes.ts';
import { MAX_INTRADAY_RUNS } from '../scheduler/index.ts';
import { listAccountsPage } from '../storage/accounts.repo.ts';
import {
  AccountSchema,
  DiscoveredAccountsSchema,
  TimeZone,
  toAccountDto,
  toDiscoveredAccountsDto,
} from './accounts.dto.ts';
import { Id, IdParams } from './dto.ts';
import { integrationOrganization, scopedAccount } from './lookup.ts';

/**
 * Bank accounts: register (by hand or discovered from J.P. Morgan), list, pause and resume, and an
 * account's own schedule. The changes are the accounts service's (src/accounts), which asks a worker
 * to reconcile the account's job schedulers, so a paused account stops being synced on schedule.
 */
export type AccountRouteDeps = AccountServiceDeps;

const TAGS = ['Accounts'];

export function accountRoutes(deps: AccountRouteDeps): Route[] {
  return [
    defineRoute({
      method: 'post',
      path: '/v1/integrations/{id}/accounts',
      permission: 'accounts:write',
      tags: TAGS,
      auditTarget: 'account',
      summary: 'Register an account',
      description:
        'Registering an account the integration already has returns the existing one unchanged. Its schedules are set up by a worker shortly after. 409 `integration_cancelled` for a cancelled integration.',
      request: {
        params: IdParams,
        body: z.object({
          jpmAccountId: z
            .string()
            .trim()
            .regex(/^[A-Za-z0-9-]{1,64}$/, 'letters, digits and - only'),
          bankId: z.string().trim().min(1).max(32),
          currency: z.string().regex(/^[A-Z]{3}$/, 'ISO 4217 code, e.g. USD'),
          decimalLocation: z
            .number()
            .int()
            .min(0)
            .max(6)
            .optional()
            .meta({ description: "Default: the currency's minor-unit digits" }),
          timeZone: TimeZone,
          accountName: z.string().trim().max(200).optional(),
        }),
      },
      response: { status: 201, schema: AccountSchema, description: 'The account' },
      errors: [409],
      handler: async ({ params, body, access, audit, atomicAnswer }) => {
        const organizationId = await integrationOrganization(deps.db, access, params.id);
        audit.target({ organizationId });
        const phase = answerBeforeCommit(atomicAnswer, toAccountDto);
        const account = await registerAccount(
          deps,
          { organizationId, integrationId: params.id, ...body },
          (stored) => audit.target({ id: stored.id }),
          phase.beforeCommit,
        );
        return phase.answer(account);
      },
    }),
    defineRoute({
      method: 'post',
      path: '/v1/integrations/{id}/accounts/discover',
      permission: 'accounts:write',
      tags: TAGS,
      auditTarget: 'integration',
      summary: 'Discover accounts from J.P. Morgan',
      description:
        "Asks J.P. Morgan which accounts the integration's certificate is entitled to and registers the new ones (J.P. Morgan does not report time zones: new accounts get `timeZone`). Needs an installed certificate. 409 `integration_cancelled` for a cancelled integration (J.P. Morgan is not asked).",
      request: {
        params: IdParams,
        body: z.object({
          timeZone: TimeZone.optional().meta({ description: `For new accounts; default ${DEFAULT_TIME_ZONE}` }),
        }),
      },
      response: {
        status: 200,
        schema: DiscoveredAccountsSchema,
        description:
          'Every account J.P. Morgan reported (a call that touches several resources answers them as a list, `data`), and how many were new',
      },
      errors: [409],
      handler: async ({ params, body, access, audit, atomicAnswer }) => {
        const organizationId = await integrationOrganization(deps.db, access, params.id);
        audit.target({ id: params.id, organizationId });
        // J.P. Morgan is asked first; the accounts it reported are registered with the answer in one transaction.
        const phase = answerBeforeCommit(atomicAnswer, toDiscoveredAccountsDto);
        return phase.answer(
          await discoverIntegrationAccounts(deps, { id: params.id, organizationId }, body.timeZone, phase.beforeCommit),
        );
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/accounts',
      permission: 'accounts:read',
      tags: TAGS,
      summary: 'List accounts',
      description:
        "Oldest first. `accountNumber` finds the service's account for a known J.P. Morgan account number (exact match; " +
        'operators and admins only, others get 403); the answer still shows the number masked, and request logs mask it too.',
      request: {
        query: z.object({
          ...PAGE_QUERY,
          organizationId: Id.optional(),
          integrationId: Id.optional(),
          status: z.enum(ACCOUNT_STATUSES).optional(),
          accountNumber: z
            .string()
            .trim()
            .regex(/^[A-Za-z0-9-]{1,64}$/, 'letters, digits and - only')
            .optional()
            .meta({
              description:
                'The full J.P. Morgan account number, exact (permission accounts:find_by_number: operators and admins)',
              example: '000000010009',
            }),
        }),
      },
      response: {
        status: 200,
        schema: pageSchema(AccountSchema).meta({ id: 'AccountPage' }),
        description: 'A page of accounts',
      },
      handler: async ({ query, access, principal }) => {
        if (query.accountNumber !== undefined) {
          assertPermission(principal, 'accounts:find_by_number');
        }
        const page = await listAccountsPage(deps.db, {
          organizationId: access.filter(query.organizationId),
          integrationId: query.integrationId,
          status: query.status,
          jpmAccountId: query.accountNumber,
          cursor: query.cursor,
          limit: query.limit,
        });
        return { data: page.rows.map(toAccountDto), nextCursor: page.nextCursor };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/accounts/{id}',
      permission: 'accounts:read',
      tags: TAGS,
      summary: 'Get an account',
      request: { params: IdParams },
      response: { status: 200, schema: AccountSchema, description: 'The account' },
      handler: async ({ params, access }) => toAccountDto(await scopedAccount(deps.db, access, params.id)),
    }),
    defineRoute({
      method: 'post',
      path: '/v1/accounts/{id}/pause',
      permission: 'accounts:write',
      tags: TAGS,
      auditTarget: 'account',
      summary: 'Pause an account',
      description:
        'No scheduled syncs (its job schedulers are removed) and no manual ones until resumed. A run requested before the ' +
        'pause ends `cancelled` (error `account_paused`) before its next window calls the bank; a window already running ' +
        'finishes. Pausing a paused account changes nothing.',
      request: { params: IdParams, body: z.object({ reason: z.string().trim().max(500).optional() }) },
      response: { status: 200, schema: AccountSchema, description: 'The paused account' },
      errors: [409],
      handler: async ({ params, body, access, audit, atomicAnswer }) => {
        const account = await scopedAccount(deps.db, access, params.id);
        audit.target({ organizationId: account.organization_id });
        const phase = answerBeforeCommit(atomicAnswer, toAccountDto);
        return phase.answer(await pauseAccount(deps, account, body.reason, phase.beforeCommit));
      },
    }),
    defineRoute({
      method: 'post',
      path: '/v1/accounts/{id}/resume',
      permission: 'accounts:write',
      tags: TAGS,
      auditTarget: 'account',
      summary: 'Resume an account',
      description:
        'Back to active (also after a permanent failure, once its cause is fixed); its schedules are restored.',
      request: { params: IdParams },
      response: { status: 200, schema: AccountSchema, description: 'The active account' },
      errors: [409],
      handler: async ({ params, access, audit, atomicAnswer }) => {
        const account = await scopedAccount(deps.db, access, params.id);
        audit.target({ organizationId: account.organization_id });
        const phase = answerBeforeCommit(atomicAnswer, toAccountDto);
        return phase.answer(await resumeAccount(deps, account, phase.beforeCommit));
      },
    }),
    defineRoute({
      method: 'put',
      path: '/v1/accounts/{id}/schedule',
      permission: 'accounts:write',
      tags: TAGS,
      auditTarget: 'account',
      summary: "Set the account's own schedule",
      description: `Overrides its integration's intradayRunsPerDay (0 to ${MAX_INTRADAY_RUNS}; 0 = prior-day sync only). null returns to the integration's setting. Intraday runs are spread over 08:00–18:00 in the account's time zone; the prior-day sync runs at 06:00.`,
      request: {
        params: IdParams,
        body: z.object({ intradayRunsPerDay: z.number().int().min(0).max(MAX_INTRADAY_RUNS).nullable() }),
      },
      response: { status: 200, schema: AccountSchema, description: 'The account with its schedule override' },
      handler: async ({ params, body, access, audit }) => {
        const account = await scopedAccount(deps.db, access, params.id);
        audit.target({ organizationId: account.organization_id });
        return toAccountDto(await setAccountSchedule(deps, account, body.intradayRunsPerDay));
      },
    }),
  ];
}
