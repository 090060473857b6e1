import { diffDays, eachDay, type IsoDate } from '../shared/time.ts';
import type { Ledger } from './ledger.ts';
import { renderBalanceAccount, renderBalanceAccountError, renderTransaction } from './render.ts';
import { NO_DATA_MESSAGE, GCA, parseBalanceRequest, parseTransactionsRequest, type DateSelection } from './requests.ts';
import { balanceFor, reportedFor, type BalanceView, type Clock, type Reported } from './views.ts';

/** The bank endpoints proper, as pure functions of (ledger, clock, request) → status + JSON text. */
export interface BankResponse {
  status: number;
  body: string;
  headers?: Record<string, string>;
}

export function errorsBody(errorCode: string, errorMsg: string): string {
  return JSON.stringify({ errors: [{ errorCode, errorMsg }] });
}

/**
 * The dates a request covers. CURRENT_DAY is the bank's calendar date (no data when the bank is closed
 * that day: a weekend or one of its holidays); PRIOR_DAY is the last business day before it.
 */
function datesOf(ledger: Ledger, selection: DateSelection, clock: Clock): IsoDate[] {
  if (selection.kind === 'relative') {
    return [selection.relative === 'CURRENT_DAY' ? clock.today : ledger.calendar.priorBusinessDay(clock.today)];
  }
  return eachDay(selection.start, selection.end);
}

/**
 * `POST /accessapi/balance`. Each account gets its business days in the window (sorted by asOfDate,
 * as the documentation says); an account with none gets the per-account GCA-024 error entry inside
 * the 200, exactly as in `AccountBalances.json`. `failAccountId` forces that entry (fault injection).
 */
export function handleBalance(ledger: Ledger, clock: Clock, rawBody: string, failAccountId?: string): BankResponse {
  const request = parseBalanceRequest(ledger, rawBody);
  const dates = datesOf(ledger, request.dates, clock);
  const accountList = request.accounts.map((account) => {
    const views = dates
      .map((d) => balanceFor(ledger, account, d, clock))
      .filter((v): v is BalanceView => v !== undefined);
    if (views.length === 0 || account.accountId === failAccountId) {
      return renderBalanceAccountError(account, GCA.noData, NO_DATA_MESSAGE);
    }
    return renderBalanceAccount(account, views, clock.progress);
  });
  return { status: 200, body: JSON.stringify({ accountList }) };
}

export interface TransactionsResult {
  response: BankResponse;
  /** Whether the request covered the still-growing current day (for the shifting-pages quirk). */
  coversCurrentDay: boolean;
  pageNumber: number;
  totalPages: number;
}

/**
 * The full record list of the last few queries (by accounts, dates and clock), so walking the pages of
 * one query selects the records once instead of once per page.
 */
export class RecordsMemo {
  readonly #entries = new Map<string, Reported[]>();

  get(key: string, build: () => Reported[]): Reported[] {
    const hit = this.#entries.get(key);
    if (hit) {
      return hit;
    }
    const value = build();
    this.#entries.set(key, value);
    if (this.#entries.size > 4) {
      const oldest = this.#entries.keys().next().value;
      if (oldest !== undefined) {
        this.#entries.delete(oldest);
      }
    }
    return value;
  }
}

function collect(
  ledger: Ledger,
  clock: Clock,
  accounts: ReturnType<typeof parseTransactionsRequest>['accounts'],
  dates: IsoDate[],
): Reported[] {
  const out: Reported[] = [];
  for (const account of accounts) {
    for (const date of dates) {
      out.push(...reportedFor(ledger, account, date, clock));
    }
  }
  return out;
}

/**
 * `GET /tsapi/v2/transactions` (one unpaged `{ data }`) and `/tsapi/v3/transactions` (`pagination` +
 * `data`, 1-based `pageNumber`, up to 1000 per page). Records are ordered by requested account, then
 * date, then position in the day; a page past the end is a 200 with empty `data`.
 */
export function handleTransactions(
  ledger: Ledger,
  clock: Clock,
  params: URLSearchParams,
  version: 'v2' | 'v3',
  memo?: RecordsMemo,
  defaultPageSize?: number,
): TransactionsResult {
  const request = parseTransactionsRequest(ledger, params, defaultPageSize);
  const dates = datesOf(ledger, request.dates, clock);
  const coversCurrentDay = dates.some((d) => diffDays(d, clock.today) === 0);
  const key = `${request.accounts.map((a) => a.accountId).join(',')}|${dates.join(',')}|${clock.today}|${clock.progress}|${clock.withdrawalsAt ?? ''}`;
  const build = () => collect(ledger, clock, request.accounts, dates);
  const records = memo ? memo.get(key, build) : build();
  if (version === 'v2') {
    return {
      response: { status: 200, body: JSON.stringify({ data: records.map(renderTransaction) }) },
      coversCurrentDay,
      pageNumber: 1,
      totalPages: 1,
    };
  }
  const { pageNumber, pageSize } = request;
  const totalPages = Math.max(1, Math.ceil(records.length / pageSize));
  const page = records.slice((pageNumber - 1) * pageSize, pageNumber * pageSize);
  const body = JSON.stringify({
    pagination: { pageSize, totalPages, pageNumber, totalRecords: records.length },
    data: page.map(renderTransaction),
  });
  return { response: { status: 200, body }, coversCurrentDay, pageNumber, totalPages };
}
