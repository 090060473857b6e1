import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WireBalanceAccount } from '../../src/jpm/wire.schemas.ts';
import { createSingleFlight, type AccountLock } from '../../src/scheduler/single-flight.ts';
import { createLogger } from '../../src/shared/logger.ts';
import type { BankClient, TransactionPage } from '../../src/sync/bank-client.ts';
import { syncAccountWindow, type WindowJob } from '../../src/sync/sync-account.ts';
import { createAccount, createTenancy } from '../factories/tenancy.ts';
import { createTestDb, type TestDb } from '../helpers/db.ts';
import { currentDayBalance, recordJson, scriptedDeps, scriptedPage } from '../helpers/scripted-bank.ts';
import { type Gate, gate, loseLock, outcome } from '../helpers/lock-loss.ts';

/**
 * A worker frozen while it holds an account's sync lock loses it (Postgres ends the lock session), another worker
 * takes it and asks the bank anew, after the bank's day rolled over; the frozen one wakes up with the bank's older
 * answer about its business days in hand. It must not record that older day over the newer one the new holder heard
 * (the plan of every later window starts from it). The lock is the real advisory lock of the worker's single flight,
 * its session ended by `pg_terminate_backend` (what the keepalive timeout does); each bank is scripted, and a gate
 * holds the frozen worker's balance answer until the new holder is done (the freeze; no timing involved).
 */
const TODAY = '2026-11-20';
const JPM_ACCOUNT = '000000022227711';
const JPM_ACCOUNT_2 = '000000022227712';
const JPM_ACCOUNT_3 = '000000022227713';

/** A bank with one walk of `pages`, naming `day` in every balance answer, that answer held at `held` when given. */
function bank(pages: readonly TransactionPage[], answer: () => WireBalanceAccount[], held?: Gate): BankClient {
  let walked = false;
  return {
    transactionPages() {
      const walk = walked ? [] : pages;
      walked = true;
      return (async function* () {
        for (const page of walk) {
          yield await Promise.resolve(page);
        }
      })();
    },
    async getBalances() {
      await held?.wait();
      return { accounts: answer() };
    },
  };
}

/** A PRIOR_DAY balance answer naming `day` as the account's prior business day. */
function priorDayBalance(jpmAccountId: string, day: string): WireBalanceAccount[] {
  return currentDayBalance(jpmAccountId, day).map((a) => ({
    ...a,
    balanceList: (a.balanceList ?? []).map((b) => ({ ...b, currentDay: false })),
  }));
}

describe("a worker that lost its account lock while frozen, with the bank's older business day in hand", () => {
  let t: TestDb;
  beforeAll(async () => {
    t = await createTestDb();
  });
  afterAll(async () => {
    await t.drop();
  });

  const calendarOf = async (accountId: string) =>
    t.db
      .selectFrom('bank_accounts')
      .select([
        sql<string | null>`bank_business_day::text`.as('businessDay'),
        sql<string | null>`bank_prior_business_day::text`.as('priorBusinessDay'),
      ])
      .where('id', '=', accountId)
      .executeTakeFirstOrThrow();

  it("records no current business day older than the one the lock's new holder heard", async () => {
    const account = await createAccount(t.db, await createTenancy(t.db), { jpmAccountId: JPM_ACCOUNT });
    const flight = createSingleFlight({ url: t.url }, 2, createLogger('scheduler'));
    const walk = (day: string, ids: string[]) => [
      scriptedPage(
        ids.map((id) =>
          recordJson({ id, account: JPM_ACCOUNT, date: day, amount: '1.00', postCode: 'I', bankReference: `R-${id}` }),
        ),
        { pageNumber: 1, totalPages: 1, totalRecords: ids.length },
      ),
    ];
    // Transactions only: after its complete walk the window asks the bank's CURRENT_DAY (intraday.ts).
    const sync = (b: BankClient, lock: AccountLock) => {
      const job: WindowJob = { runId: null, accountId: account.id, mode: 'intraday', kinds: ['transactions'], lock };
      return syncAccountWindow(scriptedDeps(t.db, b, TODAY), job);
    };
    const frozenAt = gate();
    let first: AccountLock | null = null;
    let second: AccountLock | null = null;
    try {
      first = await flight.tryAcquire(account.id);
      expect(first).not.toBeNull();
      // The bank names TODAY; the worker freezes before it records the answer.
      const frozen = outcome(
        sync(
          bank(walk(TODAY, ['A']), () => currentDayBalance(JPM_ACCOUNT, TODAY), frozenAt),
          first!,
        ),
      );
      await frozenAt.reached;
      second = await loseLock(t, flight, account.id);
      // The bank's day has rolled over: the new holder hears the next business day.
      expect(
        await outcome(
          sync(
            bank(walk('2026-11-21', ['B']), () => currentDayBalance(JPM_ACCOUNT, '2026-11-21')),
            second,
          ),
        ),
      ).toBe('written');
      expect((await calendarOf(account.id)).businessDay).toBe('2026-11-21');
      frozenAt.open();
      expect(await frozen).toBe('account_lock_lost');
      expect((await calendarOf(account.id)).businessDay).toBe('2026-11-21');
    } finally {
      frozenAt.open();
      await second?.release();
      await first?.release();
      await flight.close();
    }
  });

  it("records no prior business day older than the one the lock's new holder heard", async () => {
    const account = await createAccount(t.db, await createTenancy(t.db), { jpmAccountId: JPM_ACCOUNT_2 });
    const flight = createSingleFlight({ url: t.url }, 2, createLogger('scheduler'));
    const sync = (b: BankClient, lock: AccountLock) => {
      const job: WindowJob = { runId: null, accountId: account.id, mode: 'prior_day', kinds: ['transactions'], lock };
      return syncAccountWindow(scriptedDeps(t.db, b, TODAY), job);
    };
    const walk = (day: string) => [
      scriptedPage(
        [
          recordJson({
            id: `P-${day}`,
            account: JPM_ACCOUNT_2,
            date: day,
            amount: '1.00',
            postCode: 'P',
            bankReference: `R-${day}`,
          }),
        ],
        {
          pageNumber: 1,
          totalPages: 1,
          totalRecords: 1,
        },
      ),
    ];
    const frozenAt = gate();
    let first: AccountLock | null = null;
    let second: AccountLock | null = null;
    try {
      first = await flight.tryAcquire(account.id);
      expect(first).not.toBeNull();
      // The bank names the 19th as its prior business day; the worker freezes before it records the answer.
      const frozen = outcome(
        sync(
          bank(walk('2026-11-19'), () => priorDayBalance(JPM_ACCOUNT_2, '2026-11-19'), frozenAt),
          first!,
        ),
      );
      await frozenAt.reached;
      second = await loseLock(t, flight, account.id);
      // The bank has closed the 20th since: the new holder hears it as the prior business day.
      expect(
        await outcome(
          sync(
            bank(walk(TODAY), () => priorDayBalance(JPM_ACCOUNT_2, TODAY)),
            second,
          ),
        ),
      ).toBe('written');
      expect((await calendarOf(account.id)).priorBusinessDay).toBe(TODAY);
      frozenAt.open();
      expect(await frozen).toBe('account_lock_lost');
      expect((await calendarOf(account.id)).priorBusinessDay).toBe(TODAY);
    } finally {
      frozenAt.open();
      await second?.release();
      await first?.release();
      await flight.close();
    }
  });

  it("sets no day's state from balances older than the walk of the day the lock's new holder stored", async () => {
    const [D0, D1] = ['2026-11-10', '2026-11-11'];
    const account = await createAccount(t.db, await createTenancy(t.db), { jpmAccountId: JPM_ACCOUNT_3 });
    const flight = createSingleFlight({ url: t.url }, 2, createLogger('scheduler'));
    const empty = [scriptedPage([], { pageNumber: 1, totalPages: 1, totalRecords: 0 })];
    const sync = (b: BankClient, lock: AccountLock, from: string, to: string) => {
      const job: WindowJob = {
        runId: null,
        accountId: account.id,
        mode: 'range',
        from,
        to,
        kinds: ['transactions', 'balances'],
        lock,
      };
      return syncAccountWindow(scriptedDeps(t.db, b, TODAY), job);
    };
    const stateOf = async (day: string) =>
      (
        await sql<{ state: string }>`
          select state from bank_day_fetches where account_id = ${account.id} and booking_date = ${day}`.execute(t.db)
      ).rows[0]?.state;
    // A person's session holds the first day's row once the frozen worker has stored its walk: the worker, past its
    // balances (written under its lock), stops at its first day-state write (its freeze) until the test lets it go.
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let rowHeld!: () => void;
    const held = new Promise<void>((resolve) => (rowHeld = resolve));
    let holder: Promise<void> = Promise.resolve();
    const holdFirstDay = () => {
      holder = t.db.transaction().execute(async (trx) => {
        await sql`select 1 from bank_day_fetches where account_id = ${account.id} and booking_date = ${D0}
          for update`.execute(trx);
        rowHeld();
        await released;
      });
      return held;
    };
    let first: AccountLock | null = null;
    let second: AccountLock | null = null;
    try {
      first = await flight.tryAcquire(account.id);
      expect(first).not.toBeNull();
      // The frozen worker's walk of both days finds nothing; the bank then gave a balance for the 11th only.
      const frozenBank: BankClient = {
        ...bank(empty, () => []),
        async getBalances() {
          await holdFirstDay();
          return { accounts: priorDayBalance(JPM_ACCOUNT_3, D1) };
        },
      };
      const frozen = outcome(sync(frozenBank, first!, D0, D1));
      for (let waiting = false, deadline = Date.now() + 10_000; !waiting;) {
        expect(Date.now()).toBeLessThan(deadline);
        waiting =
          (
            await sql<{ n: number }>`
            select count(*)::int as n from pg_stat_activity
            where datname = current_database() and wait_event_type = 'Lock'
              and query ilike '%update bank_day_fetches set state%'`.execute(t.db)
          ).rows[0]!.n > 0;
      }
      second = await loseLock(t, flight, account.id);
      // The new holder walks the 11th anew (nothing) and the bank now gives no balance for it: no business day.
      expect(
        await outcome(
          sync(
            bank(empty, () => []),
            second,
            D1,
            D1,
          ),
        ),
      ).toBe('written');
      expect(await stateOf(D1)).toBe('no_business_day');
      release();
      await holder;
      // Nothing it writes after its balances is fenced; it states only the day no one walked since (the 10th).
      expect(await frozen).toBe('written');
      expect(await stateOf(D0)).toBe('no_business_day');
      expect(await stateOf(D1)).toBe('no_business_day');
    } finally {
      release();
      await holder;
      await second?.release();
      await first?.release();
      await flight.close();
    }
  });
});
