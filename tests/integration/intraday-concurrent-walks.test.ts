import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BankClient } from '../../src/sync/bank-client.ts';
import { syncAccountWindow, type WindowJob } from '../../src/sync/sync-account.ts';
import { createAccount, createTenancy } from '../factories/tenancy.ts';
import { createTestDb, type TestDb } from '../helpers/db.ts';
import { recordJson, scriptedDeps, scriptedPage } from '../helpers/scripted-bank.ts';
import { gatedBank as gatedBankOf, gate } from '../helpers/lock-loss.ts';

/**
 * Two intraday syncs of one account at once (a window and a second one whose account lock was lost, say): the bank
 * withdraws an item and shows it again while they walk. Whichever finishes last, the live rows must follow the walk that
 * read the bank last, never older evidence. Through the real sync into real Postgres; each sync's bank answers
 * scripted walks, and a gate holds a walk open at a chosen point (no timing involved).
 */
const DAY = '2026-11-20';
const JPM_ACCOUNT = '000000011116606';

/** A bank answering its n-th transactions request with the n-th walk (`gatedBankOf`), balances of the account's day. */
const gatedBank = (walks: Parameters<typeof gatedBankOf>[0]) => gatedBankOf(walks, { account: JPM_ACCOUNT, day: DAY });

describe('concurrent intraday syncs while the bank withdraws an item and shows it again', () => {
  let t: TestDb;
  beforeAll(async () => {
    t = await createTestDb();
  });
  afterAll(async () => {
    await t.drop();
  });

  async function setUp() {
    const account = await createAccount(t.db, await createTenancy(t.db), { jpmAccountId: JPM_ACCOUNT });
    const walk = (ids: string[]) => [
      scriptedPage(
        ids.map((id) =>
          recordJson({ id, account: JPM_ACCOUNT, date: DAY, amount: '1.00', postCode: 'I', bankReference: `R-${id}` }),
        ),
        { pageNumber: 1, totalPages: 1, totalRecords: ids.length },
      ),
    ];
    const job: WindowJob = {
      runId: null,
      accountId: account.id,
      mode: 'intraday',
      kinds: ['transactions', 'balances'],
    };
    const sync = (bank: BankClient) => syncAccountWindow(scriptedDeps(t.db, bank, DAY), job);
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
    return { walk, sync, statuses };
  }

  it('an older sync that saw the item withdrawn does not remove it after a newer sync saw it back', async () => {
    const { walk, sync, statuses } = await setUp();
    // The older sync walks twice while X is withdrawn, and is held before its second walk ends.
    const held = gate();
    const older = sync(gatedBank([{ pages: walk(['A']) }, { pages: walk(['A']), gate: held }]));
    await held.reached;
    // X is back: a newer sync walks the bank and finishes (it has nothing to remove).
    expect(await sync(gatedBank([{ pages: walk(['A', 'X']) }]))).toMatchObject({ removed: 0 });
    held.open();
    await older;
    expect(await statuses()).toEqual({ A: 'pending', X: 'pending' });
  });

  it('a newer sync that saw the item back restores it when an older sync removed it while the newer one walked', async () => {
    const { walk, sync, statuses } = await setUp();
    const olderHeld = gate();
    const older = sync(gatedBank([{ pages: walk(['A']) }, { pages: walk(['A']), gate: olderHeld }]));
    await olderHeld.reached;
    // The newer sync reads the bank (X back) and is held before its walk ends.
    const newerHeld = gate();
    const newer = sync(gatedBank([{ pages: walk(['A', 'X']), gate: newerHeld }]));
    await newerHeld.reached;
    olderHeld.open();
    await older;
    newerHeld.open();
    await newer;
    expect(await statuses()).toEqual({ A: 'pending', X: 'pending' });
  });
});
