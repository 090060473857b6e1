import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importStatementFile } from '../../src/main/statement-import.ts';
import { createTestDb, type TestDb } from '../helpers/db.ts';
import { createAccount, createTenancy } from '../factories/tenancy.ts';
import { bai2Groups } from '../factories/bai2.ts';
import { camtFile } from '../factories/camt.ts';

/**
 * A statement file's balance that states some amounts only (an intraday report's current ledger alone, a BAI2
 * group's opening ledger alone), through the real import path and Postgres: stored as the file states it, never a
 * reject of a valid file, never blanking an amount stored before.
 */
let t: TestDb;
beforeAll(async () => {
  t = await createTestDb();
});
afterAll(async () => {
  await t.drop();
});

const DAY = '2026-11-30';

async function balances(accountId: string) {
  return (
    await t.db
      .selectFrom('balances')
      .select(['kind', 'opening_ledger_minor', 'ending_ledger_minor', 'ending_available_minor'])
      .where('account_id', '=', accountId)
      .execute()
  ).map((b) => [
    b.kind,
    b.opening_ledger_minor === null ? null : String(b.opening_ledger_minor),
    b.ending_ledger_minor === null ? null : String(b.ending_ledger_minor),
    b.ending_available_minor === null ? null : String(b.ending_available_minor),
  ]);
}

async function rejects(accountId: string) {
  return t.db.selectFrom('sync_rejects').select(['reason']).where('account_id', '=', accountId).execute();
}

describe('statement balances stating some amounts only', () => {
  it('a camt.052 with its interim balances only (ITBD, ITAV; no OPBD) stores the current-day balance', async () => {
    const account = await createAccount(t.db, await createTenancy(t.db));
    // camtFile writes `closing` as ITAV in a report: add the ITBD by hand.
    const report = camtFile(
      [
        {
          account: account.jpmAccountId,
          date: DAY,
          closing: '1250.00',
          items: [{ cdtDbt: 'CRDT', amount: '5.00', ref: 'A1' }],
        },
      ],
      { report: true },
    ).replace(
      '<Bal>',
      `<Bal><Tp><CdOrPrtry><Cd>ITBD</Cd></CdOrPrtry></Tp><Amt Ccy="USD">1300.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>${DAY}</Dt></Dt></Bal><Bal>`,
    );
    const imported = await importStatementFile(t.db, { accountId: account.id, text: report, trigger: 'manual' });
    expect(imported.status).toBe('succeeded');
    expect(await rejects(account.id)).toEqual([]);
    expect(await balances(account.id)).toEqual([['current_day', null, '130000', '125000']]);
  });

  it("a BAI2 previous-day group with the opening ledger only (010, no 015) stores it; the day's proof says what is missing", async () => {
    const account = await createAccount(t.db, await createTenancy(t.db));
    const file = bai2Groups([
      {
        date: '261130',
        modifier: '2',
        account: account.jpmAccountId,
        summary: [['010', 100_000n]],
        items: [{ type: '195', amount: 5_000n, bankRef: 'P1', custRef: '', text: 'ITEM' }],
      },
    ]);
    const imported = await importStatementFile(t.db, { accountId: account.id, text: file, trigger: 'manual' });
    expect(imported.status).toBe('succeeded');
    expect(await rejects(account.id)).toEqual([]);
    expect(await balances(account.id)).toEqual([['final', '100000', null, null]]);
    const day = await t.db
      .selectFrom('account_days')
      .select(['state', 'reason'])
      .where('account_id', '=', account.id)
      .executeTakeFirstOrThrow();
    expect(day).toEqual({ state: 'unproved', reason: 'incomplete_final_balance' });
  });

  it('a later file stating the opening ledger only leaves the stored closing ledger as it was', async () => {
    const account = await createAccount(t.db, await createTenancy(t.db));
    const group = (summary: [string, bigint][]) =>
      bai2Groups([{ date: '261130', modifier: '2', account: account.jpmAccountId, summary, items: [] }]);
    await importStatementFile(t.db, {
      accountId: account.id,
      text: group([
        ['010', 100_000n],
        ['015', 100_000n],
      ]),
      trigger: 'manual',
    });
    const again = await importStatementFile(t.db, {
      accountId: account.id,
      text: group([['010', 100_000n]]),
      trigger: 'manual',
    });
    expect(again.status).toBe('succeeded');
    expect(await balances(account.id)).toEqual([['final', '100000', '100000', null]]);
  });
});
