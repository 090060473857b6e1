import { z } from 'zod';
import { ACCOUNT_STATUSES, type AccountStatus } from '../domain/types.ts';
import { PAGE_QUERY, pageSchema } from '../http/pagination.ts';
import { assertPermission } from '../http/auth.ts';
import { defineRoute, type Route } from '../http/routes.ts';
import { MAX_INTRADAY_RUNS, requestScheduleReconcile, type Queues } from '../scheduler/index.ts';
import { ConflictError } from '../shared/errors.ts';
import { uuidv7 } from '../shared/ids.ts';
import { maskAccount } from '../shared/logger.ts';
import { decodePgText } from '../shared/pg-text.ts';
import { isValidTimeZone } from '../shared/time.ts';
import {
  getAccount,
  listAccountsPage,
  setAccountScheduleOverride,
  setAccountStatus,
  upsertAccount,
  type AccountRow,
} from '../storage/accounts.repo.ts';
import type { Database } from '../storage/db.ts';
import { Id, IdParams, Instant, iso } from './dto.ts';
import { integrationOrganization, scopedAccount } from './lookup.ts';

/**
 * Bank accounts: register (by hand or discovered from J.P. Morgan), list, pause and resume, and an
 * account's own schedule. Every state change asks a worker to reconcile the account's job
 * schedulers (`requestScheduleReconcile`), so a paused account stops being synced on schedule.
 */
export interface AccountRouteDeps {
  db: Database;
  queues: Queues;
  /**
   * Asks J.P. Morgan which accounts the integration's certificate sees and registers new ones
   * (main/ wires src/sync/discover-accounts.ts with the integration's bank client).
   */
  discoverAccounts(
    integration: { id: string; organizationId: string },
    timeZone: string,
  ): Promise<{ accounts: AccountRow[]; added: number }>;
}

const TAGS = ['Accounts'];
const DEFAULT_TIME_ZONE = 'America/New_York';
const TimeZone = z.string().min(1).max(64).refine(isValidTimeZone, 'unknown IANA time zone').meta({
  description: "IANA time zone of the account's business day, e.g. America/New_York",
  example: 'America/New_York',
});

export const AccountSchema = z
  .object({
    id: Id,
    organizationId: Id,
    integrationId: Id,
    // Responses never carry a full account number (security review): the last four digits tell
    // accounts apart; the full number stays in the database and goes only to J.P. Morgan.
    jpmAccountMasked: z
      .string()
      .meta({ example: '****6789', description: 'The J.P. Morgan account number, masked to its last four digits' }),
    bankId: z.string(),
    accountName: z.string(),
    currency: z.string(),
    decimalLocation: z
      .number()
      .int()
      .meta({ description: 'Minor-unit digits of the currency (2 for USD, 0 for JPY, 3 for KWD)' }),
    timeZone: z.string(),
    status: z.enum(ACCOUNT_STATUSES),
    statusReason: z.string().nullable(),
    scheduleOverride: z
      .object({ intradayRunsPerDay: z.number().int() })
      .nullable()
      .meta({ description: "The account's own schedule; null = its integration's intradayRunsPerDay" }),
    lastSyncedAt: Instant.nullable(),
    createdAt: Instant,
    updatedAt: Instant,
  })
  .meta({ id: 'Account', description: 'A bank account at J.P. Morgan that we sync' });

function scheduleOverrideOf(value: unknown): { intradayRunsPerDay: number } | null {
  const runs = (value as { intradayRunsPerDay?: unknown } | null)?.intradayRunsPerDay;
  return typeof runs === 'number' ? { intradayRunsPerDay: runs } : null;
}

export function toAccountDto(a: AccountRow): z.input<typeof AccountSchema> {
  return {
    id: a.id,
    organizationId: a.organization_id,
    integrationId: a.integration_id,
    jpmAccountMasked: maskAccount(a.jpm_account_id),
    bankId: a.bank_id,
    accountName: decodePgText(a.account_name),
    currency: a.currency,
    decimalLocation: a.decimal_location,
    timeZone: a.time_zone,
    status: a.status as AccountStatus,
    statusReason: a.status_reason,
    scheduleOverride: scheduleOverrideOf(a.schedule_override),
    lastSyncedAt: iso(a.last_synced_at),
    createdAt: iso(a.created_at),
    updatedAt: iso(a.updated_at),
  };
}

/** The currency's minor-unit digits per ISO 4217 (as Intl knows them), when the caller does not say. */
function currencyDigits(currency: string): number {
  return new Intl.NumberFormat('en', { style: 'currency', currency }).resolvedOptions().maximumFractionDigits ?? 2;
}

export function accountRoutes(deps: AccountRouteDeps): Route[] {
  const reconcile = (accountId: string) => requestScheduleReconcile(deps.queues, { accountId });
  /** Moves an account to `to` (no-op when it is there already); a removed account stays removed. */
  const setStatus = async (
    account: AccountRow,
    to: 'active' | 'paused',
    reason: string | null,
  ): Promise<AccountRow> => {
    if (account.status === 'removed') {
      throw new ConflictError(`account ${account.id} was removed; register it again instead`, 'account_removed');
    }
    if (account.status !== to) {
      await setAccountStatus(deps.db, account.id, to, reason);
    }
    await reconcile(account.id);
    return (await getAccount(deps.db, account.id)) ?? account;
  };
  return [
    defineRoute({
      method: 'post',
      path: '/v1/integrations/{id}/accounts',
      permission: 'accounts:write',
      tags: TAGS,
      auditTarget: 'account',
      summary: 'Register an account',
      description:
        'Registering an account the integration already has returns the existing one unchanged. Its schedules are set up by a worker shortly after.',
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
      handler: async ({ params, body, access, audit }) => {
        const organizationId = await integrationOrganization(deps.db, access, params.id);
        audit.target({ organizationId });
        const account = await upsertAccount(deps.db, {
          id: uuidv7(),
          organizationId,
          integrationId: params.id,
          jpmAccountId: body.jpmAccountId,
          bankId: body.bankId,
          accountName: body.accountName ?? '',
          currency: body.currency,
          decimalLocation: body.decimalLocation ?? currencyDigits(body.currency),
          timeZone: body.timeZone,
        });
        audit.target({ id: account.id });
        await reconcile(account.id);
        return toAccountDto(account);
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
        "Asks J.P. Morgan which accounts the integration's certificate is entitled to and registers the new ones (J.P. Morgan does not report time zones: new accounts get `timeZone`). Needs an installed certificate.",
      request: {
        params: IdParams,
        body: z.object({
          timeZone: TimeZone.optional().meta({ description: `For new accounts; default ${DEFAULT_TIME_ZONE}` }),
        }),
      },
      response: {
        status: 200,
        schema: z
          .object({
            data: z.array(AccountSchema),
            added: z.number().int().meta({ description: 'How many of them were new' }),
            accounts: z
              .array(AccountSchema)
              .meta({ description: 'Same as `data` (the former field; kept for one release)' }),
          })
          .meta({ id: 'DiscoveredAccounts' }),
        description:
          'Every account J.P. Morgan reported (a call that touches several resources answers them as a list, `data`), and how many were new',
      },
      handler: async ({ params, body, access, audit }) => {
        const organizationId = await integrationOrganization(deps.db, access, params.id);
        audit.target({ id: params.id, organizationId });
        const found = await deps.discoverAccounts(
          { id: params.id, organizationId },
          body.timeZone ?? DEFAULT_TIME_ZONE,
        );
        await requestScheduleReconcile(deps.queues, { integrationId: params.id });
        const accounts = found.accounts.map(toAccountDto);
        return { data: accounts, added: found.added, accounts };
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
        'No scheduled syncs (its job schedulers are removed) and no manual ones until resumed. Pausing a paused account changes nothing.',
      request: { params: IdParams, body: z.object({ reason: z.string().trim().max(500).optional() }) },
      response: { status: 200, schema: AccountSchema, description: 'The paused account' },
      errors: [409],
      handler: async ({ params, body, access, audit }) => {
        const account = await scopedAccount(deps.db, access, params.id);
        audit.target({ organizationId: account.organization_id });
        return toAccountDto(await setStatus(account, 'paused', body.reason ?? 'paused by an operator'));
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
      handler: async ({ params, access, audit }) => {
        const account = await scopedAccount(deps.db, access, params.id);
        audit.target({ organizationId: account.organization_id });
        return toAccountDto(await setStatus(account, 'active', null));
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
        const updated = await setAccountScheduleOverride(
          deps.db,
          account.id,
          body.intradayRunsPerDay === null ? null : { intradayRunsPerDay: body.intradayRunsPerDay },
        );
        await reconcile(account.id);
        return toAccountDto(updated ?? account);
      },
    }),
  ];
}
