import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSingleFlight, type AccountLock } from '../../src/scheduler/single-flight.ts';
import { createLogger } from '../../src/shared/logger.ts';
import { createSyncRun } from '../../src/storage/sync-runs.repo.ts';
import type { BankClient } from '../../src/sync/bank-client.ts';
import { syncAccountWindow, type WindowJob } from '../../src/sync/sync-account.ts';
import { createAccount, createTenancy } from '../factories/tenancy.ts';
import { createTestDb, type TestDb } from '../helpers/db.ts';
import { currentDayBalance, onePageWalk, recordJson, scriptedBank, scriptedDeps } from '../helpers/scripted-bank.ts';
import { gatedBank as gatedBankOf, gate, loseLock, outcome } from '../helpers/lock-loss.ts';

/**
 * A worker frozen while it holds an account's sync lock loses it (Postgres ends the lock session), another worker
 * takes it and reads the bank anew; the frozen one wakes up past its last page write, with only the window's
 * conclusions left to write: what its (older) walks lacked, taken as withdrawn by the bank. It must write none of them
 * over what the new holder's newer walk showed. The lock is the real advisory lock of the worker's single flight, its
 * session ended by `pg_terminate_backend` (what the keepalive timeout does); each bank is scripted, and a gate holds a
 * walk open after its last page (the freeze; no timing involved).
 */
const DAY = '2026-11-20';
const D0 = '2026-11-18';
const D1 = '2026-11-19';
const JPM_ACCOUNT = '000000022227702';
const JPM_ACCOUNT_2 = '000000022227703';

/** A bank answering its n-th transactions request with the n-th walk (`gatedBankOf`), balances of the account's day. */
const gatedBank = (walks: Parameters<typeof gatedBankOf>[0]) => gatedBankOf(walks, { account: JPM_ACCOUNT, day: DAY });

describe("a worker that lost its account lock while frozen, with its window's conclusions left to write", () => {
  let t: TestDb;
  beforeAll(async () => {
    t = await createTestDb();
  });
  afterAll(async () => {
    await t.drop();
  });

  it("removes no current-day item its older walks lacked that the lock's new holder saw again", async () => {
    const account = await createAccount(t.db, await createTenancy(t.db), { jpmAccountId: JPM_ACCOUNT });
    const flight = createSingleFlight({ url: t.url }, 2, createLogger('scheduler'));
    const walk = (ids: string[]) =>
      onePageWalk(
        ids.map((id) =>
          recordJson({ id, account: JPM_ACCOUNT, date: DAY, amount: '1.00', postCode: 'I', bankReference: `R-${id}` }),
        ),
      );
    const sync = (bank: BankClient, lock?: AccountLock) => {
      const job: WindowJob = {
        runId: null,
        accountId: account.id,
        mode: 'intraday',
        kinds: ['transactions', 'balances'],
      };
      return syncAccountWindow(scriptedDeps(t.db, bank, DAY), lock === undefined ? job : { ...job, lock });
    };
    const statuses = async () =>
      Object.fromEntries(
        (
          await t.db
            .selectFrom('transactions')
            .select(['jpm_transaction_id', 'status'])
            .where('account_id', '=', account.id)
            .execute()
        ).map((r) => [r.jpm_transaction_id, r.status]),
      );
    await sync(gatedBank([{ pages: walk(['A', 'X']) }]));
    expect(await statuses()).toEqual({ A: 'pending', X: 'pending' });
    const frozenAt = gate();
    const newerAt = gate();
    let first: AccountLock | null = null;
    let second: AccountLock | null = null;
    try {
      first = await flight.tryAcquire(account.id);
      expect(first).not.toBeNull();
      // The worker walks twice while the bank does not show X (two walks agreeing: X withdrawn), stores both walks,
      // and freezes before it concludes.
      const frozen = outcome(sync(gatedBank([{ pages: walk(['A']) }, { pages: walk(['A']), gate: frozenAt }]), first!));
      await frozenAt.reached;
      second = await loseLock(t, flight, account.id);
      // The new holder reads the bank: X is shown again. It is held before its walk ends.
      const newer = outcome(sync(gatedBank([{ pages: walk(['A', 'X']), gate: newerAt }]), second));
      await newerAt.reached;
      frozenAt.open();
      expect(await frozen).toBe('account_lock_lost');
      expect(await statuses()).toEqual({ A: 'pending', X: 'pending' });
      const removals = await t.db
        .selectFrom('transaction_decisions')
        .select('rule')
        .where('account_id', '=', account.id)
        .where('decision', '=', 'removed')
        .execute();
      expect(removals).toEqual([]);
      newerAt.open();
      expect(await newer).toBe('written');
      expect(await statuses()).toEqual({ A: 'pending', X: 'pending' });
    } finally {
      frozenAt.open();
      newerAt.open();
      await second?.release();
      await first?.release();
      await flight.close();
    }
  });
  it("resolves no bad record of a day that the lock's new holder's newer walk still found", async () => {
    const tenancy = await createTenancy(t.db);
    const account = await createAccount(t.db, tenancy, { jpmAccountId: JPM_ACCOUNT_2 });
    const flight = createSingleFlight({ url: t.url }, 2, createLogger('scheduler'));
    const run = () => createSyncRun(t.db, { ...tenancy, accountId: account.id, trigger: 'manual', mode: 'range' });
    const [frozenRun, newerRun] = [await run(), await run()];
    const record = (id: string, date: string, amount: string) =>
      recordJson({ id, account: JPM_ACCOUNT_2, date, amount, postCode: 'P', bankReference: `R-${id}` });
    const bank = (records: string[]) =>
      scriptedBank([onePageWalk(records)], () => currentDayBalance(JPM_ACCOUNT_2, DAY));
    const sync = (job: Omit<WindowJob, 'accountId' | 'kinds'>, records: string[]) =>
      syncAccountWindow(scriptedDeps(t.db, bank(records), DAY), {
        ...job,
        accountId: account.id,
        kinds: ['transactions'],
      });
    const openRejects = async () =>
      (
        await sql<{ id: string }>`
          select jpm_transaction_id as id from sync_rejects where account_id = ${account.id} and resolved_at is null`.execute(
          t.db,
        )
      ).rows.map((r) => r.id);
    // The day before is on record, so the frozen worker's tally of it (the first of its days) has a row to wait on.
    await sync({ runId: null, mode: 'range', from: D0, to: D0 }, [record('P-0', D0, '1.00')]);
    // A person's session holds that row: the frozen worker, having stored its walk and resolved its pending items,
    // stops there (its freeze) until the test lets it go.
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let rowHeld!: () => void;
    const held = new Promise<void>((resolve) => (rowHeld = resolve));
    const holder = t.db.transaction().execute(async (trx) => {
      await sql`select 1 from bank_day_fetches where account_id = ${account.id} and booking_date = ${D0} for update`.execute(
        trx,
      );
      rowHeld();
      await released;
    });
    let first: AccountLock | null = null;
    let second: AccountLock | null = null;
    try {
      await held;
      first = await flight.tryAcquire(account.id);
      expect(first).not.toBeNull();
      // The frozen worker's walk of both days: the bank then sent no bad record.
      const frozen = outcome(
        sync({ runId: frozenRun, mode: 'range', from: D0, to: D1, lock: first! }, [
          record('P-0', D0, '1.00'),
          record('P-1', D1, '2.00'),
        ]),
      );
      for (let waiting = false, deadline = Date.now() + 10_000; !waiting;) {
        expect(Date.now()).toBeLessThan(deadline);
        waiting =
          (
            await sql<{ n: number }>`
            select count(*)::int as n from pg_stat_activity
            where datname = current_database() and wait_event_type = 'Lock' and query ilike '%insert into bank_day_fetches%'`.execute(
              t.db,
            )
          ).rows[0]!.n > 0;
      }
      second = await loseLock(t, flight, account.id);
      // The new holder walks the later day: the bank now sends a record of it that cannot be read (a reject, open).
      expect(
        await sync({ runId: newerRun, mode: 'range', from: D1, to: D1, lock: second }, [
          record('P-1', D1, '2.00'),
          record('U-1', D1, '"12,50"'),
        ]),
      ).toMatchObject({ rejected: 1 });
      expect(await openRejects()).toEqual(['U-1']);
      release();
      await holder;
      expect(await frozen).toBe('account_lock_lost');
      expect(await openRejects()).toEqual(['U-1']);
    } finally {
      release();
      await holder;
      await second?.release();
      await first?.release();
      await flight.close();
    }
  });
});
