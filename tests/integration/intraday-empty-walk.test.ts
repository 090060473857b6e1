import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAccount, createTenancy } from '../factories/tenancy.ts';
import { createTestDb, type TestDb } from '../helpers/db.ts';
import { recordJson, statusesOf, syncOnePageWalks } from '../helpers/scripted-bank.ts';

/**
 * A current-day walk holding no record of the account has no date of its own: the bank's transaction view may have
 * moved on to the next business day (empty so far) while its balance still names the day before. Such walks are no
 * evidence that the day's pending items were withdrawn. Through the real sync into real Postgres, with a bank scripted
 * page by page.
 */
const D1 = '2026-11-19';
const JPM_ACCOUNT = '000000011116607';

describe('an empty current-day walk', () => {
  let t: TestDb;
  beforeAll(async () => {
    t = await createTestDb();
  });
  afterAll(async () => {
    await t.drop();
  });

  it("removes none of the day's pending items, however many walks agree", async () => {
    const account = await createAccount(t.db, await createTenancy(t.db), { jpmAccountId: JPM_ACCOUNT });
    const rec = (id: string) =>
      recordJson({ id, account: JPM_ACCOUNT, date: D1, amount: '1.00', postCode: 'I', bankReference: `R-${id}` });
    const sync = (...walks: string[][]) => syncOnePageWalks(t.db, account, { bankDay: D1 }, walks);
    const statuses = () => statusesOf(t.db, account.id);

    await sync([rec('E-A'), rec('E-B')]);
    expect(await statuses()).toEqual({ 'E-A': 'pending', 'E-B': 'pending' });

    // The balance still names D1; the transaction view is empty, walk after walk.
    expect(await sync([], [], [])).toMatchObject({ removed: 0 });
    expect(await sync([], [], [])).toMatchObject({ removed: 0 });
    expect(await statuses()).toEqual({ 'E-A': 'pending', 'E-B': 'pending' });
    const decided = await t.db
      .selectFrom('transaction_decisions')
      .select('rule')
      .where('account_id', '=', account.id)
      .execute();
    expect(decided).toEqual([]);

    // A walk that holds a record of the day still removes what it lacks (two walks agreeing).
    const after = [rec('E-A')];
    expect(await sync(after, after)).toMatchObject({ removed: 1 });
    expect(await statuses()).toEqual({ 'E-A': 'pending', 'E-B': 'removed' });
  });
});
