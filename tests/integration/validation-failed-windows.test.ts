import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uuidv7 } from '../../src/shared/ids.ts';
import type { IsoDate } from '../../src/shared/time.ts';
import { coverage } from '../../src/validation/coverage.ts';
import { createAccount, createTenancy, type Tenancy } from '../factories/tenancy.ts';
import { createTestDb, type TestDb } from '../helpers/db.ts';

/**
 * The validation report's failed sync windows, and whether each was covered again by later successful runs (a failed
 * window not covered fails the report). The posted data of a completed day is the same whichever run fetched it: a
 * prior-day run, a range run or a validation heal's re-fetch (a standalone range run); the balance proof already counts
 * any of them as the day's fetch. Real Postgres, the runs as the sync records them.
 */
const NOW = new Date('2026-11-20T17:00:00Z');

let t: TestDb;

beforeAll(async () => {
  t = await createTestDb();
});

afterAll(async () => {
  await t.drop();
});

interface RunSpec {
  accountId: string;
  mode: 'prior_day' | 'range' | 'intraday';
  kind?: 'all' | 'transactions' | 'balances';
  status: 'succeeded' | 'failed' | 'partial';
  from: IsoDate;
  to: IsoDate;
  at: string;
  parentRunId?: string;
}

async function run(tenancy: Tenancy, r: RunSpec): Promise<string> {
  const id = uuidv7();
  await t.db
    .insertInto('sync_runs')
    .values({
      id,
      organization_id: tenancy.organizationId,
      integration_id: tenancy.integrationId,
      account_id: r.accountId,
      parent_run_id: r.parentRunId ?? null,
      mode: r.mode,
      kind: r.kind ?? 'all',
      trigger: 'schedule',
      status: r.status,
      window_from: r.from,
      window_to: r.to,
      error_code: r.status === 'succeeded' ? null : 'jpm_unavailable',
      error_message: r.status === 'succeeded' ? null : 'the bank did not answer',
      created_at: new Date(r.at),
      finished_at: new Date(r.at),
    })
    .execute();
  return id;
}

/** Top-level runs of one account: `(mode, status, from, to, at)` records one and returns its id. */
function runsOf(tenancy: Tenancy, accountId: string) {
  return (mode: RunSpec['mode'], status: RunSpec['status'], from: IsoDate, to: IsoDate, at: string) =>
    run(tenancy, { accountId, mode, status, from, to, at });
}

async function failedWindows(tenancy: Tenancy, accountId: string) {
  const cov = await coverage(t.db, tenancy.integrationId, [accountId], '2026-11-01', '2026-11-19', NOW, 26);
  return cov.failedWindows.map((w) => ({ runId: w.runId, recovered: w.recovered }));
}

describe('validation report: failed sync windows and their recovery', () => {
  it("a failed prior-day window is recovered by later re-fetches of its days (a heal's range runs), each day by one of them", async () => {
    const tenancy = await createTenancy(t.db, { name: 'Failed Windows 1' });
    const a = await createAccount(t.db, tenancy);
    const runOfA = runsOf(tenancy, a.id);
    // Tuesday's prior-day run (the prior day and two days of look-back) failed; the next morning the validation sweep
    // re-fetched the days in two windows, both succeeded.
    const failed = await runOfA('prior_day', 'failed', '2026-11-12', '2026-11-16', '2026-11-17T11:00:00Z');
    await runOfA('range', 'succeeded', '2026-11-12', '2026-11-13', '2026-11-18T04:00:00Z');
    await runOfA('range', 'succeeded', '2026-11-14', '2026-11-16', '2026-11-18T04:01:00Z');
    expect(await failedWindows(tenancy, a.id)).toEqual([{ runId: failed, recovered: true }]);
  });

  it('a failed window with a day no later run fetched, or fetched only before the failure, stays not recovered', async () => {
    const tenancy = await createTenancy(t.db, { name: 'Failed Windows 2' });
    const a = await createAccount(t.db, tenancy);
    const runOfA = runsOf(tenancy, a.id);
    await runOfA('range', 'succeeded', '2026-11-16', '2026-11-16', '2026-11-17T10:00:00Z');
    const failed = await runOfA('prior_day', 'failed', '2026-11-12', '2026-11-16', '2026-11-17T11:00:00Z');
    await runOfA('range', 'succeeded', '2026-11-12', '2026-11-15', '2026-11-18T04:00:00Z');
    // Another account's re-fetch of the missing day does not count.
    const other = await createAccount(t.db, tenancy);
    const runOfOther = runsOf(tenancy, other.id);
    await runOfOther('range', 'succeeded', '2026-11-16', '2026-11-16', '2026-11-18T04:00:00Z');
    expect(await failedWindows(tenancy, a.id)).toEqual([{ runId: failed, recovered: false }]);
  });

  it("a range run's failure is its failed window's, once, and is recovered when that window's days are fetched again", async () => {
    const tenancy = await createTenancy(t.db, { name: 'Failed Windows 3' });
    const a = await createAccount(t.db, tenancy);
    const runOfA = runsOf(tenancy, a.id);
    // A range run of ten days: its first transaction window succeeded, its second failed, so the run is partial.
    const at = '2026-11-17T11:00:00Z';
    const parent = await runOfA('range', 'partial', '2026-11-02', '2026-11-11', at);
    const spec = { accountId: a.id, mode: 'range', parentRunId: parent, at } as const;
    await run(tenancy, { ...spec, kind: 'transactions', status: 'succeeded', from: '2026-11-02', to: '2026-11-06' });
    const window = await run(tenancy, {
      ...spec,
      kind: 'transactions',
      status: 'failed',
      from: '2026-11-07',
      to: '2026-11-11',
    });
    await run(tenancy, { ...spec, kind: 'balances', status: 'succeeded', from: '2026-11-02', to: '2026-11-11' });
    expect(await failedWindows(tenancy, a.id)).toEqual([{ runId: window, recovered: false }]);
    // The heal re-fetches the failed window's days.
    await runOfA('range', 'succeeded', '2026-11-07', '2026-11-11', '2026-11-18T04:00:00Z');
    expect(await failedWindows(tenancy, a.id)).toEqual([{ runId: window, recovered: true }]);
  });

  it('a range run partial with every window succeeded (records rejected) is listed itself', async () => {
    const tenancy = await createTenancy(t.db, { name: 'Failed Windows 5' });
    const a = await createAccount(t.db, tenancy);
    const runOfA = runsOf(tenancy, a.id);
    const at = '2026-11-17T11:00:00Z';
    const parent = await runOfA('range', 'partial', '2026-11-02', '2026-11-06', at);
    const spec = { accountId: a.id, mode: 'range', parentRunId: parent, at, status: 'succeeded' } as const;
    await run(tenancy, { ...spec, kind: 'transactions', from: '2026-11-02', to: '2026-11-06' });
    await run(tenancy, { ...spec, kind: 'balances', from: '2026-11-02', to: '2026-11-06' });
    expect(await failedWindows(tenancy, a.id)).toEqual([{ runId: parent, recovered: false }]);
  });

  it('a failed intraday window is not recovered by a prior-day or range run (another kind of data)', async () => {
    const tenancy = await createTenancy(t.db, { name: 'Failed Windows 4' });
    const a = await createAccount(t.db, tenancy);
    const runOfA = runsOf(tenancy, a.id);
    const failed = await runOfA('intraday', 'failed', '2026-11-16', '2026-11-16', '2026-11-16T15:00:00Z');
    await runOfA('range', 'succeeded', '2026-11-16', '2026-11-16', '2026-11-18T04:00:00Z');
    expect(await failedWindows(tenancy, a.id)).toEqual([{ runId: failed, recovered: false }]);
    await runOfA('intraday', 'succeeded', '2026-11-16', '2026-11-16', '2026-11-16T15:30:00Z');
    expect(await failedWindows(tenancy, a.id)).toEqual([{ runId: failed, recovered: true }]);
  });
});
