import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTenancy } from '../factories/tenancy.ts';
import { bearer, createTestApi, type TestApi } from '../helpers/api-app.ts';

/**
 * The answers that carry a secret shown once (a new API key, a webhook signing secret) tell every cache on the way,
 * the client's own included, not to keep them: `Cache-Control: no-store`.
 */
let api: TestApi;

beforeAll(async () => {
  api = await createTestApi();
});

afterAll(async () => {
  await api?.close();
});

describe('answers holding a secret', () => {
  it('are sent with Cache-Control: no-store (API key creation, webhook creation and secret rotation)', async () => {
    const admin = bearer(api.adminKey);
    const created = await request(api.app).post('/v1/api-keys').set(admin).send({ name: 'ops', role: 'viewer' });
    expect(created.status).toBe(201);
    expect((created.body as { key: string }).key).toMatch(/^jpms_/);
    expect(created.headers['cache-control']).toBe('no-store');

    const t = await createTenancy(api.t.db);
    const webhook = await request(api.app)
      .post('/v1/webhooks')
      .set(admin)
      .send({ organizationId: t.organizationId, url: 'http://127.0.0.1:9/hook', eventTypes: ['*'] });
    expect(webhook.status, webhook.text).toBe(201);
    expect((webhook.body as { secret: string }).secret).toMatch(/^whsec_/);
    expect(webhook.headers['cache-control']).toBe('no-store');

    const rotated = await request(api.app)
      .post(`/v1/webhooks/${(webhook.body as { id: string }).id}/rotate-secret`)
      .set(admin)
      .send({});
    expect(rotated.status).toBe(200);
    expect((rotated.body as { secret: string }).secret).toMatch(/^whsec_/);
    expect(rotated.headers['cache-control']).toBe('no-store');
  });
});
