import type { BankClient } from '../../src/sync/bank-client.ts';

/* Test-side helpers shared by the orchestration tests and their child worker process (no vitest imports here). */

/** Fast stall recovery for tests: a dead worker's job is back in `wait` within a few seconds. */
export const TEST_STALL = { lockDuration: 3_000, stalledInterval: 1_000, maxStalledCount: 2 } as const;

export interface BankCall {
  jpmAccountId: string;
  what: 'transactions' | 'balances';
  /** The dates asked for (`relative` for CURRENT_DAY / PRIOR_DAY requests). */
  range: { from: string; to: string } | 'relative';
  start: number;
  end: number;
  error?: string;
}

const rangeOf = (q: object): BankCall['range'] =>
  'startDate' in q && 'endDate' in q ? { from: String(q.startDate), to: String(q.endDate) } : 'relative';

/**
 * Wraps the bank port: records every call (start, end, error) and how many calls per account were in
 * flight at once, and can make each page slow (a slow bank), which is how tests catch a worker in
 * the middle of a window.
 */
export function recordingBank(inner: BankClient, opts: { pageDelayMs?: number } = {}) {
  const calls: BankCall[] = [];
  const inFlight = new Map<string, number>();
  const maxInFlight = new Map<string, number>();
  const enter = (id: string) => {
    const n = (inFlight.get(id) ?? 0) + 1;
    inFlight.set(id, n);
    maxInFlight.set(id, Math.max(n, maxInFlight.get(id) ?? 0));
  };
  const leave = (id: string) => inFlight.set(id, (inFlight.get(id) ?? 1) - 1);
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const bank: BankClient = {
    async *transactionPages(q) {
      const id = q.accounts[0]?.accountId ?? '';
      const call: BankCall = { jpmAccountId: id, what: 'transactions', range: rangeOf(q), start: Date.now(), end: 0 };
      calls.push(call);
      enter(id);
      try {
        for await (const page of inner.transactionPages(q)) {
          if (opts.pageDelayMs) {
            await sleep(opts.pageDelayMs);
          }
          yield page;
        }
      } catch (err) {
        call.error = (err as { code?: string }).code ?? 'error';
        throw err;
      } finally {
        call.end = Date.now();
        leave(id);
      }
    },
    async getBalances(q) {
      const id = q.accounts?.[0]?.accountId ?? '';
      const call: BankCall = { jpmAccountId: id, what: 'balances', range: rangeOf(q), start: Date.now(), end: 0 };
      calls.push(call);
      enter(id);
      try {
        if (opts.pageDelayMs) {
          await sleep(opts.pageDelayMs);
        }
        return await inner.getBalances(q);
      } catch (err) {
        call.error = (err as { code?: string }).code ?? 'error';
        throw err;
      } finally {
        call.end = Date.now();
        leave(id);
      }
    },
  };
  return { bank, calls, maxInFlight };
}
