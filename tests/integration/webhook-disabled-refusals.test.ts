import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTenancy } from '../factories/tenancy.ts';
import { bearer, createTestApi, expectProblem, type TestApi } from '../helpers/api-app.ts';

/**
 * A disabled endpoint fails every delivery at once, without sending it (README: replay once it is enabled again), so
 * a ping or a replay asked for while it is disabled is refused (409 `endpoint_disabled`, saying to enable it first)
 * rather than answered 202 and queued to fail unsent.
 */
let api: TestApi;

beforeAll(async () => {
  api = await createTestApi();
});

afterAll(async () => {
  await api?.close();
});

describe('ping and replay of a disabled webhook endpoint', () => {
  it('409 endpoint_disabled, no delivery queued; both work again once the endpoint is enabled', async () => {
    const admin = bearer(api.adminKey);
    const t = await createTenancy(api.t.db);
    const created = await request(api.app)
      .post('/v1/webhooks')
      .set(admin)
      .send({ organizationId: t.organizationId, url: 'http://127.0.0.1:9/hook', eventTypes: ['*'] });
    expect(created.status, created.text).toBe(201);
    const endpointId = (created.body as { id: string }).id;
    const pinged = await request(api.app).post(`/v1/webhooks/${endpointId}/ping`).set(admin).send();
    expect(pinged.status).toBe(202);
    const deliveryId = (pinged.body as { id: string }).id;
    const deliveries = async () =>
      (await api.t.db.selectFrom('webhook_deliveries').select('id').where('endpoint_id', '=', endpointId).execute())
        .length;
    expect(await deliveries()).toBe(1);

    await request(api.app).patch(`/v1/webhooks/${endpointId}`).set(admin).send({ status: 'disabled' }).expect(200);
    for (const path of [
      `/v1/webhooks/${endpointId}/ping`,
      `/v1/webhooks/${endpointId}/deliveries/${deliveryId}/replay`,
    ]) {
      const refused = expectProblem(await request(api.app).post(path).set(admin).send(), 409, 'endpoint_disabled');
      expect(refused.detail).toBe(
        `webhook endpoint ${endpointId} is disabled: nothing would be sent to it; enable it first (PATCH /v1/webhooks/${endpointId} with status active)`,
      );
    }
    expect(await deliveries()).toBe(1);

    await request(api.app).patch(`/v1/webhooks/${endpointId}`).set(admin).send({ status: 'active' }).expect(200);
    expect((await request(api.app).post(`/v1/webhooks/${endpointId}/ping`).set(admin).send()).status).toBe(202);
    expect(
      (await request(api.app).post(`/v1/webhooks/${endpointId}/deliveries/${deliveryId}/replay`).set(admin).send())
        .status,
    ).toBe(202);
    expect(await deliveries()).toBe(3);
  });
});
