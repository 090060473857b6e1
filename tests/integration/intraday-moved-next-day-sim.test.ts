import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseJsonLossless } from '../../src/shared/json.ts';
import type { ViewRecord } from '../../src/simulator/bank-view.ts';
import { nextBusinessDay } from '../../src/simulator/calendar.ts';
import { NO_QUIRKS } from '../../src/simulator/quirks.ts';
import type { IsoDate } from '../../src/shared/time.ts';
import { createTestDb, type TestDb } from '../helpers/db.ts';
import { startSimBank, type SimAccountRow, type SimBank } from '../helpers/sim-bank.ts';

/**
 * The simulator's `movedToNextDay` quirk (stranger than the bank): an intraday item misses its day's posting run and
 * posts on the next business day, the bank's business date for it, under a new id, at times at another amount. After
 * every sync each day's live rows must be exactly what the bank shows for that day, and the item's money must be live
 * once at most: pending under its own day until that day's final data lacks it, then posted under the next business
 * day, never under a date of ours (over real mTLS, into real Postgres; in a 0-decimal and a 3-decimal currency too).
 */
describe('an intraday item the bank posts on the next business day', () => {
  let t: TestDb;
  let env: SimBank;

  beforeAll(async () => {
    t = await createTestDb();
    env = await startSimBank(t.db, {
      today: '2026-11-02',
      historyDays: 20,
      txPerDay: 30,
      accounts: [{ currency: 'USD' }, { currency: 'JPY' }, { currency: 'KWD' }],
      quirks: { ...NO_QUIRKS, newIdsOnPosting: true, movedToNextDay: true },
      holidays: ['2026-11-26'],
      seed: 'moved-next-day',
    });
  });
  afterAll(async () => {
    await env.stop();
    await t.drop();
  });

  const referenceOf = (r: ViewRecord) =>
    String(
      (parseJsonLossless(r.wire) as { bankReferenceSearchable: { standardValue: string } }).bankReferenceSearchable
        .standardValue,
    );
  const liveRows = async (account: SimAccountRow) =>
    (
      await t.db
        .selectFrom('transactions')
        .select(['jpm_transaction_id', 'status', 'booking_date', 'amount_minor', 'bank_reference'])
        .where('account_id', '=', account.id)
        .where('status', 'in', ['pending', 'posted'])
        .execute()
    ).map((r) => ({ ...r, booking_date: String(r.booking_date), amount_minor: String(r.amount_minor) }));
  const liveOn = async (account: SimAccountRow, day: IsoDate) =>
    (await liveRows(account))
      .filter((r) => r.booking_date === day)
      .map((r) => `${r.jpm_transaction_id} ${r.amount_minor}`)
      .sort();
  const bankOn = (account: SimAccountRow, day: IsoDate) =>
    env.sim
      .view(account.jpmAccountId, day)
      .records.map((r) => `${r.transactionId} ${r.amountMinor}`)
      .sort();

  it.each([0, 1, 2])(
    'account %i: pending on its day, gone from that day once it closes without it, posted once under the next',
    async (index) => {
      const account = env.accounts[index]!;
      // A business day with a moved item whose next business day is a holiday's neighbour or not: the first found.
      let d1: IsoDate = '2026-11-02';
      for (;;) {
        env.setToday(d1, 1);
        if (env.sim.view(account.jpmAccountId, d1).records.some((r) => r.marks.includes('moved-next-day'))) {
          break;
        }
        d1 = nextBusinessDay(d1);
        expect(d1 < '2026-12-31').toBe(true);
      }
      const d2 = env.sim.calendar.nextBusinessDay(d1);
      const d3 = env.sim.calendar.nextBusinessDay(d2);
      const moved = env.sim.view(account.jpmAccountId, d1).records.filter((r) => r.marks.includes('moved-next-day'));
      const refs = new Set(moved.map(referenceOf));

      await env.sync(account.id, { mode: 'intraday' });
      expect(await liveOn(account, d1)).toEqual(bankOn(account, d1));
      expect((await liveOn(account, d1)).filter((r) => moved.some((m) => r.startsWith(m.transactionId)))).toHaveLength(
        moved.length,
      );

      // d1 closes without the moved items: they leave its live set; the bank has not posted them yet.
      env.setToday(d2, 0.5);
      await env.sync(account.id, { mode: 'prior_day' });
      await env.sync(account.id, { mode: 'intraday' });
      expect(await liveOn(account, d1)).toEqual(bankOn(account, d1));
      expect(await liveOn(account, d2)).toEqual(bankOn(account, d2));
      expect((await liveRows(account)).filter((r) => refs.has(r.bank_reference))).toEqual([]);

      // d2 closes with them: posted under d2, the bank's date for them, under new ids, each once.
      env.setToday(d3, 0.5);
      await env.sync(account.id, { mode: 'prior_day' });
      expect(await liveOn(account, d1)).toEqual(bankOn(account, d1));
      expect(await liveOn(account, d2)).toEqual(bankOn(account, d2));
      const posted = env.sim
        .view(account.jpmAccountId, d2)
        .records.filter((r) => r.marks.includes('moved-in'))
        .map((r) => ({
          jpm_transaction_id: r.transactionId,
          status: 'posted',
          booking_date: d2,
          amount_minor: r.amountMinor,
          bank_reference: referenceOf(r),
        }));
      expect(posted).toHaveLength(moved.length);
      expect(posted.map((p) => p.jpm_transaction_id)).not.toEqual(moved.map((m) => m.transactionId));
      const live = (await liveRows(account)).filter((r) => refs.has(r.bank_reference));
      expect(live.sort((a, b) => a.bank_reference.localeCompare(b.bank_reference))).toEqual(
        posted.sort((a, b) => a.bank_reference.localeCompare(b.bank_reference)),
      );
    },
  );
});
