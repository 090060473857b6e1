import { z } from 'zod';
import { BALANCE_KINDS } from '../domain/types.ts';
import { PAGE_QUERY, pageSchema } from '../http/pagination.ts';
import { defineRoute, type Route } from '../http/routes.ts';
import { NotFoundError, ValidationError } from '../shared/errors.ts';
import { isIsoDate } from '../shared/time.ts';
import { getAccount } from '../storage/accounts.repo.ts';
import { latestBalancesOf, listAccountsForBalances, listBalanceHistory } from '../storage/balances-read.repo.ts';
import type { Database } from '../storage/db.ts';
import { decodeCursor, encodeCursor } from '../storage/pagination.ts';
import { BalanceSchema, Id, IsoDate, LatestBalancesSchema, toBalanceDto } from './dto.ts';

const TAGS = ['Balances'];

function historyCursor(cursor: string): { asOfDate: string; kind: string } {
  const [asOfDate, kind] = decodeCursor(cursor, ['string', 'string']);
  if (!isIsoDate(asOfDate) || !(BALANCE_KINDS as readonly string[]).includes(kind)) {
    throw new ValidationError(
      'The cursor is invalid; pass the nextCursor of a previous page unchanged.',
      [{ path: 'query.cursor', message: 'invalid cursor' }],
      'invalid_cursor',
    );
  }
  return { asOfDate, kind };
}

export function balanceRoutes(deps: { db: Database }): Route[] {
  return [
    defineRoute({
      method: 'get',
      path: '/v1/accounts/{id}/balances',
      permission: 'data:read',
      summary: "An account's balance history",
      description: 'Newest date first; per date the `final` (prior-day closing) and `current_day` (intraday) balances.',
      tags: TAGS,
      request: {
        params: z.object({ id: Id }),
        query: z.object({
          from: IsoDate.optional().meta({ description: 'As-of date on or after' }),
          to: IsoDate.optional().meta({ description: 'As-of date on or before' }),
          kind: z.enum(BALANCE_KINDS).optional(),
          ...PAGE_QUERY,
        }),
      },
      response: {
        status: 200,
        schema: pageSchema(BalanceSchema).meta({ id: 'BalancePage' }),
        description: 'A page of balances',
      },
      handler: async ({ params, query, access }) => {
        const account = await getAccount(deps.db, params.id);
        if (!account) {
          throw new NotFoundError('account', params.id);
        }
        access.assert(account.organization_id, 'account', account.id);
        const after = query.cursor === undefined ? undefined : historyCursor(query.cursor);
        const rows = await listBalanceHistory(
          deps.db,
          account.id,
          { from: query.from, to: query.to, kind: query.kind },
          { after, limit: query.limit },
        );
        const page = rows.slice(0, query.limit);
        const last = page[page.length - 1];
        return {
          data: page.map(toBalanceDto),
          nextCursor: rows.length > query.limit && last ? encodeCursor([last.as_of_date, last.kind]) : null,
        };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/balances/latest',
      permission: 'data:read',
      summary: 'Latest balances per account',
      description:
        'For each account (in id order): its newest final (closing) balance and its newest intraday balance; null when none was received yet.',
      tags: TAGS,
      request: {
        query: z.object({
          organizationId: Id.optional(),
          accountId: Id.optional(),
          currency: z
            .string()
            .regex(/^[A-Z]{3}$/, 'ISO 4217 code such as USD')
            .optional(),
          ...PAGE_QUERY,
        }),
      },
      response: {
        status: 200,
        schema: pageSchema(LatestBalancesSchema).meta({ id: 'LatestBalancesPage' }),
        description: 'A page of accounts with their latest balances',
      },
      handler: async ({ query, access }) => {
        const organizationId = access.filter(query.organizationId);
        const afterId = query.cursor === undefined ? undefined : decodeCursor(query.cursor, ['uuid'])[0];
        const accounts = await listAccountsForBalances(
          deps.db,
          { organizationId, accountId: query.accountId, currency: query.currency },
          { afterId, limit: query.limit },
        );
        const page = accounts.slice(0, query.limit);
        const balances = await latestBalancesOf(
          deps.db,
          page.map((a) => a.id),
        );
        const byKey = new Map(balances.map((b) => [`${b.account_id}|${b.kind}`, b]));
        const last = page[page.length - 1];
        return {
          data: page.map((a) => {
            const final = byKey.get(`${a.id}|final`);
            const current = byKey.get(`${a.id}|current_day`);
            return {
              accountId: a.id,
              organizationId: a.organization_id,
              currency: a.currency,
              final: final ? toBalanceDto(final) : null,
              currentDay: current ? toBalanceDto(current) : null,
            };
          }),
          nextCursor: accounts.length > query.limit && last ? encodeCursor([last.id]) : null,
        };
      },
    }),
  ];
}
