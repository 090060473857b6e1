import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nextBusinessDay } from '../../src/simulator/calendar.ts';
import { NO_QUIRKS, type Quirks } from '../../src/simulator/quirks.ts';
import type { IsoDate } from '../../src/shared/time.ts';
import { createTestDb, type TestDb } from '../helpers/db.ts';
import { startSimBank } from '../helpers/sim-bank.ts';

/**
 * Current-day snapshots stranger than the bank's usual growth, from the simulator over real mTLS into real Postgres:
 * an item whose amount changes between two snapshots of its day (quirk `revisedIntraday`), and a snapshot that
 * shrinks for part of the day and grows back (quirk `dippingSnapshot`). After every intraday sync the live intraday
 * rows of the day are exactly the bank's snapshot, id for id and amount for amount; once the day closes, each of its
 * intraday items is linked to its posting and none is left pending.
 */
const PROGRESS = Array.from({ length: 19 }, (_, i) => (i + 1) / 20);

describe('strange current-day snapshots from the simulator', () => {
  let t: TestDb;
  beforeAll(async () => {
    t = await createTestDb();
  });
  afterAll(async () => {
    await t.drop();
  });

  async function bankWith(quirks: Partial<Quirks>, seed: string) {
    const env = await startSimBank(t.db, {
      today: '2026-11-02',
      historyDays: 10,
      txPerDay: 30,
      accounts: [{ currency: 'USD' }],
      quirks: { ...NO_QUIRKS, growingSnapshot: true, newIdsOnPosting: true, ...quirks },
      seed,
    });
    const account = env.accounts[0]!;
    /** The bank's CURRENT_DAY snapshot of `day` at `progress`: id → amount in minor units. */
    const bank = (day: IsoDate, progress: number) => {
      env.setToday(day, progress);
      return Object.fromEntries(
        env.sim.view(account.jpmAccountId, day).records.map((r) => [r.transactionId, r.amountMinor]),
      );
    };
    /** Our live intraday rows of `day`: id → amount. */
    const live = async (day: IsoDate) =>
      Object.fromEntries(
        (
          await t.db
            .selectFrom('transactions')
            .select(['jpm_transaction_id', 'amount_minor'])
            .where('account_id', '=', account.id)
            .where('post_code', '=', 'I')
            .where('booking_date', '=', day)
            .where('status', '=', 'pending')
            .execute()
        ).map((r) => [r.jpm_transaction_id, String(r.amount_minor)]),
      );
    /** Syncs the current day at `progress` and holds our live rows against the bank's snapshot. */
    const intradayAt = async (day: IsoDate, progress: number) => {
      const shown = bank(day, progress);
      await env.sync(account.id, { mode: 'intraday' });
      expect(await live(day), `live intraday rows of ${day} at ${progress}`).toEqual(shown);
      return shown;
    };
    /** The day closes: prior-day sync on the next business day; every intraday row of the day is superseded. */
    const close = async (day: IsoDate) => {
      env.setToday(nextBusinessDay(day), 0.1);
      await env.sync(account.id, { mode: 'prior_day' });
      const rows = await t.db
        .selectFrom('transactions')
        .select(['status', 'superseded_by'])
        .where('account_id', '=', account.id)
        .where('post_code', '=', 'I')
        .where('booking_date', '=', day)
        .execute();
      expect(rows.length).toBeGreaterThan(0);
      expect(rows.filter((r) => r.status !== 'superseded' || r.superseded_by === null)).toEqual([]);
    };
    return { env, bank, intradayAt, close };
  }

  it('an item whose amount changes between two snapshots is one row, at the amount the bank shows now', async () => {
    const { env, bank, intradayAt, close } = await bankWith({ revisedIntraday: true }, 'revised-intraday');
    try {
      // A day and two progress points at which the bank shows one item at two amounts.
      let day: IsoDate = '2026-11-02';
      let pair: [number, number] | undefined;
      for (let tries = 0; !pair && tries < 10; tries++, day = nextBusinessDay(day)) {
        const snaps = PROGRESS.map((p) => bank(day, p));
        const i = snaps.findIndex(
          (s, k) => k > 0 && Object.entries(snaps[k - 1]!).some(([id, a]) => s[id] !== undefined && s[id] !== a),
        );
        if (i > 0) {
          pair = [PROGRESS[i - 1]!, PROGRESS[i]!];
          break;
        }
      }
      expect(pair, 'a day with an item revised intraday').toBeDefined();
      const [before, after] = pair!;
      const first = await intradayAt(day, before);
      const second = await intradayAt(day, after);
      expect(Object.keys(first).some((id) => second[id] !== first[id])).toBe(true);
      await intradayAt(day, 1);
      await close(day);
    } finally {
      await env.stop();
    }
  });

  it('a snapshot that shrinks for part of the day and grows back leaves the live rows its own at every step', async () => {
    const { env, bank, intradayAt, close } = await bankWith({ dippingSnapshot: true }, 'dipping-snapshot');
    try {
      let day: IsoDate = '2026-11-02';
      let dip: [number, number, number] | undefined;
      for (let tries = 0; !dip && tries < 10; tries++, day = nextBusinessDay(day)) {
        const sizes = PROGRESS.map((p) => Object.keys(bank(day, p)).length);
        const down = sizes.findIndex((n, k) => k > 0 && n < sizes[k - 1]!);
        const up = sizes.findIndex((n, k) => k > down && down > 0 && n >= sizes[down - 1]!);
        if (down > 0 && up > down) {
          dip = [PROGRESS[down - 1]!, PROGRESS[down]!, PROGRESS[up]!];
          break;
        }
      }
      expect(dip, 'a day whose snapshot dips').toBeDefined();
      const [before, during, after] = dip!;
      const full = await intradayAt(day, before);
      const shrunk = await intradayAt(day, during);
      expect(Object.keys(shrunk).length).toBeLessThan(Object.keys(full).length);
      const back = await intradayAt(day, after);
      expect(back).toEqual(expect.objectContaining(full));
      await intradayAt(day, 1);
      await close(day);
    } finally {
      await env.stop();
    }
  });

  it('every intraday oddity at once, day after day: live rows are the snapshot, a closed day keeps no pending item', async () => {
    const { env, intradayAt } = await bankWith(
      {
        revisedIntraday: true,
        dippingSnapshot: true,
        withdrawals: true,
        carriedOver: true,
        unpostedIntraday: true,
        amountChangesOnPosting: true,
      },
      'every-oddity',
    );
    const account = env.accounts[0]!;
    try {
      let day: IsoDate = '2026-11-02';
      for (let d = 0; d < 4; d++, day = nextBusinessDay(day)) {
        for (const p of [0.15, 0.3, 0.45, 0.6, 0.75, 0.9, 1]) {
          await intradayAt(day, p);
        }
        env.setToday(nextBusinessDay(day), 0.05);
        await env.sync(account.id, { mode: 'prior_day' });
        const rows = await t.db
          .selectFrom('transactions as t')
          .leftJoin('transactions as p', 'p.id', 't.superseded_by')
          .select(['t.jpm_transaction_id', 't.status', 'p.jpm_transaction_id as posted'])
          .where('t.account_id', '=', account.id)
          .where('t.post_code', '=', 'I')
          .where('t.booking_date', '=', day)
          .execute();
        expect(rows.filter((r) => r.status === 'pending')).toEqual([]);
        // A link joins an intraday item to the posting of the same item of the bank's day (its position, `-<seq>`).
        const seqOf = (id: string | null) => id?.split('-').at(-1);
        expect(
          rows.filter((r) => r.status === 'superseded' && seqOf(r.posted) !== seqOf(r.jpm_transaction_id)),
        ).toEqual([]);
      }
    } finally {
      await env.stop();
    }
  });
});
