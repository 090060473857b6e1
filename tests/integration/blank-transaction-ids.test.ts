import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toMinorUnits } from '../../src/shared/money.ts';
import { addDays } from '../../src/shared/time.ts';
import { NO_QUIRKS } from '../../src/simulator/index.ts';
import { createTestDb, type TestDb } from '../helpers/db.ts';
import { startSimBank, type SimBank } from '../helpers/sim-bank.ts';

/**
 * A `transactionId` written as blanks (a fixed-width field holding no id) is no id: the records are identified by
 * fingerprint and occurrence as records without one, from the simulator over real mTLS into Postgres. Taken as an id,
 * every record after the first of a walk would share it: a later page would look like an earlier one served again,
 * and the records would be one row.
 */
const TODAY = '2026-03-04';
const FROM = addDays(TODAY, -9);
const TO = addDays(TODAY, -5);

describe('transaction ids written as blanks', () => {
  let t: TestDb;
  let env: SimBank;
  beforeAll(async () => {
    t = await createTestDb();
    env = await startSimBank(t.db, {
      today: TODAY,
      historyDays: 12,
      txPerDay: 4,
      accounts: 1,
      quirks: NO_QUIRKS,
      defaultPageSize: 3,
    });
  });
  afterAll(async () => {
    await env.stop();
    await t.drop();
  });

  const stored = () =>
    t.db
      .selectFrom('transactions')
      .select(['jpm_transaction_id', 'amount_minor', 'direction', 'booking_date', 'bank_reference'])
      .where('account_id', '=', env.accounts[0]!.id)
      .execute();

  it('stores every record of a walk once, by fingerprint, its blank id kept as sent; a re-sync adds nothing', async () => {
    const account = env.accounts[0]!;
    const gt = env.sim.groundTruth().accounts[0]!;
    const expected = gt.transactions
      .filter((x) => x.asOfDate >= FROM && x.asOfDate <= TO)
      .map(
        (x) =>
          `${toMinorUnits(x.amount, gt.decimalLocation)}|${x.debitCreditCode.toLowerCase()}|${x.asOfDate}|${x.bankReference}`,
      )
      .sort();
    // More records than one page holds, so the walk has pages after the first.
    expect(expected.length).toBeGreaterThan(6);

    env.sim.injectFaults([{ kind: 'blank-ids', path: '/tsapi/v3/transactions' }]);
    try {
      const first = await env.sync(account.id, { mode: 'range', from: FROM, to: TO, kinds: ['transactions'] });
      expect(first).toMatchObject({ inserted: expected.length, rejected: 0 });
      const again = await env.sync(account.id, { mode: 'range', from: FROM, to: TO, kinds: ['transactions'] });
      expect(again).toMatchObject({ inserted: 0, updated: 0, rejected: 0 });
    } finally {
      env.sim.clearFaults();
    }
    const rows = await stored();
    expect(rows.map((r) => r.jpm_transaction_id)).toEqual(rows.map(() => ' '.repeat(12)));
    expect(rows.map((r) => `${r.amount_minor}|${r.direction}|${r.booking_date}|${r.bank_reference}`).sort()).toEqual(
      expected,
    );
    const rejects = await t.db
      .selectFrom('sync_rejects')
      .select('reason')
      .where('account_id', '=', account.id)
      .execute();
    expect(rejects).toEqual([]);
  });
});
