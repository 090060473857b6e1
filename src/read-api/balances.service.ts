import { BALANCE_KINDS } from '../domain/types.ts';
import type { OrgAccess } from '../http/auth.ts';
import { NotFoundError, ValidationError } from '../shared/errors.ts';
import { isIsoDate } from '../shared/time.ts';
import { getAccount } from '../storage/accounts.repo.ts';
import {
  latestBalancesOf,
  listAccountsForBalances,
  listBalanceHistory,
  type BalanceReadRow,
} from '../storage/balances-read.repo.ts';
import type { Database } from '../storage/db.ts';
import { decodeCursor, encodeCursor, type Page } from '../storage/pagination.ts';

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

/** One keyset page of an account's balances, newest date first; the account must be one the key may see (404). */
export async function pageBalanceHistory(
  db: Database,
  access: OrgAccess,
  accountId: string,
  filter: Parameters<typeof listBalanceHistory>[2],
  page: { cursor?: string | undefined; limit: number },
): Promise<Page<BalanceReadRow>> {
  const account = await getAccount(db, accountId);
  if (!account) {
    throw new NotFoundError('account', accountId);
  }
  access.assert(account.organization_id, 'account', account.id);
  const after = page.cursor === undefined ? undefined : historyCursor(page.cursor);
  const rows = await listBalanceHistory(db, account.id, filter, { after, limit: page.limit });
  const data = rows.slice(0, page.limit);
  const last = data[data.length - 1];
  return {
    rows: data,
    nextCursor: rows.length > page.limit && last ? encodeCursor([last.as_of_date, last.kind]) : null,
  };
}

type BalanceAccount = Awaited<ReturnType<typeof listAccountsForBalances>>[number];

/** One keyset page of accounts (in id order), each with its newest final and newest intraday balance. */
export async function pageLatestBalances(
  db: Database,
  filter: Parameters<typeof listAccountsForBalances>[1],
  page: { cursor?: string | undefined; limit: number },
): Promise<Page<{ account: BalanceAccount; final: BalanceReadRow | undefined; current: BalanceReadRow | undefined }>> {
  const afterId = page.cursor === undefined ? undefined : decodeCursor(page.cursor, ['uuid'])[0];
  const accounts = await listAccountsForBalances(db, filter, { afterId, limit: page.limit });
  const data = accounts.slice(0, page.limit);
  const balances = await latestBalancesOf(
    db,
    data.map((a) => a.id),
  );
  const byKey = new Map(balances.map((b) => [`${b.account_id}|${b.kind}`, b]));
  const last = data[data.length - 1];
  return {
    rows: data.map((account) => ({
      account,
      final: byKey.get(`${account.id}|final`),
      current: byKey.get(`${account.id}|current_day`),
    })),
    nextCursor: accounts.length > page.limit && last ? encodeCursor([last.id]) : null,
  };
}
