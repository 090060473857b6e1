import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAccount, createTenancy } from '../factories/tenancy.ts';
import { createTestDb, type TestDb } from '../helpers/db.ts';
import { recordJson, statusesOf, syncOnePageWalks } from '../helpers/scripted-bank.ts';

/**
 * A current-day snapshot that still shows an item of an earlier business day under that day's date (not yet posted:
 * the bank carries it over). Every walk of the day then holds a record dated before the business day; what the bank
 * withdraws of the day's own items must still leave the live set. Through the real sync into real Postgres, with a
 * bank scripted page by page (the simulator never carries an item over).
 */
const D1 = '2026-11-19';
const D2 = '2026-11-20';
const JPM_ACCOUNT = '000000011116607';

describe('a current-day snapshot holding an item dated an earlier business day', () => {
  let t: TestDb;
  beforeAll(async () => {
    t = await createTestDb();
  });
  afterAll(async () => {
    await t.drop();
  });

  it("removes the day's own withdrawn item, keeps the earlier day's item as it is", async () => {
    const account = await createAccount(t.db, await createTenancy(t.db), { jpmAccountId: JPM_ACCOUNT });
    const rec = (id: string, date: string) =>
      recordJson({ id, account: JPM_ACCOUNT, date, amount: '1.00', postCode: 'I', bankReference: `R-${id}` });
    const sync = (bankDay: string, ...walks: string[][]) => syncOnePageWalks(t.db, account, { bankDay }, walks);
    const statuses = () => statusesOf(t.db, account.id, true);

    await sync(D1, [rec('C-A', D1)]);
    await sync(D2, [rec('C-A', D1), rec('C-B', D2), rec('C-C', D2)]);
    expect(await statuses()).toEqual({ 'C-A': `pending ${D1}`, 'C-B': `pending ${D2}`, 'C-C': `pending ${D2}` });

    // C-C is withdrawn; the carried-over C-A is still shown, dated D1. Two walks agree.
    const after = [rec('C-A', D1), rec('C-B', D2)];
    expect(await sync(D2, after, after)).toMatchObject({ removed: 1 });
    expect(await statuses()).toEqual({ 'C-A': `pending ${D1}`, 'C-B': `pending ${D2}`, 'C-C': `removed ${D2}` });
    const decided = await t.db
      .selectFrom('transaction_decisions')
      .select(['rule'])
      .where('account_id', '=', account.id)
      .execute();
    expect(decided.map((d) => d.rule)).toEqual(['withdrawn_intraday']);

    // A walk holding a record dated after the business day the bank names (its day rolled over while we walked, or
    // its answers disagree) still removes nothing.
    const ahead = [rec('C-A', D1), rec('C-D', '2026-11-23')];
    expect(await sync(D2, ahead, ahead)).toMatchObject({ removed: 0 });
    expect((await statuses())['C-B']).toBe(`pending ${D2}`);
  });
});
