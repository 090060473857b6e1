import { sql } from 'kysely';
import { expect } from 'vitest';
import type { AccountLock, SingleFlight } from '../../src/scheduler/single-flight.ts';
import type { BankClient, TransactionPage } from '../../src/sync/bank-client.ts';
import type { TestDb } from './db.ts';
import { currentDayBalance } from './scripted-bank.ts';

/**
 * What the tests of a worker frozen while it holds an account's sync lock share: a gate that holds a scripted bank
 * call (the freeze; no timing involved), the lock's session ended by the server, and how a window ended.
 */

/** A gate a scripted call waits at: `reached` once the call is there, `open()` lets it go on. */
export function gate() {
  let arrive = () => {};
  let open = () => {};
  const reached = new Promise<void>((r) => (arrive = r));
  const opened = new Promise<void>((r) => (open = r));
  return { reached, open, wait: () => (arrive(), opened) };
}

export type Gate = ReturnType<typeof gate>;

/**
 * The lock's session ended by the server (`pg_terminate_backend`), as when a frozen machine answers no keepalive;
 * then the lock taken by a new holder, which is returned.
 */
export async function loseLock(t: TestDb, flight: SingleFlight, accountId: string): Promise<AccountLock> {
  await sql`select pg_terminate_backend(pid) from pg_stat_activity
    where datname = current_database() and application_name = 'jpm-sync-locks'`.execute(t.db);
  let second: AccountLock | null = null;
  for (const deadline = Date.now() + 10_000; second === null && Date.now() < deadline;) {
    second = await flight.tryAcquire(accountId).catch(() => null);
  }
  expect(second).not.toBeNull();
  return second!;
}

/** The error code a window ended with, or `written`. */
export const outcome = (p: Promise<unknown>) =>
  p.then(
    () => 'written',
    (err: unknown) => (err as { code?: string }).code ?? String(err),
  );

/**
 * A bank answering its n-th transactions request with the n-th walk; a walk with a gate waits at it after its last page
 * (the walk has read the bank, and has not ended). Every balance answer is `account`'s current-day balance of `day`.
 */
export function gatedBank(
  walks: readonly { pages: TransactionPage[]; gate?: Gate }[],
  balances: { account: string; day: string },
): BankClient {
  let n = 0;
  return {
    transactionPages() {
      const w = walks[n++] ?? { pages: [] };
      return (async function* () {
        for (const page of w.pages) {
          yield await Promise.resolve(page);
        }
        await w.gate?.wait();
      })();
    },
    getBalances: () => Promise.resolve({ accounts: currentDayBalance(balances.account, balances.day) }),
  };
}
