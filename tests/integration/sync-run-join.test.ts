import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { planRun } from '../../src/scheduler/plan.ts';
import { uuidv7 } from '../../src/shared/ids.ts';
import { listWindowRuns } from '../../src/storage/sync-runs.repo.ts';
import { finishStandaloneRun, openRun, startStandaloneRun, startWindow } from '../../src/sync/sync-run.ts';
import { createAccount, createTenancy } from '../factories/tenancy.ts';
import { createTestDb, type TestDb } from '../helpers/db.ts';

/**
 * A second trigger of the same request joins the account's unfinished run, but an intraday or prior-day run whose
 * windows started has fixed its dates from the bank's answer then: after the bank closed another day, joining it
 * would answer a prior-day request with the day before's data, reported succeeded (found by the cluster test: an
 * operator's prior-day round after the bank's close joined a scheduled run that had fetched the day before).
 */
describe('joining an unfinished run', () => {
  let t: TestDb;
  let account: { id: string; organization_id: string; integration_id: string };

  beforeAll(async () => {
    t = await createTestDb();
    const tenancy = await createTenancy(t.db);
    const a = await createAccount(t.db, tenancy);
    account = { id: a.id, organization_id: tenancy.organizationId, integration_id: tenancy.integrationId };
  });
  afterAll(async () => {
    await t.drop();
  });

  const start = async (runId: string) => {
    const [w] = await listWindowRuns(t.db, runId);
    await startWindow(t.db, { parentRunId: runId, windowRunId: w!.id });
  };

  it('a prior-day or intraday request joins a queued run, not one whose windows started', async () => {
    for (const mode of ['prior_day', 'intraday'] as const) {
      const plan = planRun({ mode }, '2026-12-09', 5);
      const first = await openRun(t.db, { account, trigger: 'schedule', plan });
      expect(first.joined).toBe(false);
      expect(await openRun(t.db, { account, trigger: 'manual', plan })).toMatchObject({
        runId: first.runId,
        joined: true,
      });
      await start(first.runId);
      const after = await openRun(t.db, { account, trigger: 'manual', plan });
      expect(after.joined, mode).toBe(false);
      expect(after.runId).not.toBe(first.runId);
      // A re-processed tick still finds its own run.
      expect(await openRun(t.db, { account, trigger: 'schedule', plan, runId: first.runId })).toMatchObject({
        runId: first.runId,
        joined: true,
      });
    }
  });

  it("a tick that joined another trigger's run and is processed again gets that run, started or finished, not a second", async () => {
    const tenancy = await createTenancy(t.db);
    const a = await createAccount(t.db, tenancy);
    const other = { id: a.id, organization_id: tenancy.organizationId, integration_id: tenancy.integrationId };
    const plan = planRun({ mode: 'intraday' }, '2026-12-09', 5);
    const manual = await openRun(t.db, { account: other, trigger: 'manual', plan });
    const tick = uuidv7();
    expect(await openRun(t.db, { account: other, trigger: 'schedule', plan, runId: tick })).toEqual({
      runId: manual.runId,
      joined: true,
      status: 'queued',
    });
    const runsOf = async () =>
      (
        await t.db
          .selectFrom('sync_runs')
          .select('id')
          .where('account_id', '=', other.id)
          .where('parent_run_id', 'is', null)
          .execute()
      ).map((r) => r.id);
    // The run it joined started (its windows fixed their dates), then finished: the tick, re-processed after a
    // crash, still names it and opens nothing.
    await start(manual.runId);
    expect(await openRun(t.db, { account: other, trigger: 'schedule', plan, runId: tick })).toEqual({
      runId: manual.runId,
      joined: true,
      status: 'running',
    });
    await t.db
      .updateTable('sync_runs')
      .set({ status: 'succeeded', finished_at: new Date() })
      .where('id', '=', manual.runId)
      .execute();
    expect(await openRun(t.db, { account: other, trigger: 'schedule', plan, runId: tick })).toMatchObject({
      runId: manual.runId,
      joined: true,
      status: 'succeeded',
    });
    expect(await runsOf()).toEqual([manual.runId]);
    // Another tick after that run finished gets a run of its own, under its id.
    const next = uuidv7();
    expect(await openRun(t.db, { account: other, trigger: 'schedule', plan, runId: next })).toMatchObject({
      runId: next,
      joined: false,
    });
  });

  it('a range request joins the unfinished run for its dates, started or not', async () => {
    const plan = planRun({ mode: 'range', from: '2026-12-01', to: '2026-12-04' }, '2026-12-09', 5);
    const first = await openRun(t.db, { account, trigger: 'backfill', plan });
    await start(first.runId);
    expect(await openRun(t.db, { account, trigger: 'backfill', plan })).toMatchObject({
      runId: first.runId,
      joined: true,
    });
  });

  it('a range request never joins a standalone run (a validation re-fetch) for the same dates', async () => {
    const from = '2026-11-02';
    const to = '2026-11-03';
    // As validation's re-fetch starts it: running, one window counted, no window rows behind it.
    const standalone = await startStandaloneRun(t.db, {
      organizationId: account.organization_id,
      integrationId: account.integration_id,
      accountId: account.id,
      trigger: 'manual',
      mode: 'range',
      windowFrom: from,
      windowTo: to,
      windowsTotal: 1,
    });
    try {
      const plan = planRun({ mode: 'range', from, to }, '2026-12-09', 5);
      const opened = await openRun(t.db, { account, trigger: 'backfill', plan });
      expect(opened.joined).toBe(false);
      expect(opened.runId).not.toBe(standalone);
      expect((await listWindowRuns(t.db, opened.runId)).length).toBeGreaterThan(0);
    } finally {
      await finishStandaloneRun(t.db, standalone, 'succeeded');
    }
  });
});
