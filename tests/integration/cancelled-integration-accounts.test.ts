import { sql } from 'kysely';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTenancy } from '../factories/tenancy.ts';
import { bearer, createTestApi, expectProblem, type TestApi } from '../helpers/api-app.ts';

/**
 * A cancelled integration is final (README, onboarding): it gets no new key pair, no certificate and no sync, and no
 * new account either, neither registered by hand nor discovered (which would call J.P. Morgan for it).
 */
let api: TestApi;

beforeAll(async () => {
  api = await createTestApi();
});

afterAll(async () => {
  await api?.close();
});

const accountsOf = async (integrationId: string) =>
  (await api.t.db.selectFrom('bank_accounts').select('id').where('integration_id', '=', integrationId).execute())
    .length;

describe('accounts of a cancelled integration', () => {
  it('409 integration_cancelled for registering or discovering accounts, nothing stored', async () => {
    const t = await createTenancy(api.t.db);
    await sql`update integrations set stage = 'cancelled' where id = ${t.integrationId}`.execute(api.t.db);
    const registered = await request(api.app)
      .post(`/v1/integrations/${t.integrationId}/accounts`)
      .set(bearer(api.adminKey))
      .send({ jpmAccountId: '000000012345678', bankId: '02100002', currency: 'USD', timeZone: 'America/New_York' });
    const problem = expectProblem(registered, 409, 'integration_cancelled');
    expect(problem.detail).toBe(
      `integration ${t.integrationId} is cancelled, which is final; cannot register an account for it. Create a new integration instead`,
    );
    const discovered = await request(api.app)
      .post(`/v1/integrations/${t.integrationId}/accounts/discover`)
      .set(bearer(api.adminKey))
      .send({});
    expect(expectProblem(discovered, 409, 'integration_cancelled').detail).toBe(
      `integration ${t.integrationId} is cancelled, which is final; cannot discover accounts for it. Create a new integration instead`,
    );
    expect(await accountsOf(t.integrationId)).toBe(0);
  });

  it('registers an account of an integration in any other stage, paused included', async () => {
    const t = await createTenancy(api.t.db);
    await sql`update integrations set stage = 'paused', paused_from_stage = 'requested' where id = ${t.integrationId}`.execute(
      api.t.db,
    );
    const res = await request(api.app)
      .post(`/v1/integrations/${t.integrationId}/accounts`)
      .set(bearer(api.adminKey))
      .send({ jpmAccountId: '000000012345679', bankId: '02100002', currency: 'USD', timeZone: 'America/New_York' });
    expect(res.status, res.text).toBe(201);
    expect(await accountsOf(t.integrationId)).toBe(1);
  });
});

describe('connection test of a cancelled integration', () => {
  it('409 integration_cancelled: J.P. Morgan is not called for an integration that is final', async () => {
    const t = await createTenancy(api.t.db);
    await sql`update integrations set stage = 'cancelled' where id = ${t.integrationId}`.execute(api.t.db);
    const res = await request(api.app)
      .post(`/v1/integrations/${t.integrationId}/test-connection`)
      .set(bearer(api.adminKey))
      .send({});
    expect(expectProblem(res, 409, 'integration_cancelled').detail).toBe(
      `integration ${t.integrationId} is cancelled, which is final; cannot test its connection to J.P. Morgan. Create a new integration instead`,
    );
  });
});
