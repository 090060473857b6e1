import type { JpmTimeouts } from '../../../src/jpm/transport.ts';
import type { GuardSettings } from '../../../src/scheduler/index.ts';
import type { BankClient } from '../../../src/sync/bank-client.ts';

/* Shared by the chaos harness and its child worker process (no vitest imports here). */

export interface ChildConfig {
  dbUrl: string;
  redisUrl: string;
  prefix: string;
  simUrl: string;
  credFile: string;
  today: string;
  pageDelayMs: number;
  logLevel: string;
  concurrency: number;
  stall: { lockDuration: number; stalledInterval: number; maxStalledCount: number };
  guard?: Partial<GuardSettings>;
  timeouts?: Partial<JpmTimeouts>;
}

/** Fast stall recovery (a dead worker's job is back in `wait` within seconds), production's maxStalledCount. */
export const CHAOS_STALL = { lockDuration: 3_000, stalledInterval: 1_000, maxStalledCount: 2 } as const;

/** Short bank timeouts, so a hung response costs seconds, not the production minute. */
export const CHAOS_TIMEOUTS = { connectMs: 2_000, headersMs: 2_500, bodyMs: 2_500, requestMs: 5_000 } as const;

/** A slow bank: each page (and balance call) takes `delayMs` longer, so a kill finds work in flight. */
export function slowBank(inner: BankClient, delayMs: number): BankClient {
  if (delayMs <= 0) {
    return inner;
  }
  const sleep = () => new Promise((r) => setTimeout(r, delayMs));
  return {
    async *transactionPages(q) {
      for await (const page of inner.transactionPages(q)) {
        await sleep();
        yield page;
      }
    },
    async getBalances(q) {
      await sleep();
      return inner.getBalances(q);
    },
  };
}
