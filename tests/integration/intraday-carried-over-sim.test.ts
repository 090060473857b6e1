import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nextBusinessDay } from '../../src/simulator/calendar.ts';
import { NO_QUIRKS } from '../../src/simulator/quirks.ts';
import type { IsoDate } from '../../src/shared/time.ts';
import { createTestDb, type TestDb } from '../helpers/db.ts';
import { startSimBank, type SimAccountRow, type SimBank } from '../helpers/sim-bank.ts';

/**
 * The simulator's `carriedOver` quirk (stranger than the bank): an intraday item that never posted is in the next
 * business day's CURRENT_DAY snapshot again, under its id, dated that day. After every sync the live intraday rows of
 * each day must be exactly what the bank showed that day (over real mTLS, into real Postgres).
 */
describe('an intraday item the simulator carries over to the next business day', () => {
  let t: TestDb;
  let env: SimBank;
  let account: SimAccountRow;

  beforeAll(async () => {
    t = await createTestDb();
    env = await startSimBank(t.db, {
      today: '2026-11-02',
      historyDays: 20,
      txPerDay: 40,
      accounts: [{ currency: 'USD' }],
      quirks: { ...NO_QUIRKS, unpostedIntraday: true, carriedOver: true },
      seed: 'carried-over',
    });
    account = env.accounts[0]!;
  });
  afterAll(async () => {
    await env.stop();
    await t.drop();
  });

  const liveIntraday = async (day: IsoDate) =>
    (
      await t.db
        .selectFrom('transactions')
        .select('jpm_transaction_id')
        .where('account_id', '=', account.id)
        .where('post_code', '=', 'I')
        .where('booking_date', '=', day)
        .where('status', '=', 'pending')
        .execute()
    )
      .map((r) => r.jpm_transaction_id)
      .sort();
  const bankIntraday = (day: IsoDate) =>
    env.sim
      .view(account.jpmAccountId, day)
      .records.map((r) => r.transactionId)
      .sort();

  it('is pending on the day the bank shows it again, and removed once that day closes without it', async () => {
    // A business day with an item that never posts, and the business day after it.
    let d1: IsoDate = '2026-11-02';
    for (;;) {
      env.setToday(d1, 1);
      if (env.sim.view(account.jpmAccountId, d1).records.some((r) => r.marks.includes('never-posted'))) {
        break;
      }
      d1 = nextBusinessDay(d1);
    }
    const d2 = nextBusinessDay(d1);
    const carried = env.sim
      .view(account.jpmAccountId, d1)
      .records.filter((r) => r.marks.includes('never-posted'))
      .map((r) => r.transactionId);

    await env.sync(account.id, { mode: 'intraday' });
    expect(await liveIntraday(d1)).toEqual(bankIntraday(d1));

    env.setToday(d2, 0.5);
    await env.sync(account.id, { mode: 'prior_day' });
    expect(await liveIntraday(d1)).toEqual([]);
    await env.sync(account.id, { mode: 'intraday' });
    expect(bankIntraday(d2)).toEqual(expect.arrayContaining(carried));
    expect(await liveIntraday(d2)).toEqual(bankIntraday(d2));

    const d3 = nextBusinessDay(d2);
    env.setToday(d3, 0.1);
    await env.sync(account.id, { mode: 'prior_day' });
    expect(await liveIntraday(d2)).toEqual([]);
    const rows = await t.db
      .selectFrom('transactions')
      .select(['jpm_transaction_id', 'status', 'booking_date'])
      .where('account_id', '=', account.id)
      .where('jpm_transaction_id', 'in', carried)
      .execute();
    // One row per item, on the day the bank last dated it, resolved as never posted.
    expect(rows.map((r) => [r.jpm_transaction_id, r.status, String(r.booking_date)]).sort()).toEqual(
      carried.map((id) => [id, 'removed', d2]).sort(),
    );
  });
});
