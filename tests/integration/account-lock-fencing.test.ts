import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSingleFlight, type AccountLock } from '../../src/scheduler/single-flight.ts';
import { createLogger } from '../../src/shared/logger.ts';
import type { BankClient } from '../../src/sync/bank-client.ts';
import { syncAccountWindow } from '../../src/sync/sync-account.ts';
import { createAccount, createTenancy } from '../factories/tenancy.ts';
import { createTestDb, type TestDb } from '../helpers/db.ts';
import { gate, loseLock, outcome } from '../helpers/lock-loss.ts';
import { currentDayBalance, recordJson, scriptedBank, scriptedDeps, scriptedPage } from '../helpers/scripted-bank.ts';

/**
 * A worker frozen while it holds an account's sync lock (a paused VM, a long GC pause with the machine unreachable):
 * Postgres ends its lock session once the keepalives go unanswered, another worker takes the lock and syncs the
 * account with the bank's newer answer, and then the frozen one wakes up with the page it fetched before. It must not
 * write that page: its lock is gone, and the newer data must stay. The lock is the real session-level advisory lock of
 * the worker's single flight; the server ending the session is `pg_terminate_backend` on it (what the keepalive
 * timeout does); the sync is the real one into real Postgres, with a bank scripted page by page (the page handed over
 * only when the test opens its gate: the freeze).
 */
const D1 = '2026-11-19';
const D2 = '2026-11-20';
const JPM_ACCOUNT = '000000022227701';

describe('a worker that lost its account lock while frozen', () => {
  let t: TestDb;
  beforeAll(async () => {
    t = await createTestDb();
  });
  afterAll(async () => {
    await t.drop();
  });

  it("writes nothing once it wakes: the lock's new holder's newer data stays", async () => {
    const account = await createAccount(t.db, await createTenancy(t.db), { jpmAccountId: JPM_ACCOUNT });
    const flight = createSingleFlight({ url: t.url }, 2, createLogger('scheduler'));
    const page = (amount: string) =>
      scriptedPage(
        [recordJson({ id: 'P-1', account: JPM_ACCOUNT, date: D1, amount, postCode: 'P', bankReference: 'R1' })],
        {
          pageNumber: 1,
          totalPages: 1,
          totalRecords: 1,
        },
      );
    const balances = () => currentDayBalance(JPM_ACCOUNT, D2);
    const freeze = gate();
    // The frozen worker's bank: its page (the bank's answer then: 10.00) reaches the worker only after the freeze.
    const frozenBank: BankClient = {
      transactionPages() {
        return (async function* () {
          await freeze.wait();
          yield page('10.00');
        })();
      },
      getBalances: () => Promise.resolve({ accounts: balances() }),
    };
    const window = (bank: BankClient, lock: AccountLock) =>
      syncAccountWindow(scriptedDeps(t.db, bank, D2), {
        runId: null,
        accountId: account.id,
        mode: 'prior_day',
        kinds: ['transactions', 'balances'],
        lock,
      });
    /** The account's posted amounts in cents. */
    const amounts = async () =>
      (
        await sql<{ amount: string }>`
          select amount_minor::text as amount from transactions
          where account_id = ${account.id} and status = 'posted'`.execute(t.db)
      ).rows.map((r) => r.amount);
    let first: AccountLock | null = null;
    try {
      first = await flight.tryAcquire(account.id);
      expect(first).not.toBeNull();
      const frozen = outcome(window(frozenBank, first!));
      await freeze.reached;
      // The frozen machine answers no keepalive: the server ends its lock session, and the lock is free.
      const second = await loseLock(t, flight, account.id);
      // The new holder syncs the account: the bank now says 12.00.
      await window(scriptedBank([[page('12.00')]], balances), second);
      await second.release();
      expect(await amounts()).toEqual(['1200']);
      // The frozen worker wakes up with its page of before.
      freeze.open();
      expect(await frozen).toBe('account_lock_lost');
      expect(await amounts()).toEqual(['1200']);
    } finally {
      freeze.open();
      await first?.release();
      await flight.close();
    }
  });
});
