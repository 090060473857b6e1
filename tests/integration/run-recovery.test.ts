import { Kysely, PostgresDialect, sql, type CompiledQuery } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { triggerSync } from '../../src/scheduler/index.ts';
import { failAbandonedRuns, recoverLostRuns, watchForLostJobs } from '../../src/scheduler/recovery.ts';
import { createLogger } from '../../src/shared/logger.ts';
import { createPool } from '../../src/storage/db.ts';
import type { DB } from '../../src/storage/db.types.ts';
import { createSyncRun, getSyncRun, markRunStarted } from '../../src/storage/sync-runs.repo.ts';
import { countOnRun, finishStandaloneRun, startStandaloneRun } from '../../src/sync/sync-run.ts';
import { obliterate, startHarness, type Harness } from '../helpers/orchestration.ts';

/**
 * Recovery after Redis lost its data re-enqueues the flows of unfinished run trees. A standalone run
 * (a statement import, a validation re-fetch) has no flow: the process that started it works it and
 * ends it. Re-enqueuing it would finalize it from its (absent) windows while it is still working, as
 * `succeeded` with every count zero, and a crashed import would read as a finished one. Instead its owner keeps a
 * heartbeat, and the same sweep fails a standalone run whose owner has gone quiet.
 */
const TODAY = '2025-03-12';
let h: Harness;

beforeAll(async () => {
  h = await startHarness({ today: TODAY });
});

afterAll(async () => {
  await h?.stop();
});

describe('recovery of lost jobs', () => {
  it('re-enqueues a run tree whose flow is gone, and leaves a standalone run to the process working it', async () => {
    const a = h.accounts[0]!;
    const tree = await triggerSync(h.producer(), {
      accountId: a.id,
      request: { mode: 'range', from: '2025-03-03', to: '2025-03-07' },
      trigger: 'manual',
    });
    const treeRunId = tree.runs[0]!.runId;
    const standaloneId = await startStandaloneRun(h.t.db, {
      organizationId: h.tenancy.organizationId,
      integrationId: h.tenancy.integrationId,
      accountId: a.id,
      trigger: 'manual',
      mode: 'range',
      windowFrom: '2025-02-03',
      windowTo: '2025-02-07',
      source: 'bai2',
    });
    await countOnRun(h.t.db, standaloneId, { fetched: 40, inserted: 40 });
    await obliterate(h.queues);

    const result = await recoverLostRuns({ db: h.t.db, queues: h.queues, logger: createLogger('scheduler') });

    expect(result.requeued).toEqual([treeRunId]);
    const standalone = await getSyncRun(h.t.db, standaloneId);
    expect(standalone).toMatchObject({ status: 'running', fetched: 40, inserted: 40, finished_at: null });
    // A second sweep finds the tree's flow in place and adds nothing.
    expect(
      (await recoverLostRuns({ db: h.t.db, queues: h.queues, logger: createLogger('scheduler') })).requeued,
    ).toEqual([]);
  });

  it('one sweep re-enqueues every lost run tree, more than a page of them, all created in the same microsecond', async () => {
    // More queued runs than a sweep reads per page (1,000), with one created_at to the microsecond, so the page
    // boundary falls inside a tie: no run may be repeated or skipped across pages.
    const ids = (
      await sql<{ id: string }>`
        insert into sync_runs (id, organization_id, integration_id, account_id, trigger, mode, status, source, created_at)
        select gen_random_uuid(), ${h.tenancy.organizationId}, ${h.tenancy.integrationId}, ${h.accounts[0]!.id},
          'schedule', 'prior_day', 'queued', 'jpm_api', '2025-03-12 09:00:00.123456+00'
        from generate_series(1, 1005)
        returning id`.execute(h.t.db)
    ).rows.map((r) => r.id);
    await obliterate(h.queues);
    const logger = createLogger('scheduler');
    try {
      const result = await recoverLostRuns({ db: h.t.db, queues: h.queues, logger });

      expect(result.requeued.filter((id) => ids.includes(id)).sort()).toEqual([...ids].sort());
      expect(new Set(result.requeued).size).toBe(result.requeued.length);
      expect((await recoverLostRuns({ db: h.t.db, queues: h.queues, logger })).requeued).toEqual([]);
    } finally {
      await sql`update sync_runs set status = 'cancelled', finished_at = now() where id in (${sql.join(ids)})`.execute(
        h.t.db,
      );
      await obliterate(h.queues);
    }
  });

  it('a sweep stops at the next run when its watch is stopped, however many runs it has left', async () => {
    const ids = (
      await sql<{ id: string }>`
        insert into sync_runs (id, organization_id, integration_id, account_id, trigger, mode, status, source, created_at)
        select gen_random_uuid(), ${h.tenancy.organizationId}, ${h.tenancy.integrationId}, ${h.accounts[0]!.id},
          'schedule', 'prior_day', 'queued', 'jpm_api', now()
        from generate_series(1, 1005)
        returning id`.execute(h.t.db)
    ).rows.map((r) => r.id);
    await obliterate(h.queues);
    const logger = createLogger('scheduler');
    try {
      await h.queues.redis.ping();
      // The watch sweeps at once (Redis is ready); stopping it in the same tick leaves that sweep no run to repair:
      // a worker's shutdown does not wait for a backlog of lost runs to be re-enqueued.
      const watch = watchForLostJobs({ db: h.t.db, queues: h.queues, logger }, h.queues.redis, 3_600_000);
      await watch.stop();

      const later = await recoverLostRuns({ db: h.t.db, queues: h.queues, logger });
      expect(later.requeued.filter((id) => ids.includes(id))).toHaveLength(ids.length);
    } finally {
      await sql`update sync_runs set status = 'cancelled', finished_at = now() where id in (${sql.join(ids)})`.execute(
        h.t.db,
      );
      await obliterate(h.queues);
    }
  });

  const heartbeatOf = async (id: string) =>
    (await sql<{ heartbeat_at: Date | null }>`select heartbeat_at from sync_runs where id = ${id}`.execute(h.t.db))
      .rows[0]!.heartbeat_at;
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const standalone = (from: string) => ({
    organizationId: h.tenancy.organizationId,
    integrationId: h.tenancy.integrationId,
    accountId: h.accounts[0]!.id,
    trigger: 'manual' as const,
    mode: 'range' as const,
    windowFrom: from,
    windowTo: from,
    source: 'bai2',
  });

  it('a standalone run beats while its process works it, and stops beating when it ends', async () => {
    const id = await startStandaloneRun(h.t.db, standalone('2025-01-06'), 100);
    const first = await heartbeatOf(id);
    expect(first).toBeInstanceOf(Date);
    await sleep(400);
    const later = await heartbeatOf(id);
    expect(later!.getTime()).toBeGreaterThan(first!.getTime());
    await finishStandaloneRun(h.t.db, id, 'succeeded');
    const atEnd = await heartbeatOf(id);
    await sleep(400);
    expect(await heartbeatOf(id)).toEqual(atEnd);
    expect(await getSyncRun(h.t.db, id)).toMatchObject({ status: 'succeeded' });
  });

  it('the sweep fails a standalone run whose process went quiet, and leaves a live one and a run tree alone', async () => {
    const logger = createLogger('scheduler');
    // What a process that died mid-import leaves: a running standalone run whose last heartbeat is old.
    const dead = await createSyncRun(h.t.db, standalone('2025-01-07'));
    await markRunStarted(h.t.db, dead);
    await countOnRun(h.t.db, dead, { fetched: 12, inserted: 12 });
    await sql`update sync_runs set heartbeat_at = now() - interval '301 seconds' where id = ${dead}`.execute(h.t.db);
    // Quiet, but not for long enough yet.
    const slow = await createSyncRun(h.t.db, standalone('2025-01-08'));
    await markRunStarted(h.t.db, slow);
    await sql`update sync_runs set heartbeat_at = now() - interval '200 seconds' where id = ${slow}`.execute(h.t.db);
    const live = await startStandaloneRun(h.t.db, standalone('2025-01-09'));
    const tree = await triggerSync(h.producer(), {
      accountId: h.accounts[0]!.id,
      request: { mode: 'range', from: '2025-03-03', to: '2025-03-04' },
      trigger: 'manual',
    });
    const treeRunId = tree.runs[0]!.runId;
    await sql`update sync_runs set status = 'running', started_at = now() - interval '1 hour' where id = ${treeRunId}`.execute(
      h.t.db,
    );

    expect(await failAbandonedRuns({ db: h.t.db, queues: h.queues, logger })).toBe(1);

    expect(await getSyncRun(h.t.db, dead)).toMatchObject({
      status: 'failed',
      error_code: 'interrupted',
      fetched: 12,
      inserted: 12,
    });
    expect((await getSyncRun(h.t.db, dead))!.finished_at).toBeInstanceOf(Date);
    expect(await getSyncRun(h.t.db, slow)).toMatchObject({ status: 'running', finished_at: null });
    expect(await getSyncRun(h.t.db, live)).toMatchObject({ status: 'running', finished_at: null });
    expect(await getSyncRun(h.t.db, treeRunId)).toMatchObject({ status: 'running', finished_at: null });
    // Once failed, it is not failed again.
    expect(await failAbandonedRuns({ db: h.t.db, queues: h.queues, logger })).toBe(0);
    await finishStandaloneRun(h.t.db, live, 'succeeded');
  });

  it('a connection lost while a standalone run starts leaves no run the sweep would report succeeded or never end', async () => {
    const logger = createLogger('scheduler');
    const db = h.t.db;
    // The connection dies in the middle of starting the run: at the statement that starts it, or at its first
    // heartbeat (the backend terminates itself from a trigger, as an operator's pg_terminate_backend or a failover
    // would). The import or re-fetch behind it never gets its run id, so nothing will ever end that run but the sweep.
    await sql`
      create function test_die_mid_start() returns trigger language plpgsql as $$
      begin
        perform pg_terminate_backend(pg_backend_pid());
        return new;
      end $$`.execute(db);
    await sql`
      create trigger test_die_at_start before update on sync_runs for each row
      when (old.window_from in ('2025-01-20', '2025-01-21') and old.parent_run_id is null and (
        (old.window_from = '2025-01-20' and old.status = 'queued' and new.status = 'running') or
        (old.window_from = '2025-01-21' and old.heartbeat_at is null and new.heartbeat_at is not null)))
      execute function test_die_mid_start()`.execute(db);
    try {
      await expect(startStandaloneRun(db, standalone('2025-01-20'))).rejects.toThrow();
      await expect(startStandaloneRun(db, standalone('2025-01-21'))).rejects.toThrow();
    } finally {
      await sql`drop trigger test_die_at_start on sync_runs`.execute(db);
      await sql`drop function test_die_mid_start()`.execute(db);
    }
    const left = async () =>
      (
        await sql<{ id: string; status: string }>`
          select id, status from sync_runs
          where parent_run_id is null and window_from in ('2025-01-20', '2025-01-21')`.execute(db)
      ).rows;
    // Long after: a run left behind by the half-done start is now either absent or ended as not succeeded.
    await sql`update sync_runs set heartbeat_at = now() - interval '1 hour'
      where parent_run_id is null and window_from in ('2025-01-20', '2025-01-21') and heartbeat_at is not null`.execute(
      db,
    );
    const leftover = (await left()).map((r) => r.id);
    const swept = await recoverLostRuns({ db, queues: h.queues, logger });
    await failAbandonedRuns({ db, queues: h.queues, logger });
    // A flow added for it would finalize it from its (absent) windows as `succeeded`.
    expect(swept.requeued.filter((id) => leftover.includes(id))).toEqual([]);
    for (const run of await left()) {
      expect(['failed', 'cancelled'], `run ${run.id} of a start that died reads ${run.status}`).toContain(run.status);
    }
  });

  it("the sweep's queries read the unfinished runs' index, not the history, on a never-analyzed table", async () => {
    // A history of finished top-level runs, each with a window: what years of schedules leave.
    await sql`
      with parents as (
        insert into sync_runs (id, organization_id, integration_id, account_id, trigger, mode, status, source,
          started_at, finished_at, created_at)
        select gen_random_uuid(), ${h.tenancy.organizationId}, ${h.tenancy.integrationId}, ${h.accounts[0]!.id},
          'schedule', 'prior_day', 'succeeded', 'jpm_api', now() - make_interval(mins => g), now() - make_interval(mins => g),
          now() - make_interval(mins => g)
        from generate_series(1, 20000) g
        returning id, created_at)
      insert into sync_runs (id, organization_id, integration_id, account_id, parent_run_id, trigger, mode, status,
        source, created_at)
      select gen_random_uuid(), ${h.tenancy.organizationId}, ${h.tenancy.integrationId}, ${h.accounts[0]!.id}, id,
        'schedule', 'prior_day', 'succeeded', 'jpm_api', created_at
      from parents`.execute(h.t.db);
    const seen: CompiledQuery[] = [];
    const db = new Kysely<DB>({
      dialect: new PostgresDialect({ pool: createPool({ url: h.t.url, poolMax: 1 }) }),
      log(event) {
        if (event.level === 'query') {
          seen.push(event.query);
        }
      },
    });
    try {
      await recoverLostRuns({ db, queues: h.queues, logger: createLogger('scheduler') });
      await failAbandonedRuns({ db, queues: h.queues, logger: createLogger('scheduler') });
      const sweeps = seen.filter((q) => /\bsync_runs\b/.test(q.sql) && /parent_run_id"? is null/.test(q.sql));
      expect(sweeps.length).toBe(2);
      for (const q of sweeps) {
        const plan = await db.executeQuery<{ 'QUERY PLAN': unknown }>({
          ...q,
          sql: `explain (format json) ${q.sql}`,
        });
        const text = JSON.stringify(plan.rows[0]!['QUERY PLAN']);
        expect(text, q.sql).toContain('sync_runs_unfinished_idx');
        expect(text, q.sql).not.toContain('Seq Scan');
      }
    } finally {
      await db.destroy();
    }
  });
});
