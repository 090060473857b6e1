import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  cancelRun,
  enqueue,
  getRun,
  reconcileSchedules,
  requestScheduleReconcile,
  scheduleId,
  triggerSync,
  type RunningWorkers,
} from '../../src/scheduler/index.ts';
import { deterministicUuid } from '../../src/scheduler/runs.ts';
import { accountOffsetSeconds } from '../../src/scheduler/schedules.ts';
import { createLogger } from '../../src/shared/logger.ts';
import { toMinorUnits } from '../../src/shared/money.ts';
import { addDays, localMinuteOfDay } from '../../src/shared/time.ts';
import { createClientCredential, ensureDevPki } from '../../src/simulator/index.ts';
import type { BankClient } from '../../src/sync/bank-client.ts';
import { createAccount, createTenancy, type Tenancy } from '../factories/tenancy.ts';
import { recordingBank, startHarness, type BankCall, type Harness } from '../helpers/orchestration.ts';

/**
 * Orchestration against real Postgres, real Redis (own prefix) and the J.P. Morgan simulator over
 * mTLS: schedules following account state, a 60-day backfill split into windows, joins, 429 with
 * Retry-After, and permanent failures that stop instead of looping.
 */
const TODAY = '2025-03-12'; // a Wednesday
const log = createLogger('scheduler');

let h: Harness;
let worker: RunningWorkers;
let calls: BankCall[];
/** A second integration whose client presents a certificate from a foreign CA. */
let refused: Tenancy;
let refusedAccount: string;
let foreignCalls: BankCall[];
let foreignDir: string;

beforeAll(async () => {
  h = await startHarness({ today: TODAY, accounts: 4, quirks: { latePostings: false } });
  const good = recordingBank(h.bankWith());
  calls = good.calls;
  foreignDir = await mkdtemp(join(tmpdir(), 'orchestration-foreign-'));
  const issued = await createClientCredential(await ensureDevPki(foreignDir), { commonName: 'not-the-bank-ca' });
  const foreign = recordingBank(
    h.bankWith({ id: 'foreign-cert', certPem: issued.certPem, keyPem: issued.keyPem, caPem: h.sim.caCertPem }),
  );
  foreignCalls = foreign.calls;
  refused = await createTenancy(h.t.db, { baseUrl: h.sim.url });
  refusedAccount = (await createAccount(h.t.db, refused, { jpmAccountId: h.accounts[0]!.jpmAccountId })).id;
  const banks = new Map<string, BankClient>([
    [h.tenancy.integrationId, good.bank],
    [refused.integrationId, foreign.bank],
  ]);
  worker = h.startWorker((id) => banks.get(id)!);
});

afterAll(async () => {
  await worker.close();
  await h.stop();
  await rm(foreignDir, { recursive: true, force: true });
});

async function schedulerIds(queue: 'sync' | 'maintenance' = 'sync') {
  return (await h.queues.queue(queue).getJobSchedulers(0, -1)).map((s) => s.key).sort();
}

describe('schedules follow account and integration state', () => {
  afterAll(async () => {
    // Real ticks must not fire into the tests below at whatever time of day they run.
    for (const q of ['sync', 'maintenance'] as const) {
      for (const id of await schedulerIds(q)) {
        await h.queues.queue(q).removeJobScheduler(id);
      }
    }
  });

  it('reconcile creates an intraday and a prior-day scheduler per active account, in its time zone, at its own offset', async () => {
    const a = h.accounts[0]!;
    await h.t.db.updateTable('bank_accounts').set({ time_zone: 'Europe/London' }).where('id', '=', a.id).execute();
    await h.queues
      .queue('sync')
      .upsertJobScheduler(
        'legacy-cron',
        { pattern: '0 0 0 1 1 *' },
        { name: 'scheduled-sync', data: { accountId: a.id, mode: 'intraday' } },
      );
    const result = await reconcileSchedules({ db: h.t.db, queues: h.queues, logger: log });
    expect(result.removed).toBe(1); // the unknown id
    const expected = h.accounts.flatMap((x) => [scheduleId(x.id, 'intraday'), scheduleId(x.id, 'prior_day')]);
    // The refused integration's account is active too: it has schedules until a failure stops it.
    expected.push(scheduleId(refusedAccount, 'intraday'), scheduleId(refusedAccount, 'prior_day'));
    expect(await schedulerIds()).toEqual(expected.sort());
    expect(await schedulerIds('maintenance')).toEqual(['daily-maintenance']);

    const offset = accountOffsetSeconds(a.id);
    const intraday = await h.queues.queue('sync').getJobScheduler(scheduleId(a.id, 'intraday'));
    expect(intraday).toMatchObject({
      pattern: `${offset % 60} ${Math.floor(offset / 60)} 9,11,14,16 * * 1-5`,
      tz: 'Europe/London',
      name: 'scheduled-sync',
    });
    // The next tick falls at the account's offset within London's business day.
    const next = new Date(intraday!.next!);
    expect(localMinuteOfDay(next, 'Europe/London') % 60).toBe(Math.floor(offset / 60));
    expect([9, 11, 14, 16]).toContain(Math.floor(localMinuteOfDay(next, 'Europe/London') / 60));
    const prior = await h.queues.queue('sync').getJobScheduler(scheduleId(a.id, 'prior_day'));
    expect(prior).toMatchObject({
      pattern: `${offset % 60} ${Math.floor(offset / 60)} 6 * * 2-6`,
      tz: 'Europe/London',
    });

    // A second full reconcile changes nothing.
    expect(await reconcileSchedules({ db: h.t.db, queues: h.queues, logger: log })).toMatchObject({
      upserted: 0,
      removed: 0,
    });
  });

  it('runs per day, pausing, resuming and removing update only the scope reconciled', async () => {
    const [a, b, c] = [h.accounts[0]!, h.accounts[1]!, h.accounts[2]!];
    const deps = { db: h.t.db, queues: h.queues, logger: log };
    await h.t.db
      .updateTable('integrations')
      .set({ intraday_runs_per_day: 2 })
      .where('id', '=', h.tenancy.integrationId)
      .execute();
    await reconcileSchedules(deps, { integrationId: h.tenancy.integrationId });
    expect((await h.queues.queue('sync').getJobScheduler(scheduleId(a.id, 'intraday')))?.pattern).toMatch(
      / 10,15 \* \* 1-5$/,
    );

    await h.t.db.updateTable('bank_accounts').set({ status: 'paused' }).where('id', '=', b.id).execute();
    await reconcileSchedules(deps, { accountId: b.id });
    expect(await schedulerIds()).not.toContain(scheduleId(b.id, 'intraday'));
    expect(await schedulerIds()).not.toContain(scheduleId(b.id, 'prior_day'));
    expect(await schedulerIds()).toContain(scheduleId(a.id, 'intraday'));

    await h.t.db
      .updateTable('integrations')
      .set({ stage: 'paused' })
      .where('id', '=', h.tenancy.integrationId)
      .execute();
    await reconcileSchedules(deps, { integrationId: h.tenancy.integrationId });
    expect((await schedulerIds()).filter((id) => h.accounts.some((x) => id.includes(x.id)))).toEqual([]);
    // Another integration's schedules are outside that scope and stay.
    expect(await schedulerIds()).toContain(scheduleId(refusedAccount, 'intraday'));

    await h.t.db
      .updateTable('integrations')
      .set({ stage: 'live', intraday_runs_per_day: 4 })
      .where('id', '=', h.tenancy.integrationId)
      .execute();
    await h.t.db.updateTable('bank_accounts').set({ status: 'active' }).where('id', '=', b.id).execute();
    await h.t.db.updateTable('bank_accounts').set({ status: 'removed' }).where('id', '=', c.id).execute();
    await reconcileSchedules(deps, { integrationId: h.tenancy.integrationId });
    const ids = await schedulerIds();
    expect(ids).toContain(scheduleId(a.id, 'intraday'));
    expect(ids).toContain(scheduleId(b.id, 'prior_day'));
    expect(ids).not.toContain(scheduleId(c.id, 'intraday'));
    expect(ids).not.toContain(scheduleId(c.id, 'prior_day'));
    // From another process (the admin API), asking a worker to do it:
    await h.t.db.updateTable('bank_accounts').set({ status: 'active' }).where('id', '=', c.id).execute();
    await requestScheduleReconcile(h.queues, { accountId: c.id });
    await expect.poll(() => schedulerIds(), { timeout: 30_000 }).toContain(scheduleId(c.id, 'intraday'));
  });

  it('a schedule tick starts a run once, however often the tick is processed', async () => {
    const a = h.accounts[1]!;
    await enqueue(h.queues, 'scheduled-sync', { accountId: a.id, mode: 'intraday' }, { jobId: 'tick.1' });
    const runId = deterministicUuid('scheduled-sync:tick.1');
    await expect
      .poll(async () => (await getRun({ db: h.t.db }, runId).catch(() => undefined))?.status, { timeout: 30_000 })
      .toBe('succeeded');
    const again = await triggerSync(h.producer(), {
      accountId: a.id,
      request: { mode: 'intraday' },
      trigger: 'schedule',
      runId,
    });
    expect(again.runs).toEqual([{ runId, accountId: a.id, joined: true, status: 'succeeded' }]);
    const runs = await h.t.db
      .selectFrom('sync_runs')
      .select(['id'])
      .where('account_id', '=', a.id)
      .where('trigger', '=', 'schedule')
      .where('parent_run_id', 'is', null)
      .execute();
    expect(runs.map((r) => r.id)).toEqual([runId]);
  });
});

describe('backfill', () => {
  it("a 60-day backfill runs 12 transaction windows and 2 balance windows and stores exactly the bank's data", async () => {
    const a = h.accounts[0]!;
    const from = addDays(TODAY, -60);
    const to = addDays(TODAY, -1);
    const { runs } = await triggerSync(h.producer(), {
      accountId: a.id,
      request: { mode: 'range', from, to },
      trigger: 'backfill',
    });
    const run = await h.waitForRun(runs[0]!.runId);
    expect(run.status).toBe('succeeded');
    expect(run.progress).toEqual({ windowsTotal: 14, windowsDone: 14 });
    const windows = run.windows!;
    const tx = windows.filter((w) => w.kind === 'transactions');
    const bal = windows.filter((w) => w.kind === 'balances');
    expect(tx).toHaveLength(12);
    expect(bal).toHaveLength(2);
    expect(windows.every((w) => w.status === 'succeeded' && w.attempts === 1)).toBe(true);
    // Contiguous, no gap, no overlap, each within J.P. Morgan's limits.
    expect(tx.map((w) => [w.from, w.to])).toEqual(
      Array.from({ length: 12 }, (_, i) => [addDays(from, 5 * i), addDays(from, 5 * i + 4)]),
    );
    expect(bal.map((w) => [w.from, w.to])).toEqual([
      [from, addDays(from, 30)],
      [addDays(from, 31), to],
    ]);

    // What went to the bank: one call per window, each within J.P. Morgan's limits and the window.
    const mine = calls.filter((x) => x.jpmAccountId === a.jpmAccountId && x.start >= run.createdAt.getTime() - 1_000);
    expect(mine.filter((x) => x.what === 'transactions').map((x) => x.range)).toEqual(
      tx.map((w) => ({ from: w.from, to: w.to })),
    );
    // (Plus the CURRENT_DAY answers the windows ending near today ask for: a range ends before the bank's current business day.)
    expect(mine.filter((x) => x.what === 'balances' && x.range !== 'relative').map((x) => x.range)).toEqual(
      bal.map((w) => ({ from: w.from, to: w.to })),
    );

    const truth = h.sim.groundTruth().accounts.find((x) => x.accountId === a.jpmAccountId)!;
    const expected = truth.transactions.filter((x) => x.asOfDate >= from && x.asOfDate <= to);
    const stored = await h.t.db
      .selectFrom('transactions')
      .select(['jpm_transaction_id', 'amount_minor', 'direction', 'booking_date', 'status'])
      .where('account_id', '=', a.id)
      .where('booking_date', '>=', from)
      .where('booking_date', '<=', to)
      .execute();
    expect(expected.length).toBeGreaterThan(100);
    expect(stored.map((s) => s.jpm_transaction_id).sort()).toEqual(expected.map((x) => x.transactionId).sort());
    const byId = new Map(stored.map((s) => [s.jpm_transaction_id, s]));
    for (const x of expected) {
      const s = byId.get(x.transactionId)!;
      expect([s.booking_date, BigInt(s.amount_minor), s.direction, s.status]).toEqual([
        x.asOfDate,
        toMinorUnits(x.amount, a.decimalLocation),
        x.debitCreditCode === 'CREDIT' ? 'credit' : 'debit',
        'posted',
      ]);
    }
    const balances = await h.t.db
      .selectFrom('balances')
      .select(['as_of_date', 'ending_ledger_minor'])
      .where('account_id', '=', a.id)
      .where('kind', '=', 'final')
      .orderBy('as_of_date')
      .execute();
    const truthBalances = truth.balances.filter((b) => b.asOfDate >= from && b.asOfDate <= to);
    expect(balances.map((b) => [b.as_of_date, b.ending_ledger_minor])).toEqual(
      truthBalances.map((b) => [b.asOfDate, toMinorUnits(b.endingLedger, a.decimalLocation).toString()]),
    );
    // The parent's counts are the sum of its windows, and every row was inserted exactly once.
    expect(run.counts.inserted).toBe(stored.length);
    expect(run.counts.balances).toBe(balances.length);
  });

  it('a second trigger of the same request joins the unfinished run; a different request gets its own', async () => {
    const b = h.accounts[1]!;
    const request = { mode: 'range' as const, from: addDays(TODAY, -10), to: addDays(TODAY, -1) };
    const [one, two] = await Promise.all([
      triggerSync(h.producer(), { accountId: b.id, request, trigger: 'manual' }),
      triggerSync(h.producer(), { accountId: b.id, request, trigger: 'manual' }),
    ]);
    expect(one.runs[0]!.runId).toBe(two.runs[0]!.runId);
    expect([one.runs[0]!.joined, two.runs[0]!.joined].sort()).toEqual([false, true]);
    const other = await triggerSync(h.producer(), {
      accountId: b.id,
      request: { mode: 'prior_day' },
      trigger: 'manual',
    });
    expect(other.runs[0]!.runId).not.toBe(one.runs[0]!.runId);
    expect((await h.waitForRun(one.runs[0]!.runId)).status).toBe('succeeded');
    expect((await h.waitForRun(other.runs[0]!.runId)).status).toBe('succeeded');
  });
});

describe('triggers and cancellation', () => {
  it('a whole integration: one run per active account', async () => {
    const { runs } = await triggerSync(h.producer(), {
      integrationId: h.tenancy.integrationId,
      request: { mode: 'intraday' },
      trigger: 'manual',
    });
    expect(runs.map((r) => r.accountId).sort()).toEqual(h.accounts.map((a) => a.id).sort());
    for (const r of runs) {
      expect((await h.waitForRun(r.runId)).status).toBe('succeeded');
    }
  });

  it('cancelRun stops a run before its windows call the bank; a finished run cannot be cancelled', async () => {
    const b = h.accounts[1]!;
    const syncWorker = worker.workers.find((w) => w.name === 'sync')!;
    await syncWorker.pause();
    let runId: string;
    try {
      const { runs } = await triggerSync(h.producer(), {
        accountId: b.id,
        request: { mode: 'range', from: addDays(TODAY, -30), to: addDays(TODAY, -1) },
        trigger: 'manual',
      });
      runId = runs[0]!.runId;
      const cancelled = await cancelRun({ db: h.t.db, logger: log }, runId);
      expect(cancelled).toMatchObject({ status: 'cancelled', progress: { windowsTotal: 7, windowsDone: 7 } });
    } finally {
      await syncWorker.resume();
    }
    const since = Date.now();
    // The chain drains: every window job ends at once, the parent keeps the cancellation.
    await expect
      .poll(
        async () =>
          h.queues
            .queue('sync')
            .getJob(`sync-account.${runId}`)
            .then((j) => j?.getState()),
        { timeout: 30_000 },
      )
      .toBe('completed');
    const run = await getRun({ db: h.t.db }, runId, { windows: true });
    expect(run.status).toBe('cancelled');
    expect(run.windows!.every((w) => w.status === 'cancelled' && w.attempts === 0)).toBe(true);
    expect(calls.filter((x) => x.jpmAccountId === b.jpmAccountId && x.start >= since)).toEqual([]);
    await expect(cancelRun({ db: h.t.db, logger: log }, runId)).rejects.toMatchObject({ code: 'run_finished' });
  });
});

describe('retries and permanent failures', () => {
  it('429: the window is delayed at least Retry-After, then succeeds', async () => {
    const c = h.accounts[2]!;
    h.sim.injectFaults([
      { kind: 'rate-limit', path: '/tsapi/v3/transactions', accountId: c.jpmAccountId, count: 1, retryAfterSeconds: 2 },
    ]);
    try {
      const { runs } = await triggerSync(h.producer(), {
        accountId: c.id,
        request: { mode: 'intraday' },
        trigger: 'manual',
      });
      const run = await h.waitForRun(runs[0]!.runId);
      expect(run.status).toBe('succeeded');
      expect(run.windows!.map((w) => w.attempts)).toEqual([2]);
      const job = await h.queues
        .queue('sync')
        .getJob(`sync-window.${run.runId}.transactions+balances.intraday.intraday`);
      // BullMQ counts the successful attempt too: one failed (429) + one that completed.
      expect([job?.attemptsMade, job?.failedReason]).toEqual([2, expect.stringMatching(/429|rate/i)]);
      const mine = calls.filter(
        (x) =>
          x.jpmAccountId === c.jpmAccountId && x.what === 'transactions' && x.start >= run.createdAt.getTime() - 1_000,
      );
      const limited = mine.findIndex((x) => x.error === 'jpm_rate_limited');
      expect(limited).toBeGreaterThanOrEqual(0);
      const retry = mine[limited + 1]!;
      expect(retry.error).toBeUndefined();
      expect(retry.start - mine[limited]!.end).toBeGreaterThanOrEqual(2_000);
      const integration = await h.t.db
        .selectFrom('integrations')
        .select(['sync_status'])
        .where('id', '=', h.tenancy.integrationId)
        .executeTakeFirstOrThrow();
      expect(integration.sync_status).toBe('ok');
    } finally {
      h.sim.clearFaults();
    }
  });

  it('certificate refused: one attempt, the run fails, the integration is marked, the alert goes out once', async () => {
    const request = { mode: 'range' as const, from: addDays(TODAY, -10), to: addDays(TODAY, -1) };
    const { runs } = await triggerSync(h.producer(), { accountId: refusedAccount, request, trigger: 'manual' });
    const run = await h.waitForRun(runs[0]!.runId);
    expect(run.status).toBe('failed');
    expect(run.error?.code).toBe('jpm_certificate_refused');
    const [first, ...rest] = run.windows!;
    expect(first).toMatchObject({ status: 'failed', attempts: 1, error: { code: 'jpm_certificate_refused' } });
    expect(rest.map((w) => w.status)).toEqual(rest.map(() => 'cancelled'));
    const job = await h.queues
      .queue('sync')
      .getJob(`sync-window.${run.runId}.transactions.${first!.from!}.${first!.to!}`);
    expect(job?.attemptsMade).toBe(1);
    expect(await job?.getState()).toBe('failed');
    // The later windows never called the bank.
    expect(foreignCalls).toHaveLength(1);

    const integration = await h.t.db
      .selectFrom('integrations')
      .select(['sync_status', 'sync_status_reason'])
      .where('id', '=', refused.integrationId)
      .executeTakeFirstOrThrow();
    expect(integration.sync_status).toBe('failed');
    expect(integration.sync_status_reason).toMatch(/^jpm_certificate_refused: /);

    // Triggered again by hand: fails again at once, no second alert.
    const again = await triggerSync(h.producer(), {
      accountId: refusedAccount,
      request: { mode: 'intraday' },
      trigger: 'manual',
    });
    expect((await h.waitForRun(again.runs[0]!.runId)).status).toBe('failed');
    const events = await h.t.db
      .selectFrom('outbox_events')
      .select(['type', 'payload'])
      .where('integration_id', '=', refused.integrationId)
      .execute();
    expect(events.map((e) => e.type)).toEqual(['sync.integration_failed']);
    // A stopped integration loses its schedules at the next reconcile, and its ticks do nothing.
    await reconcileSchedules({ db: h.t.db, queues: h.queues, logger: log }, { integrationId: refused.integrationId });
    expect(await schedulerIds()).not.toContain(scheduleId(refusedAccount, 'intraday'));
  });

  it('not entitled: the account is marked failed once and stops, the integration stays ok', async () => {
    const d = h.accounts[3]!;
    h.sim.injectFaults([{ kind: 'not-entitled', accountId: d.jpmAccountId }]);
    try {
      const { runs } = await triggerSync(h.producer(), {
        accountId: d.id,
        request: { mode: 'prior_day' },
        trigger: 'manual',
      });
      const run = await h.waitForRun(runs[0]!.runId);
      expect(run).toMatchObject({ status: 'failed', error: { code: 'jpm_not_entitled' } });
      expect(run.windows!.map((w) => w.attempts)).toEqual([1]);
      const account = await h.t.db
        .selectFrom('bank_accounts')
        .select(['status', 'status_reason'])
        .where('id', '=', d.id)
        .executeTakeFirstOrThrow();
      expect(account.status).toBe('failed');
      expect(account.status_reason).toMatch(/^jpm_not_entitled: /);
      const events = await sql<{
        n: number;
      }>`select count(*)::int as n from outbox_events where type = 'sync.account_failed' and payload->>'accountId' = ${d.id}`.execute(
        h.t.db,
      );
      expect(events.rows[0]!.n).toBe(1);
      const integration = await h.t.db
        .selectFrom('integrations')
        .select(['sync_status'])
        .where('id', '=', h.tenancy.integrationId)
        .executeTakeFirstOrThrow();
      expect(integration.sync_status).toBe('ok');
      // A failed account cannot be synced until someone reactivates it.
      await expect(
        triggerSync(h.producer(), { accountId: d.id, request: { mode: 'intraday' }, trigger: 'manual' }),
      ).rejects.toMatchObject({ code: 'account_not_active' });
    } finally {
      h.sim.clearFaults();
    }
  });
});
