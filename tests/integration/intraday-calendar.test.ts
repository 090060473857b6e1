import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NO_QUIRKS } from '../../src/simulator/quirks.ts';
import type { IsoDate } from '../../src/shared/time.ts';
import { createSyncRun, getSyncRun } from '../../src/storage/sync-runs.repo.ts';
import type { BankClient } from '../../src/sync/bank-client.ts';
import { syncAccountWindow } from '../../src/sync/sync-account.ts';
import { coverage } from '../../src/validation/coverage.ts';
import { daysOwed } from '../../src/validation/days.ts';
import { bearer, createTestApi, type TestApi } from '../helpers/api-app.ts';
import { createTestDb, type TestDb } from '../helpers/db.ts';
import { startSimBank, type SimAccountRow, type SimBank } from '../helpers/sim-bank.ts';

/**
 * Issue 14, items 3 and 4, against the simulator over real mTLS and real Postgres: intraday
 * reconciliation (the current-day view is a full snapshot; what it no longer shows leaves the live
 * set, what comes back is restored in the same row) and the bank's business calendar (its
 * CURRENT_DAY / PRIOR_DAY answers decide the dates, not our clock; holidays need no table of ours).
 */
const QUIRKS = { ...NO_QUIRKS, growingSnapshot: true };

async function newRun(env: SimBank, accountId: string, mode: 'intraday' | 'prior_day' | 'range'): Promise<string> {
  return createSyncRun(env.deps.db, {
    organizationId: env.tenancy.organizationId,
    integrationId: env.tenancy.integrationId,
    accountId,
    trigger: 'manual',
    mode,
  });
}

/** The ids the bank shows right now in its CURRENT_DAY view of the account (its own walk). */
async function bankIntradayIds(env: SimBank, account: SimAccountRow): Promise<Set<string>> {
  const ids = new Set<string>();
  for await (const p of env.bank.transactionPages({
    relativeDateType: 'CURRENT_DAY',
    accounts: [{ accountId: account.jpmAccountId }],
  })) {
    for (const r of p.records) {
      ids.add(String(r.transactionId));
    }
  }
  return ids;
}

async function intradayRows(env: SimBank, accountId: string, day: IsoDate) {
  return env.deps.db
    .selectFrom('transactions')
    .select(['id', 'jpm_transaction_id', 'status'])
    .where('account_id', '=', accountId)
    .where('post_code', '=', 'I')
    .where('booking_date', '=', day)
    .orderBy('id')
    .execute();
}

describe('intraday reconciliation (simulator over mTLS)', () => {
  const DAY = '2026-03-04';
  let api: TestApi;
  let env: SimBank;
  let account: SimAccountRow;
  let key: string;

  beforeAll(async () => {
    api = await createTestApi();
    env = await startSimBank(api.t.db, {
      today: DAY,
      historyDays: 20,
      txPerDay: 16,
      accounts: [{ currency: 'USD' }],
      quirks: QUIRKS,
      seed: 'intraday-reconcile',
    });
    account = env.accounts[0]!;
    key = await api.key('viewer');
  });
  afterAll(async () => {
    await env.stop();
    await api.close();
  });

  async function liveIdsFromApi(): Promise<string[]> {
    const res = await request(api.app)
      .get(
        `/v1/transactions?accountId=${account.id}&status=pending,posted&bookingDateFrom=${DAY}&bookingDateTo=${DAY}&limit=200`,
      )
      .set(bearer(key));
    expect(res.status).toBe(200);
    return (res.body as { data: { jpmTransactionId: string }[] }).data.map((t) => t.jpmTransactionId).sort();
  }

  /**
   * The change feed's events about `ids` written after `afterId`, as the feed stores them (each in
   * the transaction that changed the row; GET /v1/changes serves them in commit order once every
   * older transaction on the server has ended, which the read API's own tests cover).
   */
  async function eventsAbout(afterId: string, ids: readonly string[]) {
    return env.deps.db
      .selectFrom('change_events')
      .select(['kind', 'entity_id'])
      .where('id', '>', afterId)
      .where('entity_id', 'in', [...ids])
      .orderBy('id')
      .execute();
  }

  async function lastEventId(): Promise<string> {
    const r = await env.deps.db
      .selectFrom('change_events')
      .select((eb) => eb.fn.max('id').as('id'))
      .executeTakeFirst();
    return String(r?.id ?? 0);
  }

  it('a withdrawn intraday item leaves the live set after the next intraday sync: removed, with a decision and a removed event', async () => {
    env.setToday(DAY, 0.9);
    await env.sync(account.id, { mode: 'intraday', runId: await newRun(env, account.id, 'intraday') });
    const sinceEvent = await lastEventId();
    const before = await intradayRows(env, account.id, DAY);
    expect(before.length).toBeGreaterThan(4);
    expect(before.every((r) => r.status === 'pending')).toBe(true);

    // The bank withdraws the later items of the day: its snapshot shrinks.
    env.setToday(DAY, 0.4);
    const shown = await bankIntradayIds(env, account);
    expect(shown.size).toBeGreaterThan(0);
    expect(shown.size).toBeLessThan(before.length);
    const runId = await newRun(env, account.id, 'intraday');
    const counts = await env.sync(account.id, { mode: 'intraday', runId });

    const after = await intradayRows(env, account.id, DAY);
    expect(after.map((r) => r.id)).toEqual(before.map((r) => r.id));
    const withdrawn = after.filter((r) => !shown.has(r.jpm_transaction_id));
    expect(withdrawn.length).toBe(before.length - shown.size);
    expect(withdrawn.every((r) => r.status === 'removed')).toBe(true);
    expect(after.filter((r) => shown.has(r.jpm_transaction_id)).every((r) => r.status === 'pending')).toBe(true);
    expect(counts.removed).toBe(withdrawn.length);
    const run = await getSyncRun(env.deps.db, runId);
    expect(run).toMatchObject({ removed: withdrawn.length, bank_business_day: DAY, window_from: DAY, window_to: DAY });

    const decisions = await env.deps.db
      .selectFrom('transaction_decisions')
      .select(['transaction_id', 'decision', 'rule', 'evidence', 'sync_run_id'])
      .where(
        'transaction_id',
        'in',
        withdrawn.map((r) => r.id),
      )
      .execute();
    expect(decisions).toHaveLength(withdrawn.length);
    for (const d of decisions) {
      expect(d).toMatchObject({ decision: 'removed', rule: 'withdrawn_intraday', sync_run_id: runId });
      expect(d.evidence).toMatchObject({
        bookingDate: DAY,
        walk: { runId, itemsShown: shown.size, totalRecords: shown.size, businessDaySource: 'current_day_balance' },
      });
    }

    // The read API's live set is exactly the bank's snapshot; the feed says `removed` for each withdrawn item.
    expect(await liveIdsFromApi()).toEqual([...shown].sort());
    const events = await eventsAbout(
      sinceEvent,
      after.map((r) => r.id),
    );
    expect(events.map((e) => [e.kind, e.entity_id]).sort()).toEqual(withdrawn.map((r) => ['removed', r.id]).sort());
    const one = await request(api.app).get(`/v1/transactions/${withdrawn[0]!.id}`).set(bearer(key));
    expect(one.status).toBe(200);
    expect(one.body).toMatchObject({
      status: 'removed',
      decisions: [expect.objectContaining({ decision: 'removed', rule: 'withdrawn_intraday' })],
    });

    // Syncing the same snapshot again changes nothing.
    expect((await env.sync(account.id, { mode: 'intraday' })).removed).toBe(0);
  });

  it('an item that comes back is restored in the same row (restored decision, modified event), never duplicated', async () => {
    const sinceEvent = await lastEventId();
    const before = await intradayRows(env, account.id, DAY);
    const removed = before.filter((r) => r.status === 'removed');
    expect(removed.length).toBeGreaterThan(0);
    env.setToday(DAY, 0.9);
    const shown = await bankIntradayIds(env, account);
    const runId = await newRun(env, account.id, 'intraday');
    const counts = await env.sync(account.id, { mode: 'intraday', runId });

    const after = await intradayRows(env, account.id, DAY);
    expect(after.map((r) => r.id)).toEqual(before.map((r) => r.id));
    expect(after.every((r) => r.status === 'pending')).toBe(true);
    expect(after.map((r) => r.jpm_transaction_id).sort()).toEqual([...shown].sort());
    expect(counts).toMatchObject({ removed: 0, inserted: 0 });
    const decisions = await env.deps.db
      .selectFrom('transaction_decisions')
      .select(['transaction_id', 'decision', 'rule'])
      .where('sync_run_id', '=', runId)
      .execute();
    expect(decisions.map((d) => d.transaction_id).sort()).toEqual(removed.map((r) => r.id).sort());
    expect(decisions.every((d) => d.decision === 'restored' && d.rule === 'shown_again_intraday')).toBe(true);
    const events = await eventsAbout(
      sinceEvent,
      after.map((r) => r.id),
    );
    expect(events.map((e) => [e.kind, e.entity_id]).sort()).toEqual(removed.map((r) => ['modified', r.id]).sort());
    expect(await liveIdsFromApi()).toEqual([...shown].sort());
  });

  it('a failed walk or a walk short of its records removes nothing; the next complete walk does', async () => {
    env.setToday(DAY, 0.4);
    const shown = await bankIntradayIds(env, account);
    const pendingBefore = (await intradayRows(env, account.id, DAY)).filter((r) => r.status === 'pending').length;
    expect(pendingBefore).toBeGreaterThan(shown.size);

    env.sim.injectFaults([{ kind: 'server-error', path: '/tsapi/v3/transactions', count: 1 }]);
    await expect(env.sync(account.id, { mode: 'intraday' })).rejects.toThrow();
    expect((await intradayRows(env, account.id, DAY)).filter((r) => r.status === 'pending')).toHaveLength(
      pendingBefore,
    );

    // Every page answered, but with half of its records: the walk cannot prove anything absent. The
    // client walks again (within its restart budget) and then fails retryably, never succeeding short.
    env.sim.injectFaults([{ kind: 'short-page', path: '/tsapi/v3/transactions', count: 6 }]);
    await expect(env.sync(account.id, { mode: 'intraday' })).rejects.toMatchObject({
      code: 'jpm_unstable_pages',
      retryable: true,
    });
    expect((await intradayRows(env, account.id, DAY)).filter((r) => r.status === 'pending')).toHaveLength(
      pendingBefore,
    );
    env.sim.clearFaults();

    const counts = await env.sync(account.id, { mode: 'intraday' });
    expect(counts.removed).toBe(pendingBefore - shown.size);
    const rows = await intradayRows(env, account.id, DAY);
    expect(
      rows
        .filter((r) => r.status === 'pending')
        .map((r) => r.jpm_transaction_id)
        .sort(),
    ).toEqual([...shown].sort());
  });

  it('concurrent intraday syncs of one account decide each withdrawal and each return exactly once', async () => {
    env.setToday(DAY, 0.9);
    const back = await Promise.all([1, 2, 3].map(() => env.sync(account.id, { mode: 'intraday' })));
    const rows = await intradayRows(env, account.id, DAY);
    expect(rows.every((r) => r.status === 'pending')).toBe(true);
    const restoredNow = back.reduce((n, c) => n + c.updated, 0);
    expect(restoredNow).toBeGreaterThan(0);

    env.setToday(DAY, 0.4);
    const shown = await bankIntradayIds(env, account);
    const gone = await Promise.all([1, 2, 3].map(() => env.sync(account.id, { mode: 'intraday' })));
    expect(gone.reduce((n, c) => n + c.removed, 0)).toBe(rows.length - shown.size);
    const decided = await env.deps.db
      .selectFrom('transaction_decisions')
      .select(['transaction_id', 'decision'])
      .where('account_id', '=', account.id)
      .orderBy('id')
      .execute();
    // Per row, decisions alternate removed / restored: never the same decision twice in a row.
    const byRow = new Map<string, string[]>();
    for (const d of decided) {
      byRow.set(d.transaction_id, [...(byRow.get(d.transaction_id) ?? []), d.decision]);
    }
    for (const seq of byRow.values()) {
      expect(seq.every((d, i) => d === (i % 2 === 0 ? 'removed' : 'restored'))).toBe(true);
    }
    expect(
      (await intradayRows(env, account.id, DAY))
        .filter((r) => r.status === 'pending')
        .map((r) => r.jpm_transaction_id)
        .sort(),
    ).toEqual([...shown].sort());
  });
});

describe('intraday reconciliation when the pages shift under the walk (simulator over mTLS)', () => {
  const DAY = '2026-03-04';
  let t: TestDb;
  let env: SimBank;
  let account: SimAccountRow;

  beforeAll(async () => {
    t = await createTestDb();
    // Small pages and a snapshot that grows with every page request: walks restart.
    env = await startSimBank(t.db, {
      today: DAY,
      historyDays: 10,
      txPerDay: 20,
      accounts: [{ currency: 'USD' }],
      quirks: { ...QUIRKS, shiftingPages: true },
      seed: 'intraday-shift',
      defaultPageSize: 4,
    });
    account = env.accounts[0]!;
  });
  afterAll(async () => {
    await env.stop();
    await t.drop();
  });

  it("walks cut short by a restart remove nothing; the complete walk that follows leaves exactly the bank's snapshot", async () => {
    env.setToday(DAY, 1);
    await env.sync(account.id, { mode: 'intraday' });
    const all = await intradayRows(env, account.id, DAY);
    expect(all.length).toBeGreaterThan(12);

    env.setToday(DAY, 0.3);
    const pageCalls = () => env.sim.stats().byPath['/tsapi/v3/transactions'] ?? 0;
    const callsBefore = pageCalls();
    const counts = await env.sync(account.id, { mode: 'intraday' });
    const calls = pageCalls() - callsBefore;
    // The snapshot grew while the walk ran; the bank's view now is the one the last walk saw.
    const shown = await bankIntradayIds(env, account);
    const rows = await intradayRows(env, account.id, DAY);
    expect(rows.map((r) => r.id)).toEqual(all.map((r) => r.id));
    expect(
      rows
        .filter((r) => r.status === 'pending')
        .map((r) => r.jpm_transaction_id)
        .sort(),
    ).toEqual([...shown].sort());
    expect(counts.removed).toBe(all.length - shown.size);
    // The removal's evidence is the complete walk: as many items as that walk's totalRecords.
    const d = await env.deps.db
      .selectFrom('transaction_decisions')
      .select(['evidence'])
      .where('account_id', '=', account.id)
      .where('rule', '=', 'withdrawn_intraday')
      .executeTakeFirstOrThrow();
    expect(d.evidence).toMatchObject({ walk: { itemsShown: shown.size, totalRecords: shown.size } });
    const totalPages = (d.evidence as { walk: { totalPages: number } }).walk.totalPages;
    expect(totalPages).toBeGreaterThan(1);
    // More page requests than the complete walk's pages: earlier walks were restarted (and removed nothing).
    expect(calls).toBeGreaterThan(totalPages);
  });
});

describe("intraday reconciliation through a day of the simulator's withdrawals (simulator over mTLS)", () => {
  let t: TestDb;
  let env: SimBank;

  beforeAll(async () => {
    t = await createTestDb();
    env = await startSimBank(t.db, {
      today: '2026-03-02',
      historyDays: 10,
      txPerDay: 30,
      accounts: [{ currency: 'USD' }, { currency: 'JPY' }],
      quirks: { ...QUIRKS, withdrawals: true },
      seed: 'intraday-withdrawals',
    });
  });
  afterAll(async () => {
    await env.stop();
    await t.drop();
  });

  it("after every intraday sync the live intraday rows are exactly the bank's snapshot, one row per item ever shown", async () => {
    // A business day on which some item is withdrawn for good and some comes back.
    const day = ['2026-03-02', '2026-03-03', '2026-03-04', '2026-03-05', '2026-03-06'].find((d) => {
      const marks = env.sim.accounts.flatMap((a) => env.sim.ledger.day(a, d)?.items.flatMap((i) => i.marks) ?? []);
      return marks.includes('withdrawn') && marks.includes('withdrawn-returned');
    });
    expect(day).toBeDefined();
    const everShown = new Map<string, Set<string>>(env.accounts.map((a) => [a.id, new Set()]));
    // Fine steps, so an item that leaves and comes back is seen gone at some sync in between.
    for (let step = 1; step <= 40; step++) {
      env.setToday(day!, step / 40);
      for (const account of env.accounts) {
        await env.sync(account.id, { mode: 'intraday' });
        const shown = await bankIntradayIds(env, account);
        for (const id of shown) {
          everShown.get(account.id)!.add(id);
        }
        const rows = await intradayRows(env, account.id, day!);
        expect(
          rows
            .filter((r) => r.status === 'pending')
            .map((r) => r.jpm_transaction_id)
            .sort(),
        ).toEqual([...shown].sort());
        expect(rows.map((r) => r.jpm_transaction_id).sort()).toEqual([...everShown.get(account.id)!].sort());
      }
    }
    const decisions = await env.deps.db.selectFrom('transaction_decisions').select(['decision', 'rule']).execute();
    expect(decisions.some((d) => d.rule === 'withdrawn_intraday')).toBe(true);
    expect(decisions.some((d) => d.decision === 'restored')).toBe(true);
  });
});

describe("the bank's business calendar (simulator over mTLS)", () => {
  // Thursday 2026-03-05; Tuesday 2026-03-03 is a bank holiday.
  const TODAY = '2026-03-05';
  const HOLIDAY = '2026-03-03';
  let api: TestApi;
  let env: SimBank;
  let account: SimAccountRow;

  beforeAll(async () => {
    api = await createTestApi();
    env = await startSimBank(api.t.db, {
      today: TODAY,
      historyDays: 20,
      txPerDay: 8,
      accounts: [{ currency: 'USD' }],
      quirks: QUIRKS,
      seed: 'bank-calendar',
      holidays: [HOLIDAY],
    });
    account = env.accounts[0]!;
  });
  afterAll(async () => {
    await env.stop();
    await api.close();
  });

  async function fetches() {
    return env.deps.db
      .selectFrom('bank_day_fetches')
      .select(['booking_date', 'state', 'record_count'])
      .where('account_id', '=', account.id)
      .orderBy('booking_date')
      .execute();
  }

  it('a holiday inside the look-back window is recorded as no business day: the run neither fails nor succeeds with nothing', async () => {
    env.setToday(TODAY, 0.5);
    const runId = await newRun(env, account.id, 'prior_day');
    const counts = await env.sync(account.id, { mode: 'prior_day', runId });
    expect(counts.inserted).toBeGreaterThan(0);
    // PRIOR_DAY is Wednesday the 4th; look-back 5 days: Friday 27th .. Wednesday 4th.
    const days = await fetches();
    expect(days.map((d) => [d.booking_date, d.state])).toEqual([
      ['2026-02-27', 'fetched'],
      ['2026-02-28', 'no_business_day'],
      ['2026-03-01', 'no_business_day'],
      ['2026-03-02', 'fetched'],
      [HOLIDAY, 'no_business_day'],
      ['2026-03-04', 'fetched'],
    ]);
    expect(days.filter((d) => d.state === 'fetched').every((d) => d.record_count > 0)).toBe(true);
    const run = await getSyncRun(env.deps.db, runId);
    expect(run).toMatchObject({ bank_business_day: '2026-03-04', window_from: '2026-02-27', window_to: '2026-03-04' });
    // Weekends are recorded but expected; the weekday holiday is what the run tells a person.
    expect(run?.warnings).toEqual([expect.objectContaining({ code: 'no_business_day', dates: [HOLIDAY] })]);

    // Validation owes no proof for the holiday, and coverage names it as the bank's holiday.
    expect(await daysOwed(env.deps.db, account.id, '2026-02-27', '2026-03-04')).toEqual([
      '2026-02-27',
      '2026-03-02',
      '2026-03-04',
    ]);
    const cov = await coverage(
      env.deps.db,
      env.tenancy.integrationId,
      [account.id],
      '2026-02-27',
      '2026-03-04',
      env.deps.now(),
      26,
    );
    expect(cov.bankHolidays).toEqual([{ accountId: account.id, day: HOLIDAY }]);
    expect(cov.daysFetchedNothing).toEqual([]);
  });

  it('on the holiday itself the intraday run says the bank has no business day, and removes nothing', async () => {
    env.setToday(HOLIDAY, 0.5);
    const runId = await newRun(env, account.id, 'intraday');
    const counts = await env.sync(account.id, { mode: 'intraday', runId });
    expect(counts).toMatchObject({ inserted: 0, removed: 0 });
    const run = await getSyncRun(env.deps.db, runId);
    expect(run?.bank_business_day).toBeNull();
    expect(run?.warnings).toEqual([expect.objectContaining({ code: 'no_current_business_day' })]);
    // The day after the holiday, PRIOR_DAY is the Monday before it.
    env.setToday('2026-03-04', 0.5);
    const prior = await newRun(env, account.id, 'prior_day');
    await env.sync(account.id, { mode: 'prior_day', runId: prior });
    expect(await getSyncRun(env.deps.db, prior)).toMatchObject({
      bank_business_day: '2026-03-02',
      window_to: '2026-03-02',
    });
  });

  it("follows the bank's day when our clock is a day ahead of it (another zone, clock skew)", async () => {
    // The bank is on Thursday the 5th; our clock already says Friday the 6th.
    env.setToday(TODAY, 0.6);
    const realNow = env.deps.now.bind(env.deps);
    env.deps.now = () => new Date('2026-03-06T15:00:00Z');
    try {
      const prior = await newRun(env, account.id, 'prior_day');
      await env.sync(account.id, { mode: 'prior_day', runId: prior });
      // Its prior business day is Wednesday the 4th, not "yesterday" (the 5th, which is still open).
      expect(await getSyncRun(env.deps.db, prior)).toMatchObject({
        bank_business_day: '2026-03-04',
        window_to: '2026-03-04',
      });
      expect((await fetches()).map((d) => d.booking_date)).not.toContain(TODAY);

      // A range asked up to our "yesterday" (the bank's current day) clips before the bank's day.
      const range = await env.sync(account.id, { mode: 'range', from: '2026-03-04', to: '2026-03-05' });
      expect(range.inserted).toBe(0);
      expect((await fetches()).map((d) => d.booking_date)).not.toContain(TODAY);
      const posted = await env.deps.db
        .selectFrom('transactions')
        .select('id')
        .where('account_id', '=', account.id)
        .where('booking_date', '=', TODAY)
        .where('post_code', '=', 'P')
        .execute();
      expect(posted).toHaveLength(0);

      // Intraday reconciles the bank's current day, the 5th, not our clock's.
      const intraday = await newRun(env, account.id, 'intraday');
      await env.sync(account.id, { mode: 'intraday', runId: intraday });
      expect(await getSyncRun(env.deps.db, intraday)).toMatchObject({ bank_business_day: TODAY, window_from: TODAY });
      const account_ = await env.deps.db
        .selectFrom('bank_accounts')
        .select(['bank_business_day', 'bank_prior_business_day'])
        .where('id', '=', account.id)
        .executeTakeFirstOrThrow();
      expect(account_).toEqual({ bank_business_day: TODAY, bank_prior_business_day: '2026-03-04' });
    } finally {
      env.deps.now = realNow;
    }
  });

  it("follows the bank's day when our clock is a day behind it", async () => {
    // The bank is already on Friday the 6th; our clock still says Thursday the 5th.
    env.setToday('2026-03-06', 0.2);
    const realNow = env.deps.now.bind(env.deps);
    env.deps.now = () => new Date('2026-03-05T15:00:00Z');
    try {
      const prior = await newRun(env, account.id, 'prior_day');
      await env.sync(account.id, { mode: 'prior_day', runId: prior });
      // The clock would have stopped at the 4th; the bank's prior business day is the 5th.
      expect(await getSyncRun(env.deps.db, prior)).toMatchObject({ bank_business_day: TODAY, window_to: TODAY });
      expect(await fetches()).toContainEqual(expect.objectContaining({ booking_date: TODAY, state: 'fetched' }));
    } finally {
      env.deps.now = realNow;
    }
  });

  it('on a weekend a range reaching today still fetches the Friday, even after a failed prior-day run', async () => {
    const FRIDAY = '2026-03-06';
    const calendarOf = () =>
      env.deps.db
        .selectFrom('bank_accounts')
        .select(['bank_business_day', 'bank_calendar_at'])
        .where('id', '=', account.id)
        .executeTakeFirstOrThrow();
    const realNow = env.deps.now.bind(env.deps);
    try {
      // Friday afternoon: the intraday run hears the bank's current business day.
      env.setToday(FRIDAY, 0.6);
      env.deps.now = () => new Date('2026-03-06T20:00:00Z');
      await env.sync(account.id, { mode: 'intraday', runId: await newRun(env, account.id, 'intraday') });
      const heard = await calendarOf();
      expect(heard.bank_business_day).toBe(FRIDAY);

      // Saturday: the prior-day run learns PRIOR_DAY (Friday), then the bank refuses the transactions.
      env.setToday('2026-03-07', 0.3);
      env.deps.now = () => new Date('2026-03-07T15:00:00Z');
      env.sim.injectFaults([{ kind: 'not-entitled', count: 1, path: '/tsapi/v3/transactions' }]);
      await expect(
        env.sync(account.id, { mode: 'prior_day', runId: await newRun(env, account.id, 'prior_day') }),
      ).rejects.toThrow(/not entitled/i);
      env.sim.clearFaults();
      // A PRIOR_DAY answer does not restart the estimate of the current business day: Friday was heard on Friday.
      expect(await calendarOf()).toEqual(heard);
      expect((await fetches()).find((d) => d.booking_date === FRIDAY)).toBeUndefined();

      // Even when what we heard is stale (Friday, heard on Saturday by a clock running ahead), a range
      // up to Sunday asks the closed bank for its PRIOR_DAY and fetches Friday's final data.
      await env.deps.db
        .updateTable('bank_accounts')
        .set({ bank_calendar_at: new Date('2026-03-07T15:00:00Z') })
        .where('id', '=', account.id)
        .execute();
      await env.sync(account.id, { mode: 'range', from: '2026-03-05', to: '2026-03-08' });
      expect(await fetches()).toContainEqual(expect.objectContaining({ booking_date: FRIDAY, state: 'fetched' }));
      const friday = await env.deps.db
        .selectFrom('transactions')
        .select(['status'])
        .where('account_id', '=', account.id)
        .where('booking_date', '=', FRIDAY)
        .where('status', 'in', ['pending', 'posted'])
        .execute();
      expect(friday.length).toBeGreaterThan(0);
      expect(friday.every((r) => r.status === 'posted')).toBe(true);
    } finally {
      env.sim.clearFaults();
      env.deps.now = realNow;
    }
  });
});

/** The simulator's answers over mTLS, except that transactions booked on `date` never arrive (balances do). */
function hidingDay(bank: BankClient, date: IsoDate): BankClient {
  return {
    getBalances: (q) => bank.getBalances(q),
    async *transactionPages(q) {
      for await (const page of bank.transactionPages(q)) {
        const records = page.records.filter((r) => r.asOfDate !== date);
        yield { ...page, records, totalRecords: page.totalRecords - (page.records.length - records.length) };
      }
    },
  };
}

describe('a prior day that fetched nothing on an account that normally has activity', () => {
  const TODAY = '2026-03-10';
  const PRIOR = '2026-03-09';
  let api: TestApi;
  let env: SimBank;
  let account: SimAccountRow;

  beforeAll(async () => {
    api = await createTestApi();
    env = await startSimBank(api.t.db, {
      today: TODAY,
      historyDays: 30,
      txPerDay: 8,
      accounts: [{ currency: 'USD' }],
      quirks: QUIRKS,
      seed: 'fetched-nothing',
    });
    account = env.accounts[0]!;
    env.setToday(TODAY, 0.5);
    for (const [from, to] of [
      ['2026-02-23', '2026-02-27'],
      ['2026-02-28', '2026-03-04'],
      ['2026-03-05', '2026-03-06'],
    ]) {
      await env.sync(account.id, { mode: 'range', from: from!, to: to! });
    }
  });
  afterAll(async () => {
    await env.stop();
    await api.close();
  });

  it('is flagged in the run and in coverage, not reported as a plain success; a later fetch with data clears it', async () => {
    const runId = await newRun(env, account.id, 'prior_day');
    await syncAccountWindow(
      { ...env.deps, clientFor: () => Promise.resolve(hidingDay(env.bank, PRIOR)) },
      {
        runId,
        accountId: account.id,
        mode: 'prior_day',
        kinds: ['transactions', 'balances'],
      },
    );
    const run = await getSyncRun(env.deps.db, runId);
    expect(run?.bank_business_day).toBe(PRIOR);
    expect(run?.warnings).toContainEqual(expect.objectContaining({ code: 'fetched_nothing', dates: [PRIOR] }));
    const row = await env.deps.db
      .selectFrom('bank_day_fetches')
      .select(['state', 'record_count'])
      .where('account_id', '=', account.id)
      .where('booking_date', '=', PRIOR)
      .executeTakeFirstOrThrow();
    expect(row).toEqual({ state: 'unexpectedly_empty', record_count: 0 });
    const cov = await coverage(
      env.deps.db,
      env.tenancy.integrationId,
      [account.id],
      '2026-02-23',
      PRIOR,
      env.deps.now(),
      26,
    );
    expect(cov.daysFetchedNothing).toEqual([{ accountId: account.id, day: PRIOR, syncRunId: runId }]);

    // The bank's data arrives on the next fetch: the day is an ordinary fetched day again.
    const again = await newRun(env, account.id, 'prior_day');
    await env.sync(account.id, { mode: 'prior_day', runId: again });
    expect((await getSyncRun(env.deps.db, again))?.warnings).not.toContainEqual(
      expect.objectContaining({ code: 'fetched_nothing' }),
    );
    const after = await coverage(
      env.deps.db,
      env.tenancy.integrationId,
      [account.id],
      '2026-02-23',
      PRIOR,
      env.deps.now(),
      26,
    );
    expect(after.daysFetchedNothing).toEqual([]);
  });
});
