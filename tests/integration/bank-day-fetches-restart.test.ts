import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { syncAccountWindow } from '../../src/sync/sync-account.ts';
import { createAccount, createTenancy } from '../factories/tenancy.ts';
import { createTestDb, type TestDb } from '../helpers/db.ts';
import { recordJson, scriptedBank, scriptedDeps, scriptedPage } from '../helpers/scripted-bank.ts';

/**
 * A posted walk the client restarted after its last page (its pages did not add up to `totalRecords`): the restarted
 * walk is the bank's answer for the whole sub-range. A day that only the abandoned walk held a record of is a day the
 * bank reports nothing for, and `bank_day_fetches` must say so, not keep the abandoned walk's count. Through the real
 * sync into real Postgres, with a bank scripted page by page.
 */
const D3 = '2026-11-10';
const D4 = '2026-11-11';
const TODAY = '2026-11-20';
const JPM_ACCOUNT = '000000011116611';

describe('a restarted posted walk', () => {
  let t: TestDb;
  beforeAll(async () => {
    t = await createTestDb();
  });
  afterAll(async () => {
    await t.drop();
  });

  it("is the bank's count of every day of its sub-range", async () => {
    const account = await createAccount(t.db, await createTenancy(t.db), { jpmAccountId: JPM_ACCOUNT });
    const rec = (id: string, date: string) =>
      recordJson({ id, account: JPM_ACCOUNT, date, amount: '3.00', postCode: 'P', bankReference: `R-${id}` });
    // Walk 1 held a D3 record beyond its totalRecords; the restart (walk 2, same slice) holds D4's record only.
    const pages = [
      scriptedPage([rec('P-3', D3), rec('P-4', D4)], {
        walk: 1,
        slice: 0,
        pageNumber: 1,
        totalPages: 1,
        totalRecords: 1,
      }),
      scriptedPage([rec('P-4', D4)], { walk: 2, slice: 0, pageNumber: 1, totalPages: 1, totalRecords: 1 }),
    ];
    await syncAccountWindow(scriptedDeps(t.db, scriptedBank([pages]), TODAY), {
      runId: null,
      accountId: account.id,
      mode: 'range',
      from: D3,
      to: D4,
      kinds: ['transactions'],
    });
    const fetched = await t.db
      .selectFrom('bank_day_fetches')
      .select(['booking_date', 'record_count'])
      .where('account_id', '=', account.id)
      .orderBy('booking_date')
      .execute();
    expect(fetched.map((f) => [String(f.booking_date), f.record_count])).toEqual([
      [D3, 0],
      [D4, 1],
    ]);
  });

  it('that ended before totalPages (an empty page once every record was in) is the count of its days', async () => {
    const account = await createAccount(t.db, await createTenancy(t.db), { jpmAccountId: JPM_ACCOUNT });
    const rec = (id: string, date: string) =>
      recordJson({ id, account: JPM_ACCOUNT, date, amount: '3.00', postCode: 'P', bankReference: `R-${id}` });
    // The bank claimed two pages; page 2 was empty with every record seen, so the client ended the walk there.
    const pages = [scriptedPage([rec('P-3', D3)], { pageNumber: 1, totalPages: 2, totalRecords: 1 })];
    await syncAccountWindow(scriptedDeps(t.db, scriptedBank([pages]), TODAY), {
      runId: null,
      accountId: account.id,
      mode: 'range',
      from: D3,
      to: D3,
      kinds: ['transactions'],
    });
    const fetched = await t.db
      .selectFrom('bank_day_fetches')
      .select(['booking_date', 'record_count', 'credits_minor'])
      .where('account_id', '=', account.id)
      .execute();
    expect(fetched.map((f) => [String(f.booking_date), f.record_count, String(f.credits_minor)])).toEqual([
      [D3, 1, '300'],
    ]);
  });
});
