import { sql } from 'kysely';
import { BALANCE_KINDS } from '../domain/types.ts';
import type { Executor } from './db.ts';

/** Read side of balances for the read API. Explicit columns: `raw` and `content_hash` stay inside. */
export const BALANCE_READ_COLUMNS = [
  'b.id',
  'b.organization_id',
  'b.account_id',
  'b.as_of_date',
  'b.kind',
  'b.currency',
  'b.decimal_location',
  'b.opening_ledger_minor',
  'b.opening_available_minor',
  'b.ending_ledger_minor',
  'b.ending_available_minor',
  'b.record_timestamp',
  'b.first_seen_at',
  'b.updated_at',
] as const;

function selectBalances(ex: Executor) {
  return ex.selectFrom('balances as b').select(BALANCE_READ_COLUMNS);
}

export type BalanceReadRow = Awaited<ReturnType<ReturnType<typeof selectBalances>['executeTakeFirstOrThrow']>>;

export interface BalanceHistoryFilter {
  from?: string | undefined;
  to?: string | undefined;
  kind?: string | undefined;
}

/** Key of the last row of a page in the history order (newest date first, then kind). */
export interface BalanceKey {
  asOfDate: string;
  kind: string;
}

/** One account's balance history, newest date first; served by the (account_id, as_of_date, kind) unique index. */
export async function listBalanceHistory(
  ex: Executor,
  accountId: string,
  filter: BalanceHistoryFilter,
  page: { after?: BalanceKey | undefined; limit: number },
): Promise<BalanceReadRow[]> {
  let q = selectBalances(ex).where('b.account_id', '=', accountId);
  if (filter.from !== undefined) {
    q = q.where('b.as_of_date', '>=', filter.from);
  }
  if (filter.to !== undefined) {
    q = q.where('b.as_of_date', '<=', filter.to);
  }
  if (filter.kind !== undefined) {
    q = q.where('b.kind', '=', filter.kind);
  }
  if (page.after) {
    q = q.where(sql<boolean>`(b.as_of_date, b.kind) < (${page.after.asOfDate}::date, ${page.after.kind}::text)`);
  }
  return q
    .orderBy('b.as_of_date', 'desc')
    .orderBy('b.kind', 'desc')
    .limit(page.limit + 1)
    .execute();
}

/** Accounts in id order (the latest-balances list pages over accounts, not over balance rows). */
export async function listAccountsForBalances(
  ex: Executor,
  filter: { organizationId?: string | undefined; accountId?: string | undefined; currency?: string | undefined },
  page: { afterId?: string | undefined; limit: number },
) {
  let q = ex
    .selectFrom('bank_accounts as a')
    .select(['a.id', 'a.organization_id', 'a.currency', 'a.decimal_location', 'a.status']);
  if (filter.organizationId !== undefined) {
    q = q.where('a.organization_id', '=', filter.organizationId);
  }
  if (filter.accountId !== undefined) {
    q = q.where('a.id', '=', filter.accountId);
  }
  if (filter.currency !== undefined) {
    q = q.where('a.currency', '=', filter.currency);
  }
  if (page.afterId !== undefined) {
    q = q.where('a.id', '>', page.afterId);
  }
  return q
    .orderBy('a.id', 'asc')
    .limit(page.limit + 1)
    .execute();
}

/**
 * The newest balance of each kind for each of these accounts (at most two rows per account): per account and kind, one
 * backward step of the `(account_id, as_of_date, kind)` index (LATERAL … LIMIT 1, lookups by construction). As one
 * `distinct on` over `account_id in (…)`, a page of 50 accounts read every balance of those accounts and sorted them,
 * by a scan of the whole table when it was never analyzed (50 equalities look like a quarter of it).
 */
export async function latestBalancesOf(ex: Executor, accountIds: readonly string[]): Promise<BalanceReadRow[]> {
  if (accountIds.length === 0) {
    return [];
  }
  const newest = selectBalances(ex)
    .whereRef('b.account_id', '=', sql.ref('a.account_id'))
    .whereRef('b.kind', '=', sql.ref('k.kind'))
    .orderBy('b.as_of_date', 'desc')
    .limit(1);
  const result = await sql<BalanceReadRow>`
    select r.* from unnest(${[...new Set(accountIds)]}::uuid[]) as a(account_id)
      cross join unnest(${[...BALANCE_KINDS]}::text[]) as k(kind)
      cross join lateral (${newest}) as r`.execute(ex);
  return result.rows;
}
