import { z } from 'zod';
import { BALANCE_KINDS } from '../domain/types.ts';
import { PAGE_QUERY, pageSchema } from '../http/pagination.ts';
import { defineRoute, type Route } from '../http/routes.ts';
import { assertQueryRanges, compareIsoDates } from '../http/validate.ts';
import type { ReadDatabase } from '../storage/read-replica.ts';
import { pageBalanceHistory, pageLatestBalances } from './balances.service.ts';
import { BalanceSchema, Id, IsoDate, LatestBalancesSchema, toBalanceDto, toLatestBalancesDto } from './dto.ts';

const TAGS = ['Balances'];

export function balanceRoutes(deps: { reads: ReadDatabase }): Route[] {
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
      handler: async ({ params, query, access, log }) => {
        assertQueryRanges([{ from: ['from', query.from], to: ['to', query.to], compare: compareIsoDates }]);
        const filter = { from: query.from, to: query.to, kind: query.kind };
        const page = await deps.reads.run((db) => pageBalanceHistory(db, access, params.id, filter, query), log);
        return { data: page.rows.map(toBalanceDto), nextCursor: page.nextCursor };
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
      handler: async ({ query, access, log }) => {
        const filter = { organizationId: access.filter(query.organizationId), accountId: query.accountId };
        const page = await deps.reads.run(
          (db) => pageLatestBalances(db, { ...filter, currency: query.currency }, query),
          log,
        );
        return { data: page.rows.map(toLatestBalancesDto), nextCursor: page.nextCursor };
      },
    }),
  ];
}
