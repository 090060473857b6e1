import { createHash } from 'node:crypto';
import type { OrgAccess } from '../http/auth.ts';
import { NotFoundError, ValidationError } from '../shared/errors.ts';
import { isIsoDate } from '../shared/time.ts';
import { getAccount } from '../storage/accounts.repo.ts';
import type { Database } from '../storage/db.ts';
import { decodeCursor, encodeCursor, type Page } from '../storage/pagination.ts';
import {
  getTransaction,
  listTransactionDecisions,
  listTransactions,
  listTransactionVersions,
  type TransactionFilter,
  type TransactionKey,
  type TransactionReadRow,
  type TransactionSort,
} from '../storage/read.repo.ts';

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

/**
 * One keyset page of transactions matching `filter` (an account filter must name an account the key
 * may see: 404 otherwise). The next page's cursor is bound to this filter and sort.
 */
export async function pageTransactions(
  db: Database,
  access: OrgAccess,
  filter: TransactionFilter,
  page: { sort: TransactionSort; cursor?: string | undefined; limit: number },
): Promise<Page<TransactionReadRow>> {
  if (filter.accountId !== undefined) {
    const account = await getAccount(db, filter.accountId);
    if (!account) {
      throw new NotFoundError('account', filter.accountId);
    }
    access.assert(account.organization_id, 'account', account.id);
  }
  const digest = queryDigest(filter, page.sort);
  const after = page.cursor === undefined ? undefined : decodeTransactionCursor(page.cursor, digest);
  const rows = await listTransactions(db, filter, { sort: page.sort, after, limit: page.limit });
  const data = rows.slice(0, page.limit);
  const last = data[data.length - 1];
  return {
    rows: data,
    nextCursor: rows.length > page.limit && last ? encodeCursor([digest, last.booking_date, last.id]) : null,
  };
}

/** A transaction the key may see (404 otherwise) with its former versions and the decisions about it. */
export async function getTransactionDetail(db: Database, access: OrgAccess, id: string) {
  const row = await getTransaction(db, id);
  if (!row) {
    throw new NotFoundError('transaction', id);
  }
  access.assert(row.organization_id, 'transaction', row.id);
  const [versions, decisions] = await Promise.all([
    listTransactionVersions(db, row.id),
    listTransactionDecisions(db, row.id),
  ]);
  return { row, versions, decisions };
}
