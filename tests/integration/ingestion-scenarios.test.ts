import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addDays, diffDays, isWeekend, splitRange, type IsoDate } from '../../src/shared/time.ts';
import { toMinorUnits } from '../../src/shared/money.ts';
import { syncAccountWindow } from '../../src/sync/sync-account.ts';
import { createTestDb, type TestDb } from '../helpers/db.ts';
import { startSimBank, type SimAccountRow, type SimBank } from '../helpers/sim-bank.ts';

/**
 * The ingestion scenarios of issue 4, against the simulator over real mTLS and real Postgres. One
 * timeline: backfill history, watch the current day grow, then let it post the next morning.
 */
function nextBusinessDay(d: IsoDate): IsoDate {
  let n = addDays(d, 1);
  while (isWeekend(n)) {
    n = addDays(n, 1);
  }
  return n;
}

describe('ingestion scenarios (simulator, all quirks on)', () => {
  let t: TestDb;
  let env: SimBank;
  let usd: SimAccountRow;
  let day: IsoDate;
  let nextDay: IsoDate;
  const HISTORY = 24;

  beforeAll(async () => {
    t = await createTestDb();
    env = await startSimBank(t.db, {
      today: '2026-03-02',
      historyDays: 40,
      txPerDay: 14,
      accounts: [{ currency: 'USD' }, { currency: 'JPY' }, { currency: 'KWD' }],
    });
    usd = env.accounts[0]!;
    // A business day whose intraday data shows every pending-to-posted quirk at once.
    const simUsd = env.sim.accounts[0]!;
    for (let d = '2026-03-02'; ; d = nextBusinessDay(d)) {
      const marks = new Set(env.sim.ledger.day(simUsd, d)?.items.flatMap((i) => i.marks) ?? []);
      // …and a late posting that the bank reveals the next morning, dated three business days back.
      const next = nextBusinessDay(d);
      const lateRevealedNext = [1, 2, 3, 4, 5, 6].some((back) =>
        env.sim.ledger
          .day(simUsd, addDays(next, -back))
          ?.items.some((i) => i.marks.includes('late') && i.revealDate === next),
      );
      if (marks.has('amount-changed') && marks.has('never-posted') && marks.has('identical') && lateRevealedNext) {
        day = d;
        break;
      }
      expect(diffDays('2026-03-02', d)).toBeLessThan(60);
    }
    nextDay = nextBusinessDay(day);
    env.setToday(day, 0.1);
    for (const account of env.accounts) {
      for (const w of splitRange(addDays(day, -HISTORY), addDays(day, -1), 5)) {
        await env.sync(account.id, { mode: 'range', from: w.from, to: w.to });
      }
    }
  });
  afterAll(async () => {
    await env.stop();
    await t.drop();
  });

  async function postedRows(accountId: string) {
    return t.db
      .selectFrom('transactions')
      .select([
        'jpm_transaction_id',
        'amount_minor',
        'direction',
        'booking_date',
        'value_date',
        'status',
        'bank_reference',
      ])
      .where('account_id', '=', accountId)
      .where('status', '=', 'posted')
      .execute();
  }

  async function expectMatchesGroundTruth(from: IsoDate) {
    const truth = env.sim.groundTruth();
    for (const account of env.accounts) {
      const gt = truth.accounts.find((a) => a.accountId === account.jpmAccountId)!;
      const expected = gt.transactions
        .filter((x) => x.asOfDate >= from)
        .map(
          (x) =>
            `${x.transactionId}|${toMinorUnits(x.amount, gt.decimalLocation)}|${x.debitCreditCode.toLowerCase()}|${x.asOfDate}|${x.valueDate}`,
        )
        .sort();
      const actual = (await postedRows(account.id))
        .filter((r) => r.booking_date >= from)
        .map((r) => `${r.jpm_transaction_id}|${r.amount_minor}|${r.direction}|${r.booking_date}|${r.value_date}`)
        .sort();
      expect(actual).toEqual(expected);
    }
  }

  it("a backfill stores the bank's posted history exactly, in 2-, 0- and 3-decimal currencies", async () => {
    expect(env.accounts.map((a) => a.decimalLocation)).toEqual([2, 0, 3]);
    await expectMatchesGroundTruth(addDays(day, -HISTORY));
    const kwd = await postedRows(env.accounts[2]!.id);
    expect(kwd.length).toBeGreaterThan(0);
  });

  it('identical same-day transactions are kept, one row each, after any number of re-syncs', async () => {
    const gt = env.sim.groundTruth().accounts[0]!;
    const identical = gt.transactions.filter(
      (x) => x.marks.includes('identical') && x.asOfDate >= addDays(day, -HISTORY),
    );
    expect(identical.length).toBeGreaterThanOrEqual(3);
    const date = identical[0]!.asOfDate;
    for (let i = 0; i < 3; i++) {
      await env.sync(usd.id, { mode: 'range', from: date, to: date });
    }
    const rows = (await postedRows(usd.id)).filter(
      (r) => r.booking_date === date && r.bank_reference === identical[0]!.bankReference,
    );
    expect(rows).toHaveLength(
      identical.filter((x) => x.asOfDate === date && x.bankReference === identical[0]!.bankReference).length,
    );
  });

  it('value date in another month than the booking date is kept apart', async () => {
    const rows = await t.db
      .selectFrom('transactions')
      .select(['booking_date', 'value_date'])
      .where('status', '=', 'posted')
      .where('booking_date', '>=', addDays(day, -HISTORY))
      .execute();
    const crossMonth = rows.filter((r) => r.value_date && r.value_date.slice(0, 7) !== r.booking_date.slice(0, 7));
    expect(crossMonth.length).toBeGreaterThan(0);
    const gtCross = env.sim
      .groundTruth()
      .accounts.flatMap((a) => a.transactions)
      .filter((x) => x.valueDate.slice(0, 7) !== x.asOfDate.slice(0, 7) && x.asOfDate >= addDays(day, -HISTORY));
    expect(crossMonth.length).toBe(gtCross.length);
  });

  it('the current day is stored as pending items, growing with each snapshot', async () => {
    env.setToday(day, 0.5);
    const first = await env.sync(usd.id, { mode: 'intraday' });
    env.setToday(day, 1);
    const second = await env.sync(usd.id, { mode: 'intraday' });
    expect(first.inserted).toBeGreaterThan(0);
    expect(second.unchanged).toBeGreaterThanOrEqual(first.inserted);
    const intraday = env.sim.ledger.day(env.sim.accounts[0]!, day)!.items.filter((i) => i.intradayMinor !== null);
    const pending = await t.db
      .selectFrom('transactions')
      .select(['amount_minor'])
      .where('account_id', '=', usd.id)
      .where('status', '=', 'pending')
      .execute();
    expect(pending).toHaveLength(intraday.length);
    expect(pending.reduce((s, r) => s + BigInt(r.amount_minor), 0n)).toBe(
      intraday.reduce((s, i) => s + (i.intradayMinor ?? 0n), 0n),
    );
  });

  describe('the next morning', () => {
    beforeAll(async () => {
      env.setToday(nextDay, 0.1);
      for (const account of env.accounts) {
        await env.sync(account.id, { mode: 'prior_day' });
      }
    });

    it('pending items are superseded by posted items with new ids, linked with the rule and evidence', async () => {
      const left = await t.db
        .selectFrom('transactions')
        .select('id')
        .where('account_id', '=', usd.id)
        .where('status', '=', 'pending')
        .execute();
      expect(left).toEqual([]);
      const superseded = await t.db
        .selectFrom('transactions as p')
        .innerJoin('transactions as q', 'q.id', 'p.superseded_by')
        .select([
          'p.jpm_transaction_id as pendingId',
          'q.jpm_transaction_id as postedId',
          'q.status as postedStatus',
          'p.booking_date',
        ])
        .where('p.account_id', '=', usd.id)
        .where('p.status', '=', 'superseded')
        .execute();
      expect(superseded.length).toBeGreaterThan(0);
      for (const s of superseded) {
        expect(s.pendingId).not.toBe(s.postedId);
        expect(s.pendingId.startsWith('TXN-C-')).toBe(true);
        expect(s.postedStatus).toBe('posted');
        expect(s.booking_date).toBe(day);
      }
      const decisions = await t.db
        .selectFrom('transaction_decisions')
        .select(['decision', 'rule', 'evidence'])
        .where('account_id', '=', usd.id)
        .where('decision', '=', 'superseded')
        .execute();
      expect(decisions).toHaveLength(superseded.length);
    });

    it('an amount changed on posting still links the pending item to its posted item', async () => {
      const changed = await t.db
        .selectFrom('transaction_decisions')
        .select(['rule', 'evidence'])
        .where('account_id', '=', usd.id)
        .where('decision', '=', 'superseded')
        .where(sql<boolean>`(evidence->>'amountChanged')::boolean`)
        .execute();
      const expected = env.sim.ledger
        .day(env.sim.accounts[0]!, day)!
        .items.filter((i) => i.marks.includes('amount-changed'));
      expect(changed).toHaveLength(expected.length);
      for (const c of changed) {
        expect(c.rule).not.toBe('exact');
      }
    });

    it('an intraday item that never posts is marked removed, not deleted', async () => {
      const removed = await t.db
        .selectFrom('transactions')
        .select(['id', 'jpm_transaction_id'])
        .where('account_id', '=', usd.id)
        .where('status', '=', 'removed')
        .execute();
      const expected = env.sim.ledger
        .day(env.sim.accounts[0]!, day)!
        .items.filter((i) => i.marks.includes('never-posted'));
      expect(removed).toHaveLength(expected.length);
      const rules = await t.db
        .selectFrom('transaction_decisions')
        .select('rule')
        .where(
          'transaction_id',
          'in',
          removed.map((r) => r.id),
        )
        .execute();
      expect(rules.map((r) => r.rule)).toEqual(removed.map(() => 'not_in_prior_day'));
      const events = await t.db
        .selectFrom('change_events')
        .select('kind')
        .where(
          'entity_id',
          'in',
          removed.map((r) => r.id),
        )
        .execute();
      expect(events.map((e) => e.kind).sort()).toEqual(
        [...removed.map(() => 'added'), ...removed.map(() => 'removed')].sort(),
      );
    });

    it('a late posting dated three business days back is added, and the re-issued ids of its day add no rows', async () => {
      const simUsd = env.sim.accounts[0]!;
      const lateDay = [1, 2, 3, 4, 5, 6]
        .map((back) => addDays(nextDay, -back))
        .find((d) =>
          env.sim.ledger.day(simUsd, d)?.items.some((i) => i.marks.includes('late') && i.revealDate === nextDay),
        )!;
      const gt = env.sim.groundTruth().accounts[0]!;
      const late = gt.transactions.filter((x) => x.asOfDate === lateDay && x.marks.includes('late'));
      expect(late.length).toBeGreaterThan(0);
      const rows = await t.db
        .selectFrom('transactions')
        .select(['id', 'jpm_transaction_id', 'version'])
        .where('account_id', '=', usd.id)
        .where('booking_date', '=', lateDay)
        .where('status', '=', 'posted')
        .execute();
      for (const l of late) {
        expect(rows.some((r) => r.jpm_transaction_id === l.transactionId)).toBe(true);
      }
      // The bank re-issued every other id of that day: same rows, new ids, one decision each, no new row.
      const others = gt.transactions.filter((x) => x.asOfDate === lateDay && !x.marks.includes('late'));
      expect(rows).toHaveLength(others.length + late.length);
      const reidentified = await t.db
        .selectFrom('transaction_decisions')
        .select(['transaction_id'])
        .where('account_id', '=', usd.id)
        .where('decision', '=', 're_identified')
        .where(
          'transaction_id',
          'in',
          rows.map((r) => r.id),
        )
        .execute();
      expect(reidentified).toHaveLength(others.length);
      await expectMatchesGroundTruth(addDays(day, -HISTORY));
    });

    it('the same window imported twice, and by two workers at the same time: no duplicate, no error', async () => {
      const before = await t.db
        .selectFrom('transactions')
        .select(sql<string>`count(*)`.as('n'))
        .executeTakeFirstOrThrow();
      await Promise.all([env.sync(usd.id, { mode: 'prior_day' }), env.sync(usd.id, { mode: 'prior_day' })]);
      const after = await t.db
        .selectFrom('transactions')
        .select(sql<string>`count(*)`.as('n'))
        .executeTakeFirstOrThrow();
      expect(after.n).toBe(before.n);
      const dupes = await sql<{
        n: string;
      }>`select count(*)::text as n from (select account_id, post_code, jpm_transaction_id from transactions group by 1, 2, 3 having count(*) > 1) d`.execute(
        t.db,
      );
      expect(dupes.rows[0]!.n).toBe('0');
      await expectMatchesGroundTruth(addDays(day, -HISTORY));
    });

    it('an unchanged re-import rewrites zero rows (the row versions of every table it could write)', async () => {
      // Every row version (ctid and xmin) of each table: an insert, update or delete changes the list. Exact, and not
      // pg_stat_user_tables, whose counts other backends flush when they are next idle (up to 10 s later under load:
      // an earlier test's writes then showed up as this one's).
      const tables = [
        'transactions',
        'transaction_versions',
        'transaction_decisions',
        'change_events',
        'balances',
        'sync_rejects',
      ] as const;
      const versions = async (): Promise<Record<string, string | null>> =>
        Object.fromEntries(
          await Promise.all(
            tables.map(
              async (table) =>
                [
                  table,
                  (
                    await sql<{
                      v: string | null;
                    }>`select string_agg(ctid::text || ':' || xmin::text, ',' order by ctid) as v from ${sql.table(table)}`.execute(
                      t.db,
                    )
                  ).rows[0]!.v,
                ] as const,
            ),
          ),
        );
      const before = await versions();
      expect(before.transactions).toBeTruthy();
      await syncAccountWindow(
        { ...env.deps, db: t.db },
        { runId: null, accountId: usd.id, mode: 'prior_day', kinds: ['transactions', 'balances'] },
      );
      expect(await versions()).toEqual(before);
    });
  });
});

describe('current-day page shift mid-walk', () => {
  let t: TestDb;
  let env: SimBank;
  beforeAll(async () => {
    t = await createTestDb();
    // > 1000 items on the current day, and every page request moves the bank's intraday clock on.
    env = await startSimBank(t.db, {
      today: '2026-03-03',
      historyDays: 2,
      txPerDay: 2600,
      accounts: 1,
      progress: 0.5,
      quirks: { shiftingPages: true },
    });
  });
  afterAll(async () => {
    await env.stop();
    await t.drop();
  });

  it("restarts the walk and ends with exactly the bank's snapshot, no duplicates", async () => {
    const account = env.accounts[0]!;
    const counts = await env.sync(account.id, { mode: 'intraday', kinds: ['transactions'] });
    expect(counts.fetched).toBeGreaterThan(1000);
    env.setToday('2026-03-03', 1);
    await env.sync(account.id, { mode: 'intraday', kinds: ['transactions'] });
    const intraday = env.sim.ledger
      .day(env.sim.accounts[0]!, '2026-03-03')!
      .items.filter((i) => i.intradayMinor !== null);
    const rows = await t.db
      .selectFrom('transactions')
      .select(['jpm_transaction_id', 'amount_minor'])
      .where('account_id', '=', account.id)
      .execute();
    expect(new Set(rows.map((r) => r.jpm_transaction_id)).size).toBe(rows.length);
    expect(rows).toHaveLength(intraday.length);
    expect(rows.reduce((s, r) => s + BigInt(r.amount_minor), 0n)).toBe(
      intraday.reduce((s, i) => s + (i.intradayMinor ?? 0n), 0n),
    );
  });
});
