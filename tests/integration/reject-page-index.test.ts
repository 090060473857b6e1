import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { syncAccountWindow } from '../../src/sync/sync-account.ts';
import { createAccount, createTenancy } from '../factories/tenancy.ts';
import { createTestDb, type TestDb } from '../helpers/db.ts';
import { currentDayBalance, recordJson, scriptedBank, scriptedDeps, scriptedPage } from '../helpers/scripted-bank.ts';

/**
 * A transaction reject names its record's index on the bank's page (README, Ingestion): a record the wire schema
 * refuses and a record only normalization refuses are both counted among every element of the page, through the real
 * sync into Postgres.
 */
const TODAY = '2026-10-07';
const JPM_ACCOUNT = '000000010987';

describe('a transaction reject', () => {
  let t: TestDb;
  beforeAll(async () => {
    t = await createTestDb();
  });
  afterAll(async () => {
    await t.drop();
  });

  it("is stored with its index on the bank's page, not among the page's usable records", async () => {
    const tenancy = await createTenancy(t.db);
    const account = await createAccount(t.db, tenancy, { jpmAccountId: JPM_ACCOUNT });
    const rec = (id: string, amount: string) =>
      recordJson({ id, account: JPM_ACCOUNT, date: TODAY, amount, postCode: 'I', bankReference: `R-${id}` });
    // Index 0: refused by the wire schema; 1: usable; 2: passes the wire, refused by normalization (too large to store).
    const page = scriptedPage([rec('W', '"12,50"'), rec('G', '10.00'), rec('N', '123456789012345678901234567890.00')], {
      pageNumber: 1,
      totalPages: 1,
      totalRecords: 3,
    });
    await syncAccountWindow(
      scriptedDeps(
        t.db,
        scriptedBank([[page]], () => currentDayBalance(JPM_ACCOUNT, TODAY)),
        TODAY,
      ),
      { runId: null, accountId: account.id, mode: 'intraday', kinds: ['transactions'] },
    );
    const rejects = await t.db
      .selectFrom('sync_rejects')
      .select(['jpm_transaction_id', 'record_index'])
      .where('account_id', '=', account.id)
      .orderBy('jpm_transaction_id')
      .execute();
    expect(rejects).toEqual([
      { jpm_transaction_id: 'N', record_index: 2 },
      { jpm_transaction_id: 'W', record_index: 0 },
    ]);
  });
});
