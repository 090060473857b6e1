import pg from 'pg';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { triggerSync } from '../../src/scheduler/index.ts';
import { markRunStarted } from '../../src/storage/sync-runs.repo.ts';
import { completeWindow } from '../../src/sync/sync-run.ts';
import { startHarness, type Harness } from '../helpers/orchestration.ts';

/**
 * Every write that touches a run tree locks the parent run's row before a window's: a window ending while its run is
 * finalized (the window's job stalled out while its worker still runs, and the parent job finalizes the run) waits for
 * the finalizer instead of deadlocking with it.
 */
const TODAY = '2025-03-12';
let h: Harness;

beforeAll(async () => {
  h = await startHarness({ today: TODAY });
});

afterAll(async () => {
  await h?.stop();
});

describe('run tree lock order', () => {
  it('a window ending while its run is finalized waits for the finalizer, and ends nothing twice', async () => {
    const tree = await triggerSync(h.producer(), {
      accountId: h.accounts[0]!.id,
      request: { mode: 'range', from: '2025-03-03', to: '2025-03-07' },
      trigger: 'manual',
    });
    const parentRunId = tree.runs[0]!.runId;
    const window = await h.t.db
      .selectFrom('sync_runs')
      .select('id')
      .where('parent_run_id', '=', parentRunId)
      .executeTakeFirstOrThrow();
    await markRunStarted(h.t.db, window.id);

    // The finalizer's order (finalizeRun), step by step on a connection of its own: the parent's row first…
    const finalizer = new pg.Client({ connectionString: h.t.url });
    await finalizer.connect();
    try {
      await finalizer.query('begin');
      await finalizer.query('select id from sync_runs where id = $1 for update', [parentRunId]);
      // …while the window's job ends it…
      const ending = completeWindow(h.t.db, { parentRunId, windowRunId: window.id }).then(
        (ended) => ({ ended }),
        (err: unknown) => ({ error: (err as { code?: string }).code ?? String(err) }),
      );
      await expect
        .poll(
          async () =>
            (
              await sql<{ n: number }>`
                select count(*)::int as n from pg_stat_activity
                where datname = current_database() and wait_event_type = 'Lock'`.execute(h.t.db)
            ).rows[0]!.n,
          { timeout: 10_000 },
        )
        .toBeGreaterThan(0);
      // …then the finalizer closes the unfinished window.
      const closing = await finalizer
        .query(
          `update sync_runs set status = 'failed', finished_at = now(), error_code = 'window_not_finished'
           where id = $1 and status in ('queued', 'running')`,
          [window.id],
        )
        .then(
          (r) => ({ closed: r.rowCount }),
          (err: unknown) => ({ error: (err as { code?: string }).code ?? String(err) }),
        );
      await finalizer.query('commit').catch(() => finalizer.query('rollback'));
      expect({ closing, ending: await ending }).toEqual({ closing: { closed: 1 }, ending: { ended: false } });
    } finally {
      await finalizer.end();
    }
    const row = await h.t.db
      .selectFrom('sync_runs')
      .select(['status', 'error_code'])
      .where('id', '=', window.id)
      .executeTakeFirstOrThrow();
    expect(row).toEqual({ status: 'failed', error_code: 'window_not_finished' });
  });
});
