import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSyncRun, finishRun } from '../../src/storage/sync-runs.repo.ts';
import { finalizeRun } from '../../src/sync/sync-run.ts';
import { createAccount, createTenancy } from '../factories/tenancy.ts';
import { createTestDb, type TestDb } from '../helpers/db.ts';

describe("a run's outcome from its windows", () => {
  let t: TestDb;
  beforeAll(async () => {
    t = await createTestDb();
  });
  afterAll(async () => {
    await t.drop();
  });

  it('names the earliest failed window: its error code with its own message, never one window’s code with another’s message', async () => {
    const tenancy = await createTenancy(t.db);
    const account = await createAccount(t.db, tenancy);
    const base = {
      organizationId: tenancy.organizationId,
      integrationId: tenancy.integrationId,
      accountId: account.id,
      trigger: 'manual' as const,
      mode: 'range' as const,
    };
    const parent = await createSyncRun(t.db, { ...base, windowsTotal: 3 });
    const window = (from: string, to: string) =>
      createSyncRun(t.db, { ...base, parentRunId: parent, windowFrom: from, windowTo: to });
    // Created out of date order, and each code sorts against its message the other way round.
    const late = await window('2026-03-09', '2026-03-13');
    const early = await window('2026-03-02', '2026-03-06');
    const ok = await window('2026-03-16', '2026-03-16');
    await finishRun(t.db, late, 'failed', { code: 'a_late_code', message: 'z: the late window failed' });
    await finishRun(t.db, early, 'failed', { code: 'z_early_code', message: 'a: the early window failed' });
    await finishRun(t.db, ok, 'succeeded');
    expect(await finalizeRun(t.db, parent)).toMatchObject({ status: 'partial' });
    expect(
      await t.db
        .selectFrom('sync_runs')
        .select(['error_code', 'error_message'])
        .where('id', '=', parent)
        .executeTakeFirstOrThrow(),
    ).toEqual({ error_code: 'z_early_code', error_message: 'a: the early window failed' });
  });
});
