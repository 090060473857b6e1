import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BankClient } from '../../src/sync/bank-client.ts';
import { syncAccountWindow, type WindowJob } from '../../src/sync/sync-account.ts';
import { createAccount, createTenancy } from '../factories/tenancy.ts';
import { createTestDb, type TestDb } from '../helpers/db.ts';
import { accountRecords, currentDayBalance, onePageWalk, scriptedDeps, statusesOf } from '../helpers/scripted-bank.ts';

/**
 * Both balance answers lag: the bank's transactions already show its next business day (D2) while its CURRENT_DAY
 * answer still names D1 and its PRIOR_DAY answer D0. The bank decides dates by its balance answers, so until they move
 * on no D1 item is withdrawn (the snapshot holds a later day's records), D1 is not read as final (the prior-day window
 * ends at D0), and so no D1 item is removed as never posted; once the answers catch up, D1 resolves and D2's
 * withdrawals are taken. Through the real sync into real Postgres, with a bank scripted page by page.
 */
const D0 = '2026-11-18';
const D1 = '2026-11-19';
const D2 = '2026-11-20';
const JPM_ACCOUNT = '000000011116631';

describe('both balance answers naming the older business day while transactions show the next', () => {
  let t: TestDb;
  beforeAll(async () => {
    t = await createTestDb();
  });
  afterAll(async () => {
    await t.drop();
  });

  it('withdraws nothing of the older day and reads it as final only once PRIOR_DAY names it', async () => {
    const account = await createAccount(t.db, await createTenancy(t.db), { jpmAccountId: JPM_ACCOUNT });
    const rec = accountRecords(JPM_ACCOUNT);
    const asked: string[] = [];
    /** One window; the bank answers each transactions request with the next of `walks`, CURRENT_DAY and PRIOR_DAY as given. */
    const sync = (
      mode: WindowJob['mode'],
      answers: { current: string; prior: string; today: string },
      ...walks: string[][]
    ) => {
      let n = 0;
      const bank: BankClient = {
        transactionPages(query) {
          asked.push(
            'relativeDateType' in query ? String(query.relativeDateType) : `${query.startDate}..${query.endDate}`,
          );
          const pages = onePageWalk(walks[n++] ?? []);
          return (async function* () {
            for (const page of pages) {
              yield await Promise.resolve(page);
            }
          })();
        },
        getBalances(query) {
          const day =
            'relativeDateType' in query && query.relativeDateType === 'PRIOR_DAY' ? answers.prior : answers.current;
          return Promise.resolve({ accounts: currentDayBalance(JPM_ACCOUNT, day) });
        },
      };
      return syncAccountWindow(scriptedDeps(t.db, bank, answers.today), {
        runId: null,
        accountId: account.id,
        mode,
        kinds: ['transactions', 'balances'],
      });
    };
    const statuses = () => statusesOf(t.db, account.id, true);

    await sync('intraday', { current: D1, prior: D0, today: D1 }, [
      rec('I-1', D1, 'I', 'R1'),
      rec('I-2', D1, 'I', 'R2'),
    ]);

    // The bank moved on to D2 (its current-day view shows D2's items only), both answers still on the older days.
    const lagging = { current: D1, prior: D0, today: D2 };
    const d2 = [rec('I-3', D2, 'I', 'R3'), rec('I-4', D2, 'I', 'R4')];
    expect(await sync('intraday', lagging, d2, d2)).toMatchObject({ removed: 0 });
    expect(await statuses()).toEqual({
      'I-1': `pending ${D1}`,
      'I-2': `pending ${D1}`,
      'I-3': `pending ${D2}`,
      'I-4': `pending ${D2}`,
    });
    // The prior-day window reads up to the PRIOR_DAY the bank names (D0): D1 is not final yet, nothing removed.
    asked.length = 0;
    expect(await sync('prior_day', lagging, [])).toMatchObject({ removed: 0, superseded: 0 });
    expect(asked).toEqual([`2026-11-13..${D0}`]);
    expect(await statuses()).toMatchObject({ 'I-1': `pending ${D1}`, 'I-2': `pending ${D1}` });

    // The answers catch up: D1's prior-day data resolves D1; D2's snapshot then withdraws I-4.
    const caughtUp = { current: D2, prior: D1, today: D2 };
    asked.length = 0;
    await sync('prior_day', caughtUp, [rec('P-1', D1, 'P', 'R1')]);
    expect(asked).toEqual([`2026-11-14..${D1}`]);
    const later = [rec('I-3', D2, 'I', 'R3')];
    expect(await sync('intraday', caughtUp, later, later)).toMatchObject({ removed: 1 });
    expect(await statuses()).toEqual({
      'I-1': `superseded ${D1}`,
      'I-2': `removed ${D1}`,
      'I-3': `pending ${D2}`,
      'I-4': `removed ${D2}`,
      'P-1': `posted ${D1}`,
    });
  });
});
