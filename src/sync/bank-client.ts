import type { WireBalanceAccount, WireTransaction } from '../jpm/wire.schemas.ts';

/**
 * What `sync` needs from the bank: the J.P. Morgan client (src/jpm) satisfies it. Kept as a port so
 * sync reads as the unit of work it is, and so the contract is visible in one place.
 */
export interface AccountSelector {
  accountId: string;
  bankId?: string;
}

export type TransactionQuery =
  { relativeDateType: 'CURRENT_DAY' | 'PRIOR_DAY' } | { startDate: string; endDate: string } | { empty: true };

export type BalanceQuery = TransactionQuery;

export interface TransactionPage {
  /** Changes when the client starts a new walk (restart after the data shifted, or next sub-range). */
  walk: number;
  /**
   * The sub-range of the request (accounts × ≤ 5-day window) the page belongs to: a new `walk` of the same slice is a
   * restart (the walk before it stopped part-way and its records come again from page 1), of another the next slice.
   */
  slice: number;
  pageNumber: number;
  totalPages: number;
  totalRecords: number;
  records: WireTransaction[];
  rejects: { index: number; reason: string; raw: unknown }[];
}

/** Aborts the call in flight, and every call after it (a worker stopping: its windows go back to the queue). */
export interface Abortable {
  signal?: AbortSignal;
}

export interface BankClient {
  transactionPages(
    query: Exclude<TransactionQuery, { empty: true }> & { accounts: AccountSelector[] } & Abortable,
  ): AsyncIterable<TransactionPage>;
  getBalances(
    query: Exclude<BalanceQuery, { empty: true }> & { accounts?: AccountSelector[] } & Abortable,
  ): Promise<{ accounts: WireBalanceAccount[] }>;
}

/** `client` with `signal` on every call it makes. */
export function withSignal(client: BankClient, signal: AbortSignal | undefined): BankClient {
  if (!signal) {
    return client;
  }
  return {
    transactionPages: (query) => client.transactionPages({ ...query, signal }),
    getBalances: (query) => client.getBalances({ ...query, signal }),
  };
}
