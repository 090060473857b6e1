import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pauseAccount, resumeAccount } from '../../src/accounts/index.ts';
import {
  createQueues,
  reconcileSchedules,
  scheduleId,
  type Queues,
  type ReconcileScope,
} from '../../src/scheduler/index.ts';
import { restoreLostSchedules } from '../../src/scheduler/recovery.ts';
import { reconcileDeferred } from '../../src/scheduler/schedules.ts';
import { uuidv7 } from '../../src/shared/ids.ts';
import { createLogger } from '../../src/shared/logger.ts';
import { getAccount } from '../../src/storage/accounts.repo.ts';
import { createAccount, createTenancy } from '../factories/tenancy.ts';
import { createTestDb, testQueuePrefix, type TestDb } from '../helpers/db.ts';
import { REDIS_URL } from '../helpers/env.ts';
import { captureLogLines } from '../helpers/log-capture.ts';

/**
 * Reconciles of the same account run in different worker slots and processes at once: the one a pause asked for
 * may still be between reading the database and changing Redis when the resume and its own reconcile happen.
 * Whatever the interleaving, the reconcile that changes Redis last must apply the account's current state.
 */
const logLines = captureLogLines('info');
let t: TestDb;
let queues: Queues;
const logger = createLogger('scheduler');

beforeAll(async () => {
  t = await createTestDb();
  queues = createQueues({ redisUrl: REDIS_URL, prefix: testQueuePrefix() });
});

afterAll(async () => {
  await queues?.close();
  await t?.drop();
});

/** Queues whose `sync` queue holds the reconcile at its first Redis read until the test lets it go. */
function heldAtRedis(): { queues: Queues; reached: Promise<void>; release: () => void } {
  let release: () => void = () => undefined;
  const gate = new Promise<void>((r) => (release = r));
  let reached: () => void = () => undefined;
  const atRedis = new Promise<void>((r) => (reached = r));
  const held: Queues = {
    ...queues,
    queue: (name) => {
      const q = queues.queue(name);
      return new Proxy(q, {
        get(target, prop, receiver) {
          if (prop === 'getJobSchedulers' && name === 'sync') {
            return async (start?: number, end?: number) => {
              reached();
              await gate;
              return target.getJobSchedulers(start, end);
            };
          }
          const value: unknown = Reflect.get(target, prop, receiver);
          return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
        },
      });
    },
  };
  return { queues: held, reached: atRedis, release };
}

/** Resolves once `work` has ended or is waiting for a lock in the test's database (it cannot end before then). */
async function endedOrBlocked(work: Promise<unknown>): Promise<void> {
  let ended = false;
  work.then(
    () => (ended = true),
    () => (ended = true),
  );
  while (!ended) {
    const { rows } = await sql<{ n: string }>`
      select count(*) as n from pg_locks
      where not granted and database = (select oid from pg_database where datname = current_database())`.execute(t.db);
    if (Number(rows[0]?.n) > 0) {
      return;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function schedulersOf(accountId: string): Promise<string[]> {
  const keys = new Set((await queues.queue('sync').getJobSchedulers(0, -1)).map((s) => s.key));
  return [scheduleId(accountId, 'intraday'), scheduleId(accountId, 'prior_day')].filter((id) => keys.has(id));
}

/**
 * The account is paused; a reconcile over `staleScope` reads it paused and is held before Redis. The account is
 * resumed and the resume's own account reconcile runs; then the held one goes on.
 */
async function pauseThenResumeWhileStaleReconcileIsHeld(
  staleScope: (ids: { accountId: string; integrationId: string }) => ReconcileScope,
) {
  const tenancy = await createTenancy(t.db);
  await t.db.updateTable('integrations').set({ stage: 'live' }).where('id', '=', tenancy.integrationId).execute();
  const { id } = await createAccount(t.db, tenancy);
  await reconcileSchedules({ db: t.db, queues, logger }, { accountId: id });
  expect(await schedulersOf(id)).toHaveLength(2);

  await pauseAccount({ db: t.db, queues }, (await getAccount(t.db, id))!);
  const held = heldAtRedis();
  const stale = reconcileSchedules(
    { db: t.db, queues: held.queues, logger },
    staleScope({ accountId: id, integrationId: tenancy.integrationId }),
  );
  await held.reached;
  await resumeAccount({ db: t.db, queues }, (await getAccount(t.db, id))!);
  const fresh = reconcileSchedules({ db: t.db, queues, logger }, { accountId: id });
  await endedOrBlocked(fresh);
  held.release();
  await Promise.all([stale, fresh]);
  expect((await getAccount(t.db, id))?.status).toBe('active');
  return schedulersOf(id);
}

describe('schedule reconciles racing', () => {
  it("pause then resume: the pause's account reconcile, held before Redis, does not leave the active account unscheduled", async () => {
    const left = await pauseThenResumeWhileStaleReconcileIsHeld(({ accountId }) => ({ accountId }));
    expect(left).toHaveLength(2);
  });

  it("an integration reconcile that read the account paused does not undo the resume's account reconcile", async () => {
    const left = await pauseThenResumeWhileStaleReconcileIsHeld(({ integrationId }) => ({ integrationId }));
    expect(left).toHaveLength(2);
  });

  it("a full reconcile that read the account paused does not undo the resume's account reconcile", async () => {
    const left = await pauseThenResumeWhileStaleReconcileIsHeld(() => ({}));
    expect(left).toHaveLength(2);
  });
});

/**
 * A reconcile that holds the schedules lock may freeze in the middle (Redis slow, the process paused). The others
 * must not wait for it and fail; what they were asked to apply is applied once it goes on, never older state after
 * newer.
 */
describe('a reconcile frozen while it holds the lock', () => {
  async function liveAccount() {
    const tenancy = await createTenancy(t.db);
    await t.db.updateTable('integrations').set({ stage: 'live' }).where('id', '=', tenancy.integrationId).execute();
    const { id } = await createAccount(t.db, tenancy);
    await reconcileSchedules({ db: t.db, queues, logger }, { accountId: id });
    expect(await schedulersOf(id)).toHaveLength(2);
    return { id, tenancy };
  }

  it("does not make an account's reconcile fail, and on resuming leaves the account's newer state applied", async () => {
    const { id } = await liveAccount();
    const held = heldAtRedis();
    // A full reconcile reads the account active, then freezes before its Redis changes.
    const frozen = reconcileSchedules({ db: t.db, queues: held.queues, logger });
    await held.reached;
    try {
      await pauseAccount({ db: t.db, queues }, (await getAccount(t.db, id))!);
      // The pause's own reconcile answers at once instead of waiting for the frozen one (and failing after 30 s).
      const other = await reconcileSchedules({ db: t.db, queues, logger }, { accountId: id });
      expect(other).toMatchObject({ deferred: true });
    } finally {
      held.release();
    }
    expect(await frozen).toMatchObject({ deferred: false });
    // The frozen one, gone on, did not leave the active schedules it had read: the pause is what Redis holds.
    expect(await schedulersOf(id)).toEqual([]);
    const applied = await t.db.selectFrom('bank_accounts').select('schedules_applied').where('id', '=', id).execute();
    expect(applied).toEqual([{ schedules_applied: 'none' }]);
  });

  it('a full reconcile asked for meanwhile is run once the frozen holder is done', async () => {
    const { tenancy } = await liveAccount();
    const unknown = scheduleId(uuidv7(), 'intraday');
    await queues.queue('sync').upsertJobScheduler(unknown, { pattern: '0 0 9 * * 1-5', tz: 'UTC' }, { name: 'x' });
    const held = heldAtRedis();
    const frozen = reconcileSchedules(
      { db: t.db, queues: held.queues, logger },
      { integrationId: tenancy.integrationId },
    );
    await held.reached;
    try {
      expect(await reconcileSchedules({ db: t.db, queues, logger })).toMatchObject({ deferred: true });
    } finally {
      held.release();
    }
    await frozen;
    // Only a full reconcile removes a scheduler of no account.
    expect(await queues.queue('sync').getJobScheduler(unknown)).toBeUndefined();
  });

  it('what was left to a holder that died is done by the recovery sweep', async () => {
    const { id, tenancy } = await liveAccount();
    const unknown = scheduleId(uuidv7(), 'prior_day');
    await queues.queue('sync').upsertJobScheduler(unknown, { pattern: '0 0 6 * * 2-6', tz: 'UTC' }, { name: 'x' });
    // A holder of the integration's reconcile lock (another process), which dies before it is done.
    const holder = new pg.Client({ connectionString: t.url });
    await holder.connect();
    try {
      await holder.query('begin');
      await holder.query(`select pg_advisory_xact_lock_shared(hashtextextended('schedules', 0))`);
      await holder.query('select pg_advisory_xact_lock(hashtextextended($1, 0))', [
        `schedules:${tenancy.integrationId}`,
      ]);
      await pauseAccount({ db: t.db, queues }, (await getAccount(t.db, id))!);
      expect(await reconcileSchedules({ db: t.db, queues, logger }, { accountId: id })).toMatchObject({
        deferred: true,
      });
      expect(await reconcileSchedules({ db: t.db, queues, logger })).toMatchObject({ deferred: true });
    } finally {
      await holder.end();
    }
    expect(await schedulersOf(id)).toHaveLength(2);

    await restoreLostSchedules({ db: t.db, queues, logger });
    expect(await schedulersOf(id)).toEqual([]);
    expect(await queues.queue('sync').getJobScheduler(unknown)).toBeUndefined();
  });

  it('a full reconcile left to the holder is still run by the recovery sweep when the drain that took it up dies', async () => {
    await liveAccount();
    // Every scheduler in place (the maintenance one too: the sweep then drains what is pending, no more).
    expect(await reconcileSchedules({ db: t.db, queues, logger })).toMatchObject({ deferred: false });
    const unknown = scheduleId(uuidv7(), 'intraday');
    await queues.queue('sync').upsertJobScheduler(unknown, { pattern: '0 0 9 * * 1-5', tz: 'UTC' }, { name: 'x' });
    // A full reconcile (e.g. a scheduler's startup) is turned away by a holder of the lock (another process), and
    // answers `deferred`: its work is left to the holder.
    const other = new pg.Client({ connectionString: t.url });
    await other.connect();
    try {
      await other.query('begin');
      await other.query(`select pg_advisory_xact_lock(hashtextextended('schedules', 0))`);
      expect(await reconcileSchedules({ db: t.db, queues, logger })).toMatchObject({ deferred: true });
    } finally {
      await other.end();
    }
    // A drain (a reconcile's after it committed, or a sweep) takes the full reconcile up, freezes before its Redis
    // changes, and its process dies: its database session ends, nothing of it runs again.
    const held = heldAtRedis();
    const drain = reconcileDeferred({ db: t.db, queues: held.queues, logger });
    drain.catch(() => undefined);
    await held.reached;
    try {
      const { rows } = await sql<{ pid: number }>`
        select pid from pg_locks where locktype = 'advisory' and granted and mode = 'ExclusiveLock'
          and database = (select oid from pg_database where datname = current_database())
          and objid::bigint = hashtextextended('schedules', 0) & 4294967295`.execute(t.db);
      expect(rows).toHaveLength(1);
      await sql`select pg_terminate_backend(${rows[0]!.pid})`.execute(t.db);
      // The next sweep runs what was left: only a full reconcile removes a scheduler of no account.
      await restoreLostSchedules({ db: t.db, queues, logger });
      expect(await queues.queue('sync').getJobScheduler(unknown)).toBeUndefined();
    } finally {
      held.release();
      await drain.catch(() => undefined);
    }
  });

  it('a drain that a frozen full reconcile turns away waits once, not once per integration', async () => {
    const accounts = [await liveAccount(), await liveAccount()];
    for (const { id } of accounts) {
      // Paused without their reconcile (a request lost): both integrations drift.
      await sql`update bank_accounts set status = 'paused' where id = ${id}`.execute(t.db);
    }
    const holder = new pg.Client({ connectionString: t.url });
    await holder.connect();
    try {
      await holder.query('begin');
      await holder.query(`select pg_advisory_xact_lock(hashtextextended('schedules', 0))`);
      const before = logLines.length;
      expect(await reconcileDeferred({ db: t.db, queues, logger })).toEqual([]);
      const deferrals = logLines
        .slice(before)
        .filter((l) => l.includes('job scheduler reconcile deferred to the reconcile holding the lock'));
      expect(deferrals).toHaveLength(1);
    } finally {
      await holder.end();
    }
    // The holder gone, the next drain (here the sweep's) reconciles both.
    await reconcileDeferred({ db: t.db, queues, logger });
    for (const { id } of accounts) {
      expect(await schedulersOf(id)).toEqual([]);
    }
  });
});
