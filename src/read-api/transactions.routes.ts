import { z } from 'zod';
import { TRANSACTION_STATUSES } from '../domain/types.ts';
import { PAGE_QUERY, pageSchema } from '../http/pagination.ts';
import { defineRoute, type Route } from '../http/routes.ts';
import { assertQueryRanges, compareDecimals, compareIsoDates } from '../http/validate.ts';
import type { ReadDatabase } from '../storage/read-replica.ts';
import { TRANSACTION_SORTS, type TransactionFilter } from '../storage/read.repo.ts';
import {
  Id,
  IsoDate,
  TransactionDetailSchema,
  TransactionSchema,
  toTransactionDetailDto,
  transactionPageJson,
} from './dto.ts';
import { getTransactionDetail, pageTransactions } from './transactions.service.ts';

const TAGS = ['Transactions'];
const DECIMAL = /^\d{1,18}(\.\d{1,18})?$/;

export const TransactionQuery = z.object({
  organizationId: Id.optional().meta({
    description: 'Only this organization (keys scoped to one organization always get theirs)',
  }),
  accountId: Id.optional(),
  bookingDateFrom: IsoDate.optional().meta({ description: 'Booking date on or after (inclusive)' }),
  bookingDateTo: IsoDate.optional().meta({ description: 'Booking date on or before (inclusive)' }),
  valueDateFrom: IsoDate.optional(),
  valueDateTo: IsoDate.optional(),
  status: z
    .string()
    .regex(
      new RegExp(`^(${TRANSACTION_STATUSES.join('|')})(,(${TRANSACTION_STATUSES.join('|')}))*$`),
      'comma-separated statuses: pending, posted, superseded, removed',
    )
    .optional()
    .meta({
      description: 'Comma-separated: pending,posted,superseded,removed (default: all)',
      example: 'pending,posted',
    }),
  direction: z.enum(['credit', 'debit']).optional(),
  currency: z
    .string()
    .regex(/^[A-Z]{3}$/, 'ISO 4217 code such as USD')
    .optional(),
  amountMin: z.string().regex(DECIMAL, 'an unsigned decimal such as 1250.00').optional().meta({
    description: "Unsigned amount at least this, in major units, compared exactly at each row's currency scale",
    example: '1000.00',
  }),
  amountMax: z
    .string()
    .regex(DECIMAL, 'an unsigned decimal such as 1250.00')
    .optional()
    .meta({ description: 'Unsigned amount at most this', example: '5000' }),
  baiCode: z
    .string()
    .regex(/^\d{3}$/, 'a three-digit BAI type code')
    .optional(),
  reference: z
    .string()
    .min(1)
    .max(200)
    .optional()
    .meta({ description: 'Equals the bank reference or the customer reference' }),
  q: z.string().min(2).max(200).optional().meta({ description: 'Case-insensitive text contained in the description' }),
  sort: z.enum(TRANSACTION_SORTS).default('-bookingDate').meta({
    description:
      '-bookingDate (newest first, default), bookingDate (oldest first) or firstSeen (in the order we first stored them; the only order a row can never move in)',
  }),
  ...PAGE_QUERY,
});
type Query = z.output<typeof TransactionQuery>;

function filterOf(q: Query, organizationId: string | undefined): TransactionFilter {
  return {
    organizationId,
    accountId: q.accountId,
    bookingDateFrom: q.bookingDateFrom,
    bookingDateTo: q.bookingDateTo,
    valueDateFrom: q.valueDateFrom,
    valueDateTo: q.valueDateTo,
    statuses: q.status?.split(','),
    direction: q.direction,
    currency: q.currency,
    amountMin: q.amountMin,
    amountMax: q.amountMax,
    baiCode: q.baiCode,
    reference: q.reference,
    text: q.q,
  };
}

export function transactionRoutes(deps: { reads: ReadDatabase }): Route[] {
  return [
    defineRoute({
      method: 'get',
      path: '/v1/transactions',
      permission: 'data:read',
      summary: 'List transactions',
      description: [
        'Filters combine with AND. Keyset pagination: pass `nextCursor` back unchanged with the same filters.',
        'Rows that exist for the whole walk are returned exactly once; rows added during the walk may or may not appear.',
        'A row whose booking date the bank changes during a walk can move; in `sort=firstSeen` order no row moves, but a row whose storing commits during the walk may sort before the cursor (its id was drawn before the commit of rows already read) and is not returned by that walk. For an exact incremental copy use the change feed (GET /v1/changes).',
      ].join(' '),
      tags: TAGS,
      request: { query: TransactionQuery },
      // The page is written as JSON text field by field (transactionPageJson, the same JSON as toTransactionDto's
      // items; the narrative's stored JSON text spliced in as it is): no DTO objects, no runtime parse.
      response: {
        status: 200,
        schema: pageSchema(TransactionSchema).meta({ id: 'TransactionPage' }),
        description: 'A page of transactions',
        prebuilt: true,
      },
      handler: async ({ query, access, log }) => {
        assertQueryRanges([
          {
            from: ['bookingDateFrom', query.bookingDateFrom],
            to: ['bookingDateTo', query.bookingDateTo],
            compare: compareIsoDates,
          },
          {
            from: ['valueDateFrom', query.valueDateFrom],
            to: ['valueDateTo', query.valueDateTo],
            compare: compareIsoDates,
          },
          { from: ['amountMin', query.amountMin], to: ['amountMax', query.amountMax], compare: compareDecimals },
        ]);
        const filter = filterOf(query, access.filter(query.organizationId));
        const page = await deps.reads.run((db) => pageTransactions(db, access, filter, query), log);
        return transactionPageJson(page.rows, page.nextCursor);
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/transactions/{id}',
      permission: 'data:read',
      summary: 'Get a transaction with its history and decisions',
      description:
        'Former versions (what the bank changed, when) and the decisions about it (which rule superseded, removed or re-identified it, with the evidence).',
      tags: TAGS,
      request: { params: z.object({ id: Id }) },
      response: { status: 200, schema: TransactionDetailSchema, description: 'The transaction' },
      handler: async ({ params, access, log }) => {
        const detail = await deps.reads.run((db) => getTransactionDetail(db, access, params.id), log);
        return toTransactionDetailDto(detail.row, detail.versions, detail.decisions);
      },
    }),
  ];
}
