import { ValidationError } from '../shared/errors.ts';
import { splitRange, assertIsoDate, type IsoDate } from '../shared/time.ts';
import { parseEnvelope } from './records.ts';
import type { JpmTransport } from './transport.ts';
import {
  balancesResponseSchema,
  isBalanceAccount,
  type RelativeDateType,
  type WireAccountWithBalances,
  type WireBalanceAccountError,
} from './wire.schemas.ts';

/**
 * `POST /accessapi/balance` (Account Balances v1, API-NOTES §3). J.P. Morgan allows a date range of at
 * most 31 days; we split longer ranges into windows of 31 calendar days (both ends included: the
 * notes do not say whether "31 days" counts the end date, so we take the strict reading). It does not
 * publish an account limit for balances, so we also send at most 10 accounts per call, the limit it
 * documents for transactions, to stay on the safe side.
 */
export const BALANCE_MAX_RANGE_DAYS = 31;
export const BALANCE_MAX_ACCOUNTS_PER_CALL = 10;

export interface BalanceAccountRef {
  accountId: string;
  bankId?: string;
}

export type BalanceWindow = { relativeDateType: RelativeDateType } | { startDate: IsoDate; endDate: IsoDate };

/**
 * Relative day (CURRENT_DAY intraday, PRIOR_DAY final) or an explicit range. Without `accounts` the
 * bank returns every account the certificate is entitled to, which is how accounts are discovered.
 */
export type BalancesRequest = BalanceWindow & { accounts?: readonly BalanceAccountRef[]; signal?: AbortSignal };

/** A per-account error entry (GCA-024 …) kept as data, with the window and call it came from. */
export interface AccountErrorEntry {
  entry: WireBalanceAccountError;
  window: BalanceWindow;
  requestId: string;
}

export interface BalancesResult {
  /**
   * One entry per account (`bankId`+`accountId`) and currency (code and decimal location as the answer gave them),
   * `balanceList` merged over the windows that gave that currency, by `asOfDate`: a window that reports another
   * currency for the account is an entry of its own, so each balance is scaled by the currency of its own answer.
   */
  accounts: WireAccountWithBalances[];
  accountErrors: AccountErrorEntry[];
  /** Every call made, in order. */
  requestIds: string[];
}

function windowsOf(req: BalancesRequest): BalanceWindow[] {
  if ('relativeDateType' in req) {
    return [{ relativeDateType: req.relativeDateType }];
  }
  assertIsoDate(req.startDate, 'startDate');
  assertIsoDate(req.endDate, 'endDate');
  return splitRange(req.startDate, req.endDate, BALANCE_MAX_RANGE_DAYS).map((w) => ({
    startDate: w.from,
    endDate: w.to,
  }));
}

/** Chunks of ≤ 10 distinct accounts; `[undefined]` (one call, no accountList) when none were given. */
function accountChunks(accounts: readonly BalanceAccountRef[] | undefined): (BalanceAccountRef[] | undefined)[] {
  if (accounts === undefined) {
    return [undefined];
  }
  if (accounts.length === 0) {
    throw new ValidationError('accounts must be omitted (all entitled accounts) or list at least one account');
  }
  const unique = [...new Map(accounts.map((a) => [`${a.bankId ?? ''}|${a.accountId}`, a])).values()];
  const chunks: BalanceAccountRef[][] = [];
  for (let i = 0; i < unique.length; i += BALANCE_MAX_ACCOUNTS_PER_CALL) {
    chunks.push(unique.slice(i, i + BALANCE_MAX_ACCOUNTS_PER_CALL));
  }
  return chunks;
}

function requestBody(window: BalanceWindow, accounts: BalanceAccountRef[] | undefined): Record<string, unknown> {
  const body: Record<string, unknown> = { ...window };
  if (accounts) {
    body.accountList = accounts.map((a) =>
      a.bankId === undefined ? { accountId: a.accountId } : { accountId: a.accountId, bankId: a.bankId },
    );
  }
  return body;
}

/** Fetches balances, one call per (window × ≤10 accounts), sequentially (the bank prefers few, calm calls). */
export async function getBalances(transport: JpmTransport, req: BalancesRequest): Promise<BalancesResult> {
  const byAccount = new Map<string, WireAccountWithBalances>();
  const accountErrors: AccountErrorEntry[] = [];
  const requestIds: string[] = [];
  for (const window of windowsOf(req)) {
    for (const accounts of accountChunks(req.accounts)) {
      const result = await transport.call({
        endpoint: 'balance',
        method: 'POST',
        path: '/accessapi/balance',
        body: requestBody(window, accounts),
        ...(req.signal ? { signal: req.signal } : {}),
      });
      requestIds.push(result.requestId);
      const response = parseEnvelope(balancesResponseSchema, result.body, 'balance', {
        requestId: result.requestId,
        upstreamStatus: result.status,
        endpoint: 'POST /accessapi/balance',
        credentialId: result.credentialId,
      });
      for (const entry of response.accountList) {
        if (!isBalanceAccount(entry)) {
          accountErrors.push({ entry: entry as WireBalanceAccountError, window, requestId: result.requestId });
          continue;
        }
        const currency = entry.currency as { code?: unknown; decimalLocation?: unknown } | undefined;
        const key = JSON.stringify([entry.bankId, entry.accountId, currency?.code, currency?.decimalLocation]);
        const seen = byAccount.get(key);
        byAccount.set(key, seen ? { ...seen, balanceList: [...seen.balanceList, ...entry.balanceList] } : entry);
      }
    }
  }
  const accounts = [...byAccount.values()].map((a) => ({
    ...a,
    balanceList: [...a.balanceList].sort((x, y) => (x.asOfDate < y.asOfDate ? -1 : x.asOfDate > y.asOfDate ? 1 : 0)),
  }));
  return { accounts, accountErrors, requestIds };
}
