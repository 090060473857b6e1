import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ZERO_COUNTS, type SyncCounts } from '../../src/domain/types.ts';
import { SyncRunSchema } from '../../src/admin-api/syncs.dto.ts';
import { planRun } from '../../src/scheduler/plan.ts';
import { listWindowRuns } from '../../src/storage/sync-runs.repo.ts';
import { completeWindow, countOnRun, failWindow, finalizeRun, openRun, startWindow } from '../../src/sync/sync-run.ts';
import { createAccount, createTenancy } from '../factories/tenancy.ts';
import { bearer, bodyOf, createTestApi, type TestApi } from '../helpers/api-app.ts';

/**
 * A run's counts, as the admin API shows them (`GET /v1/sync-runs/{id}`), are the sum of its windows' counts, whatever
 * order the windows end in and whenever a page is counted: also a page a worker writes on a window that another worker
 * already ended (the account lock's new holder runs the window again while the former holder, whose writes all
 * committed under the lock, completes it), before or after the run was finalized.
 */
let api: TestApi;

beforeAll(async () => {
  api = await createTestApi();
});

afterAll(async () => {
  await api.close();
});

/** The counts a run shows, each a column of its windows' rows. */
const COUNTS = Object.keys(ZERO_COUNTS) as (keyof SyncCounts)[];

/** A page's counts on a window, in its own transaction, as ingestTransactionPage counts them. */
async function page(windowRunId: string, c: Partial<SyncCounts>): Promise<void> {
  await api.t.db.transaction().execute((trx) => countOnRun(trx, windowRunId, c));
}

async function shown(runId: string) {
  const res = await request(api.app).get(`/v1/sync-runs/${runId}`).set(bearer(api.adminKey));
  expect(res.status).toBe(200);
  return bodyOf(SyncRunSchema, res).counts;
}

/** The sum of the run's windows' counts, read from their rows. */
async function sumOfWindows(runId: string): Promise<Record<keyof SyncCounts, number>> {
  const windows = await api.t.db
    .selectFrom('sync_runs')
    .select([...COUNTS])
    .where('parent_run_id', '=', runId)
    .execute();
  expect(windows.length).toBeGreaterThan(1);
  return Object.fromEntries(COUNTS.map((k) => [k, windows.reduce((s, w) => s + Number(w[k]), 0)])) as Record<
    keyof SyncCounts,
    number
  >;
}

async function newRun() {
  const tenancy = await createTenancy(api.t.db);
  const a = await createAccount(api.t.db, tenancy);
  const account = { id: a.id, organization_id: tenancy.organizationId, integration_id: tenancy.integrationId };
  const plan = planRun({ mode: 'range', from: '2026-11-02', to: '2026-11-13' }, '2026-12-09', 5);
  expect(plan.windows.length).toBeGreaterThan(1);
  const { runId } = await openRun(api.t.db, { account, trigger: 'manual', plan });
  const windows = (await listWindowRuns(api.t.db, runId)).map((w) => ({ parentRunId: runId, windowRunId: w.id }));
  return { runId, windows };
}

describe("a run's counts", () => {
  it('are the sum of its windows while they run, in any order they end, and after a window that ended is counted on', async () => {
    const { runId, windows } = await newRun();
    const [w1, w2] = windows as [(typeof windows)[0], (typeof windows)[0]];
    expect(await startWindow(api.t.db, w1)).toBeUndefined();
    await page(w1.windowRunId, { fetched: 10, inserted: 7, unchanged: 3 });
    expect(await shown(runId)).toMatchObject(await sumOfWindows(runId));
    expect(await startWindow(api.t.db, w2)).toBeUndefined();
    await page(w2.windowRunId, { fetched: 4, updated: 1, unchanged: 2, rejected: 1 });
    // The second window ends first.
    expect(await failWindow(api.t.db, w2, { code: 'jpm_unavailable', message: 'gave up' })).toBe(true);
    expect(await shown(runId)).toMatchObject(await sumOfWindows(runId));
    // The first window's former lock holder completes it; the new holder, running it again, counts a page after.
    expect(await completeWindow(api.t.db, w1)).toBe(true);
    await page(w1.windowRunId, { fetched: 10, unchanged: 9, inserted: 1 });
    expect(await completeWindow(api.t.db, w1)).toBe(false);
    const sum = await sumOfWindows(runId);
    expect(sum).toMatchObject({ fetched: 24, inserted: 8, updated: 1, unchanged: 14, rejected: 1 });
    expect(await shown(runId)).toMatchObject(sum);
  });

  it('stay the sum of its windows when a window that ended is counted on after the run was finalized', async () => {
    const { runId, windows } = await newRun();
    for (const w of windows) {
      expect(await startWindow(api.t.db, w)).toBeUndefined();
      await page(w.windowRunId, { fetched: 5, inserted: 5, balances: 1 });
      expect(await completeWindow(api.t.db, w)).toBe(true);
    }
    expect(await finalizeRun(api.t.db, runId)).toMatchObject({ status: 'succeeded', first: true });
    expect(await shown(runId)).toMatchObject(await sumOfWindows(runId));
    // The new lock holder's last page of the first window commits after the run's end.
    await page(windows[0]!.windowRunId, { fetched: 5, updated: 2, unchanged: 3 });
    const sum = await sumOfWindows(runId);
    expect(sum).toMatchObject({ fetched: 5 * windows.length + 5, updated: 2, unchanged: 3 });
    expect(await shown(runId)).toMatchObject(sum);
    // Finalizing again (the recovery sweep) changes nothing.
    expect(await finalizeRun(api.t.db, runId)).toMatchObject({ status: 'succeeded', first: false });
    expect(await shown(runId)).toMatchObject(sum);
  });
});
