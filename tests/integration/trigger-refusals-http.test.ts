import { sql } from 'kysely';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAccount, createTenancy, type Tenancy } from '../factories/tenancy.ts';
import { bearer, createTestApi, expectProblem, type TestApi } from '../helpers/api-app.ts';

/**
 * POST /v1/integrations/{id}/sync-runs refuses what it cannot do whatever the integration's accounts are: a range
 * that ends before it starts is a 400 naming `from`, a paused integration a 409 `integration_paused` and a cancelled one
 * (final) a 409 `integration_cancelled`, also when no account of the integration is active (then no account's plan
 * would have refused it, and a 202 with no run said "done").
 */
let api: TestApi;

beforeAll(async () => {
  api = await createTestApi();
});

afterAll(async () => {
  await api?.close();
});

/** An integration whose one account is paused: it has accounts, none of them active. */
async function integrationWithoutActiveAccounts(): Promise<Tenancy> {
  const t = await createTenancy(api.t.db);
  const account = await createAccount(api.t.db, t);
  await api.t.db.updateTable('bank_accounts').set({ status: 'paused' }).where('id', '=', account.id).execute();
  return t;
}

const BODIES = [{ mode: 'intraday' }, { mode: 'prior_day' }, { mode: 'range', from: '2025-03-01', to: '2025-03-02' }];

const runsOf = async (integrationId: string) =>
  (await api.t.db.selectFrom('sync_runs').select('id').where('integration_id', '=', integrationId).execute()).length;

describe('triggering a sync of a whole integration', () => {
  it('400 for a range that ends before it starts, naming from, with no active account to plan it', async () => {
    for (const t of [await createTenancy(api.t.db), await integrationWithoutActiveAccounts()]) {
      const res = await request(api.app)
        .post(`/v1/integrations/${t.integrationId}/sync-runs`)
        .set(bearer(api.adminKey))
        .send({ mode: 'range', from: '2025-03-10', to: '2025-03-01' });
      const problem = expectProblem(res, 400, 'validation_failed');
      expect(problem.detail).toContain('2025-03-10 is after its end 2025-03-01');
      expect(problem.errors).toEqual([{ path: 'body.from', message: 'must not be after to' }]);
      expect(await runsOf(t.integrationId)).toBe(0);
    }
  });

  it('409 integration_paused for a paused integration, with no active account', async () => {
    for (const t of [await createTenancy(api.t.db), await integrationWithoutActiveAccounts()]) {
      await sql`update integrations set stage = 'paused', paused_from_stage = 'requested' where id = ${t.integrationId}`.execute(
        api.t.db,
      );
      for (const body of BODIES) {
        const res = await request(api.app)
          .post(`/v1/integrations/${t.integrationId}/sync-runs`)
          .set(bearer(api.adminKey))
          .send(body);
        const problem = expectProblem(res, 409, 'integration_paused');
        expect(problem.detail).toBe(`integration ${t.integrationId} is paused; resume it before syncing`);
      }
      expect(await runsOf(t.integrationId)).toBe(0);
    }
  });

  it('409 integration_cancelled for a cancelled integration (final: nothing to resume), whatever its accounts', async () => {
    const withActive = await createTenancy(api.t.db);
    const account = await createAccount(api.t.db, withActive);
    for (const t of [await createTenancy(api.t.db), await integrationWithoutActiveAccounts(), withActive]) {
      await sql`update integrations set stage = 'cancelled' where id = ${t.integrationId}`.execute(api.t.db);
      const paths = [`/v1/integrations/${t.integrationId}/sync-runs`];
      if (t === withActive) {
        paths.push(`/v1/accounts/${account.id}/sync-runs`);
      }
      for (const path of paths) {
        for (const body of BODIES) {
          const res = await request(api.app).post(path).set(bearer(api.adminKey)).send(body);
          const problem = expectProblem(res, 409, 'integration_cancelled');
          expect(problem.detail).toBe(`integration ${t.integrationId} is cancelled, which is final: it takes no syncs`);
        }
      }
      expect(await runsOf(t.integrationId)).toBe(0);
    }
  });
});

describe('dates before the year 100', () => {
  it('400 saying which dates are taken, for a sync range and a validation period (their request schemas take them)', async () => {
    const t = await createTenancy(api.t.db);
    const account = await createAccount(api.t.db, t);
    const sync = expectProblem(
      await request(api.app)
        .post(`/v1/accounts/${account.id}/sync-runs`)
        .set(bearer(api.adminKey))
        .send({ mode: 'range', from: '0050-01-01', to: '0050-01-02' }),
      400,
      'validation_failed',
    );
    expect(sync.errors).toEqual([
      { path: 'body.from', message: 'expected a calendar date YYYY-MM-DD from 0100-01-01 on' },
      { path: 'body.to', message: 'expected a calendar date YYYY-MM-DD from 0100-01-01 on' },
    ]);
    const report = expectProblem(
      await request(api.app)
        .post(`/v1/integrations/${t.integrationId}/validations`)
        .set(bearer(api.adminKey))
        .send({ from: '0001-01-01', to: '2025-01-01' }),
      400,
      'validation_failed',
    );
    expect(report.detail).toBe(
      'from must be a calendar date YYYY-MM-DD from 0100-01-01 to 9999-12-31, got "0001-01-01"',
    );
    expect(report.errors).toEqual([
      { path: 'body.from', message: 'expected a calendar date YYYY-MM-DD from 0100-01-01 on' },
    ]);
    expect(await runsOf(t.integrationId)).toBe(0);
  });
});
