import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { syncAccountWindow, type WindowJob } from '../../src/sync/sync-account.ts';
import { createAccount, createTenancy } from '../factories/tenancy.ts';
import { createTestDb, type TestDb } from '../helpers/db.ts';
import { currentDayBalance, recordJson, scriptedBank, scriptedDeps, scriptedPage } from '../helpers/scripted-bank.ts';

/**
 * J.P. Morgan pages its current day by page number over a snapshot that may change between two pages of one
 * walk. When one item is withdrawn and another added, `totalRecords` does not change, the walk is not
 * restarted, and the item that moved up across the page already read is missing from the walk although the bank
 * shows it throughout. Such a walk must not remove it; what the bank did withdraw still leaves the live set.
 */
const DAY = '2026-11-20';
const JPM_ACCOUNT = '000000011116605';

describe('intraday reconciliation when the snapshot changes under a walk without changing its totals', () => {
  let t: TestDb;
  beforeAll(async () => {
    t = await createTestDb();
  });
  afterAll(async () => {
    await t.drop();
  });

  async function setUp() {
    const tenancy = await createTenancy(t.db);
    const account = await createAccount(t.db, tenancy, { jpmAccountId: JPM_ACCOUNT });
    const item = (id: string) =>
      recordJson({ id, account: JPM_ACCOUNT, date: DAY, amount: '1.00', postCode: 'I', bankReference: `R-${id}` });
    /** One walk: its pages as lists of ids, `total` records in all. */
    const walk = (pages: string[][]) => {
      const total = pages.reduce((n, p) => n + p.length, 0);
      return pages.map((ids, i) =>
        scriptedPage(ids.map(item), { pageNumber: i + 1, totalPages: pages.length, totalRecords: total }),
      );
    };
    const job: WindowJob = { runId: null, accountId: account.id, mode: 'intraday', kinds: ['transactions'] };
    const rows = () =>
      t.db
        .selectFrom('transactions')
        .select(['id', 'jpm_transaction_id', 'status'])
        .where('account_id', '=', account.id)
        .orderBy('jpm_transaction_id')
        .execute();
    const statuses = async () => Object.fromEntries((await rows()).map((r) => [r.jpm_transaction_id, r.status]));
    const decisions = () =>
      t.db
        .selectFrom('transaction_decisions as d')
        .innerJoin('transactions as t', 't.id', 'd.transaction_id')
        .select(['t.jpm_transaction_id', 'd.decision', 'd.rule', 'd.evidence'])
        .where('d.account_id', '=', account.id)
        .orderBy('d.id')
        .execute();
    const removedEvents = () =>
      t.db
        .selectFrom('change_events as e')
        .innerJoin('transactions as t', 't.id', 'e.entity_id')
        .select(['t.jpm_transaction_id'])
        .where('e.account_id', '=', account.id)
        .where('e.kind', '=', 'removed')
        .execute();
    const sync = (bank: ReturnType<typeof scriptedBank>) => syncAccountWindow(scriptedDeps(t.db, bank, DAY), job);
    const bankOf = (walks: ReturnType<typeof walk>[]) => scriptedBank(walks, () => currentDayBalance(JPM_ACCOUNT, DAY));
    return { walk, statuses, decisions, removedEvents, sync, bankOf };
  }

  it('an item the bank shows throughout, missed because it moved up across a page already read, stays pending; the withdrawn item leaves', async () => {
    const { walk, statuses, decisions, removedEvents, sync, bankOf } = await setUp();
    await sync(
      bankOf([
        walk([
          ['A', 'B'],
          ['C', 'D'],
        ]),
      ]),
    );
    expect(await statuses()).toEqual({ A: 'pending', B: 'pending', C: 'pending', D: 'pending' });

    // Page 1 is read while the snapshot is [A B C D]; then the bank withdraws A and adds E: [B C D E], still 4
    // records on 2 pages, so page 2 is [D E] and C, which moved up to page 1, is never seen by this walk.
    const bank = bankOf([
      walk([
        ['A', 'B'],
        ['D', 'E'],
      ]),
      walk([
        ['B', 'C'],
        ['D', 'E'],
      ]),
      walk([
        ['B', 'C'],
        ['D', 'E'],
      ]),
    ]);
    const counts = await sync(bank);

    expect(await statuses()).toEqual({ A: 'removed', B: 'pending', C: 'pending', D: 'pending', E: 'pending' });
    expect(counts).toMatchObject({ removed: 1, inserted: 1 });
    // The first walk differed from the second (it still showed A, not C): only two walks in a row showing the
    // same items decide a removal.
    expect(bank.transactionRequests()).toBe(3);
    const decided = await decisions();
    expect(decided.map((d) => [d.jpm_transaction_id, d.decision, d.rule])).toEqual([
      ['A', 'removed', 'withdrawn_intraday'],
    ]);
    expect(decided[0]!.evidence).toMatchObject({ walk: { itemsShown: 4, totalRecords: 4, walksAgreeing: 2 } });
    expect((await removedEvents()).map((e) => e.jpm_transaction_id)).toEqual(['A']);
  });

  it('a withdrawal leaves the live set in the sync that first sees it, once a second walk shows the same items', async () => {
    const { walk, statuses, decisions, sync, bankOf } = await setUp();
    await sync(
      bankOf([
        walk([
          ['A', 'B'],
          ['C', 'D'],
        ]),
      ]),
    );

    const bank = bankOf([walk([['A', 'C'], ['D']]), walk([['A', 'C'], ['D']])]);
    expect(await sync(bank)).toMatchObject({ removed: 1 });
    expect(bank.transactionRequests()).toBe(2);
    expect(await statuses()).toEqual({ A: 'pending', B: 'removed', C: 'pending', D: 'pending' });
    const decided = await decisions();
    expect(decided.map((d) => [d.jpm_transaction_id, d.rule])).toEqual([['B', 'withdrawn_intraday']]);
    expect(decided[0]!.evidence).toMatchObject({ walk: { itemsShown: 3, walksAgreeing: 2 } });

    // With nothing to remove, one walk is all a sync asks for.
    const quiet = bankOf([walk([['A', 'C'], ['D']])]);
    expect(await sync(quiet)).toMatchObject({ removed: 0 });
    expect(quiet.transactionRequests()).toBe(1);
  });

  it('a snapshot that changes on every walk removes nothing; the first sync whose two walks agree removes the withdrawn item', async () => {
    const { walk, statuses, decisions, sync, bankOf } = await setUp();
    await sync(
      bankOf([
        walk([
          ['A', 'B'],
          ['C', 'D'],
        ]),
      ]),
    );

    // B is withdrawn, and every walk of this sync shows a new item: no two walks in a row agree.
    const busy = bankOf([
      walk([['A', 'C'], ['D']]),
      walk([
        ['A', 'C'],
        ['D', 'E'],
      ]),
      walk([['A', 'C'], ['D', 'E'], ['F']]),
    ]);
    expect(await sync(busy)).toMatchObject({ removed: 0, inserted: 2 });
    expect(busy.transactionRequests()).toBe(3);
    expect(await statuses()).toEqual({
      A: 'pending',
      B: 'pending',
      C: 'pending',
      D: 'pending',
      E: 'pending',
      F: 'pending',
    });
    expect(await decisions()).toEqual([]);

    const still = walk([['A', 'C'], ['D', 'E'], ['F']]);
    expect(await sync(bankOf([still, still]))).toMatchObject({ removed: 1 });
    expect((await statuses()).B).toBe('removed');
  });
});
