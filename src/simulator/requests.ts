import { addDays, diffDays, isIsoDate, type IsoDate } from '../shared/time.ts';
import type { SimAccount } from './accounts.ts';
import { BANK } from './catalog.ts';
import type { Ledger } from './ledger.ts';

/**
 * Request validation with J.P. Morgan's rules (API-NOTES §3.1, §5.2). J.P. Morgan publishes no GCA
 * catalogue beyond GCA-024 and GCA-099, so the other codes below are the simulator's own, stable
 * choices; what matters to a client is the envelope `{"errors":[{"errorCode","errorMsg"}]}` and the 4xx.
 */
export const GCA = {
  invalidRequest: 'GCA-001',
  invalidDates: 'GCA-002',
  tooManyAccounts: 'GCA-003',
  notEntitled: 'GCA-004',
  unauthorized: 'GCA-005',
  notFound: 'GCA-006',
  noData: 'GCA-024',
  unavailable: 'GCA-099',
} as const;

export const NO_DATA_MESSAGE = 'No transaction was found for this account on the requested day.';

export class SimRequestError extends Error {
  readonly status: number;
  readonly errorCode: string;
  constructor(status: number, errorCode: string, message: string) {
    super(message);
    this.status = status;
    this.errorCode = errorCode;
  }
}

export type DateSelection =
  { kind: 'relative'; relative: 'CURRENT_DAY' | 'PRIOR_DAY' } | { kind: 'range'; start: IsoDate; end: IsoDate };

const bad = (message: string, code: string = GCA.invalidDates) => new SimRequestError(400, code, message);

/**
 * Shared date rules: a relative day excludes explicit dates; a lone start or end date is widened by the
 * maximum span; the span (end − start, in days) may not exceed `maxSpan` (31 for balances, 5 for
 * transactions). No dates at all means CURRENT_DAY.
 */
export function selectDates(relative: unknown, start: unknown, end: unknown, maxSpan: number): DateSelection {
  for (const [name, value] of [
    ['startDate', start],
    ['endDate', end],
  ] as const) {
    if (value !== undefined && (typeof value !== 'string' || !isIsoDate(value))) {
      throw bad(`${name} must be a date as yyyy-MM-dd`);
    }
  }
  if (relative !== undefined) {
    if (relative !== 'CURRENT_DAY' && relative !== 'PRIOR_DAY') {
      throw bad('relativeDateType must be CURRENT_DAY or PRIOR_DAY');
    }
    if (start !== undefined || end !== undefined) {
      throw bad('relativeDateType cannot be combined with startDate or endDate');
    }
    return { kind: 'relative', relative };
  }
  if (start === undefined && end === undefined) {
    return { kind: 'relative', relative: 'CURRENT_DAY' };
  }
  const s = (start as IsoDate | undefined) ?? addDays(end as IsoDate, -maxSpan);
  const e = (end as IsoDate | undefined) ?? addDays(s, maxSpan);
  const span = diffDays(s, e);
  if (span < 0) {
    throw bad('startDate must not be after endDate');
  }
  if (span > maxSpan) {
    throw bad(`The date range may not exceed ${maxSpan} days`);
  }
  return { kind: 'range', start: s, end: e };
}

function resolveAccounts(ledger: Ledger, ids: readonly string[]): SimAccount[] {
  const accounts: SimAccount[] = [];
  const missing: string[] = [];
  for (const id of new Set(ids)) {
    const account = ledger.account(id);
    if (account) {
      accounts.push(account);
    } else {
      missing.push(id);
    }
  }
  if (missing.length > 0) {
    throw new SimRequestError(403, GCA.notEntitled, `Not entitled to account(s): ${missing.join(',')}`);
  }
  return accounts;
}

export interface BalanceRequest {
  dates: DateSelection;
  accounts: SimAccount[];
}

/** `POST /accessapi/balance`: every field optional; an empty body means CURRENT_DAY for all entitled accounts. */
export function parseBalanceRequest(ledger: Ledger, rawBody: string): BalanceRequest {
  let body: unknown = {};
  if (rawBody.trim() !== '') {
    try {
      body = JSON.parse(rawBody);
    } catch {
      throw bad('Request body is not valid JSON', GCA.invalidRequest);
    }
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw bad('Request body must be a JSON object', GCA.invalidRequest);
  }
  const b = body as Record<string, unknown>;
  const dates = selectDates(b.relativeDateType, b.startDate, b.endDate, 31);
  const list = b.accountList;
  if (list === undefined || (Array.isArray(list) && list.length === 0)) {
    return { dates, accounts: [...ledger.accounts] };
  }
  if (!Array.isArray(list)) {
    throw bad('accountList must be an array', GCA.invalidRequest);
  }
  const ids = list.map((entry: unknown) => {
    const e = (typeof entry === 'object' && entry !== null ? entry : {}) as Record<string, unknown>;
    // The documentation spells the fields accountID/bankID; samples and clients send accountId/bankId.
    const id = e.accountId ?? e.accountID;
    const bankId = e.bankId ?? e.bankID;
    if (typeof id !== 'string' || id === '') {
      throw bad('Each accountList entry needs an accountId', GCA.invalidRequest);
    }
    if (bankId !== undefined && bankId !== BANK.bankId) {
      throw new SimRequestError(
        403,
        GCA.notEntitled,
        `Not entitled to account ${id} at bank ${JSON.stringify(bankId)}`,
      );
    }
    return id;
  });
  return { dates, accounts: resolveAccounts(ledger, ids) };
}

export interface SimTransactionsRequest {
  dates: DateSelection;
  accounts: SimAccount[];
  pageNumber: number;
  pageSize: number;
}

export const MAX_PAGE_SIZE = 1000;
export const MAX_ACCOUNTS_PER_CALL = 10;

function positiveInt(params: URLSearchParams, name: string, fallback: number, max: number): number {
  const raw = params.get(name);
  if (raw === null) {
    return fallback;
  }
  if (!/^\d+$/.test(raw) || Number(raw) < 1 || Number(raw) > max) {
    throw bad(`${name} must be an integer from 1 to ${max}`, GCA.invalidRequest);
  }
  return Number(raw);
}

/** `GET /tsapi/v2|v3/transactions`: accountIds (≤ 10), a relative day or a ≤ 5-day range, v3 paging. */
export function parseTransactionsRequest(
  ledger: Ledger,
  params: URLSearchParams,
  defaultPageSize = MAX_PAGE_SIZE,
): SimTransactionsRequest {
  const rawIds = params.getAll('accountIds').join(',');
  const ids = [
    ...new Set(
      rawIds
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== ''),
    ),
  ];
  if (ids.length === 0) {
    throw bad('accountIds is required', GCA.invalidRequest);
  }
  if (ids.length > MAX_ACCOUNTS_PER_CALL) {
    throw bad(`At most ${MAX_ACCOUNTS_PER_CALL} accountIds per request`, GCA.tooManyAccounts);
  }
  const opt = (name: string) => params.get(name) ?? undefined;
  const dates = selectDates(opt('relativeDateType'), opt('startDate'), opt('endDate'), 5);
  return {
    dates,
    accounts: resolveAccounts(ledger, ids),
    pageNumber: positiveInt(params, 'pageNumber', 1, 1_000_000),
    pageSize: positiveInt(params, 'pageSize', Math.min(defaultPageSize, MAX_PAGE_SIZE), MAX_PAGE_SIZE),
  };
}
