import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createValidationReport } from '../../src/validation/index.ts';
import { createAccount, createTenancy, type Tenancy } from '../factories/tenancy.ts';
import { createTestDb, type TestDb } from '../helpers/db.ts';

/**
 * "Not synced in the last 26 hours" means a missed prior-day run. Syncs run on the bank's weekdays (intraday Monday to
 * Friday, prior-day Tuesday to Saturday early morning), so an account last synced by Saturday's prior-day run has
 * missed nothing until Monday: its weekend hours do not count. A weekday gap still does.
 */
let t: TestDb;
let tenancy: Tenancy;
let accountId: string;

beforeAll(async () => {
  t = await createTestDb();
  tenancy = await createTenancy(t.db);
  accountId = (await createAccount(t.db, tenancy, { timeZone: 'America/New_York' })).id;
});

afterAll(async () => {
  await t.drop();
});

async function staleAt(lastSyncedAt: string, now: string) {
  await t.db
    .updateTable('bank_accounts')
    .set({ last_synced_at: new Date(lastSyncedAt) })
    .where('id', '=', accountId)
    .execute();
  const doc = await createValidationReport(
    { db: t.db, now: () => new Date(now) },
    { integrationId: tenancy.integrationId, from: '2026-11-02', to: '2026-11-06', requestedBy: 'test' },
  );
  return {
    stale: doc.coverage.staleAccounts.map((s) => s.accountId),
    reason: doc.reasons.some((r) => r.includes('not synced in the last')),
  };
}

describe('validation report: stale accounts over a weekend', () => {
  it("an account last synced by Saturday's prior-day run is not stale on Sunday or early Monday", async () => {
    // Saturday 2026-11-07 06:20 in New York (11:20 UTC).
    expect(await staleAt('2026-11-07T11:20:00Z', '2026-11-08T18:00:00Z')).toEqual({ stale: [], reason: false });
    expect(await staleAt('2026-11-07T11:20:00Z', '2026-11-09T13:00:00Z')).toEqual({ stale: [], reason: false });
  });

  it('an account not synced for 26 weekday hours is stale, a weekend in between or not', async () => {
    // Last synced Friday 2026-11-06 16:00 New York; Monday 19:00 New York is 8 + 19 weekday hours later.
    expect(await staleAt('2026-11-06T21:00:00Z', '2026-11-10T00:00:00Z')).toEqual({
      stale: [accountId],
      reason: true,
    });
    // Tuesday 09:00 to Wednesday 12:00 New York: 27 hours.
    expect(await staleAt('2026-11-03T14:00:00Z', '2026-11-04T17:00:00Z')).toEqual({
      stale: [accountId],
      reason: true,
    });
  });
});
