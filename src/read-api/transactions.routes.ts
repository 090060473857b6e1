import { createHash } from 'node:crypto';
import { z } from 'zod';
import { TRANSACTION_STATUSES } from '../domain/types.ts';
import { PAGE_QUERY, pageSchema } from '../http/pagination.ts';
import { defineRoute, type Route } from '../http/routes.ts';
import { NotFoundError, ValidationError } from '../shared/errors.ts';
import { isIsoDate } from '../shared/time.ts';
import { getAccount } from '../storage/accounts.repo.ts';
import type { Database } from '../storage/db.ts';
import { decodeCursor, encodeCursor } from '../storage/pagination.ts';
import {
  getTransaction,
  listTransactionDecisions,
  listTransactions,
  listTransactionVersions,
  TRANSACTION_SORTS,
  type TransactionFilter,
  type TransactionKey,
  type TransactionSort,
} from '../storage/read.repo.ts';
import {
  Id,
  IsoDate,
  TransactionDetailSchema,
  TransactionSchema,
  toDecisionDto,
  toTransactionDto,
  toVersionDto,
  transactionPageJson,
} from './dto.ts';

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

/** A cursor only continues the query that issued it: it carries the sort and a digest of the filters. */
function queryDigest(filter: TransactionFilter, sort: TransactionSort): string {
  return createHash('sha256')
    .update(JSON.stringify([sort, filter]))
    .digest('base64url')
    .slice(0, 16);
}

function decodeTransactionCursor(cursor: string, digest: string): TransactionKey {
  const [d, bookingDate, id] = decodeCursor(cursor, ['string', 'string', 'uuid']);
  if (d !== digest || !isIsoDate(bookingDate)) {
    throw new ValidationError(
      'The cursor belongs to a different query (filters or sort changed); start again without a cursor.',
      [{ path: 'query.cursor', message: 'cursor does not match this query' }],
      'invalid_cursor',
    );
  }
  return { bookingDate, id };
}

export function transactionRoutes(deps: { db: Database }): Route[] {
  return [
    defineRoute({
      method: 'get',
      path: '/v1/transactions',
      permission: 'data:read',
      summary: 'List transactions',
      description: [
        'Filters combine with AND. Keyset pagination: pass `nextCursor` back unchanged with the same filters.',
        'Rows that exist for the whole walk are returned exactly once; rows added during the walk may or may not appear.',
        'A row whose booking date the bank changes during a walk can move; use `sort=firstSeen`, or the change feed, for an exact incremental copy.',
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
      handler: async ({ query, access }) => {
        const organizationId = access.filter(query.organizationId);
        if (query.accountId !== undefined) {
          const account = await getAccount(deps.db, query.accountId);
          if (!account) {
            throw new NotFoundError('account', query.accountId);
          }
          access.assert(account.organization_id, 'account', account.id);
        }
        const filter = filterOf(query, organizationId);
        const digest = queryDigest(filter, query.sort);
        const after = query.cursor === undefined ? undefined : decodeTransactionCursor(query.cursor, digest);
        const rows = await listTransactions(deps.db, filter, { sort: query.sort, after, limit: query.limit });
        const page = rows.slice(0, query.limit);
        const last = page[page.length - 1];
        return transactionPageJson(
          page,
          rows.length > query.limit && last ? encodeCursor([digest, last.booking_date, last.id]) : null,
        );
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
      handler: async ({ params, access }) => {
        const row = await getTransaction(deps.db, params.id);
        if (!row) {
          throw new NotFoundError('transaction', params.id);
        }
        access.assert(row.organization_id, 'transaction', row.id);
        const [versions, decisions] = await Promise.all([
          listTransactionVersions(deps.db, row.id),
          listTransactionDecisions(deps.db, row.id),
        ]);
        return {
          ...toTransactionDto(row),
          history: versions.map(toVersionDto),
          decisions: decisions.map(toDecisionDto),
        };
      },
    }),
  ];
}
