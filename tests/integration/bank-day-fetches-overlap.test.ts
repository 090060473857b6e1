import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BankClient, TransactionPage } from '../../src/sync/bank-client.ts';
import { syncAccountWindow } from '../../src/sync/sync-account.ts';
import { createAccount, createTenancy } from '../factories/tenancy.ts';
import { createTestDb, type TestDb } from '../helpers/db.ts';
import { onePageWalk, recordJson, scriptedDeps } from '../helpers/scripted-bank.ts';

/**
 * Two walks of one posted day at once (a validation re-fetch runs without the account's sync lock): the walk that read
 * the bank first may finish last. What `bank_day_fetches` keeps for the day must be the newer reading of the bank,
 * not the last one written. Through the real sync into real Postgres, with a bank scripted page by page and held
 * between two of its answers.
 */
const DAY = '2026-11-10';
const TODAY = '2026-11-20';
const JPM_ACCOUNT = '000000011116607';

/** A bank answering one walk of `pages`; after its last page it waits for `release` before the walk ends. */
function heldBank(pages: readonly TransactionPage[], read: () => void, release: Promise<void>): BankClient {
  return {
    transactionPages() {
      return (async function* () {
        for (const page of pages) {
          yield await Promise.resolve(page);
        }
        read();
        await release;
      })();
    },
    getBalances: () => Promise.resolve({ accounts: [] }),
  };
}

describe('two overlapping walks of one posted day', () => {
  let t: TestDb;
  beforeAll(async () => {
    t = await createTestDb();
  });
  afterAll(async () => {
    await t.drop();
  });

  it('keeps the counts of the walk that read the bank last, whichever finished last', async () => {
    const account = await createAccount(t.db, await createTenancy(t.db), { jpmAccountId: JPM_ACCOUNT });
    const rec = (id: string) =>
      recordJson({ id, account: JPM_ACCOUNT, date: DAY, amount: '5.00', postCode: 'P', bankReference: `R-${id}` });
    const sync = (bank: BankClient) =>
      syncAccountWindow(scriptedDeps(t.db, bank, TODAY), {
        runId: null,
        accountId: account.id,
        mode: 'range',
        from: DAY,
        to: DAY,
        kinds: ['transactions'],
      });

    // The older walk reads two items, then is held before it finishes.
    let older!: () => void;
    const olderRead = new Promise<void>((resolve) => {
      older = resolve;
    });
    let releaseOlder!: () => void;
    const held = new Promise<void>((resolve) => {
      releaseOlder = resolve;
    });
    const first = sync(heldBank(onePageWalk([rec('P-1'), rec('P-2')]), older, held));
    await olderRead;

    // A newer walk reads the day with a late posting (three items) and finishes first.
    await sync(heldBank(onePageWalk([rec('P-1'), rec('P-2'), rec('P-3')]), () => undefined, Promise.resolve()));
    const counts = () =>
      t.db
        .selectFrom('bank_day_fetches')
        .select(['record_count', 'credits_minor'])
        .where('account_id', '=', account.id)
        .where('booking_date', '=', DAY)
        .executeTakeFirstOrThrow();
    expect(await counts()).toMatchObject({ record_count: 3 });

    releaseOlder();
    await first;
    expect(await counts()).toMatchObject({ record_count: 3, credits_minor: '1500' });
    const stored = await t.db
      .selectFrom('transactions')
      .select('jpm_transaction_id')
      .where('account_id', '=', account.id)
      .execute();
    expect(stored).toHaveLength(3);
  });
});
