import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAccount, createTenancy } from '../factories/tenancy.ts';
import { createTestDb, type TestDb } from '../helpers/db.ts';
import { recordJson, statusesOf, syncOnePageWalks } from '../helpers/scripted-bank.ts';

/**
 * A bank whose current-day answer claims one page more than it has: the client ends each walk at the empty page once
 * every record is in (it is the whole snapshot). Such walks must still follow the bank: a withdrawn item leaves the
 * live set, one shown again comes back. Through the real sync into real Postgres, with a bank scripted page by page
 * (the empty page is never yielded by the client).
 */
const D1 = '2026-11-19';
const JPM_ACCOUNT = '000000011116613';

describe('current-day walks that end at an empty page', () => {
  let t: TestDb;
  beforeAll(async () => {
    t = await createTestDb();
  });
  afterAll(async () => {
    await t.drop();
  });

  it('remove what the bank withdrew and restore what it shows again', async () => {
    const account = await createAccount(t.db, await createTenancy(t.db), { jpmAccountId: JPM_ACCOUNT });
    const rec = (id: string) =>
      recordJson({ id, account: JPM_ACCOUNT, date: D1, amount: '1.00', postCode: 'I', bankReference: `R-${id}` });
    // Page 1 of 2 holds every record; page 2 is empty (the client stops there).
    const sync = (...walks: string[][]) => syncOnePageWalks(t.db, account, { bankDay: D1, totalPages: 2 }, walks);
    const statuses = () => statusesOf(t.db, account.id);

    await sync([rec('G-A'), rec('G-B')]);
    const without = [rec('G-A')];
    expect(await sync(without, without)).toMatchObject({ removed: 1 });
    expect(await statuses()).toEqual({ 'G-A': 'pending', 'G-B': 'removed' });
    expect(await sync([rec('G-A'), rec('G-B')])).toMatchObject({ removed: 0, updated: 1 });
    expect(await statuses()).toEqual({ 'G-A': 'pending', 'G-B': 'pending' });
  });
});
