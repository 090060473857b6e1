import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTenancy } from '../factories/tenancy.ts';
import { bearer, createTestApi, expectProblem, type TestApi } from '../helpers/api-app.ts';

let api: TestApi;
let endpointId: string;
const pings: string[] = [];

beforeAll(async () => {
  api = await createTestApi();
  const { organizationId } = await createTenancy(api.t.db);
  const admin = bearer(api.adminKey);
  const created = await request(api.app)
    .post('/v1/webhooks')
    .set(admin)
    .send({ organizationId, url: 'http://127.0.0.1:9/hook', eventTypes: ['*'] })
    .expect(201);
  endpointId = (created.body as { id: string }).id;
  for (let i = 0; i < 2; i++) {
    pings.push(
      ((await request(api.app).post(`/v1/webhooks/${endpointId}/ping`).set(admin).expect(202)).body as { id: string })
        .id,
    );
  }
});
afterAll(async () => {
  await api?.close();
});

const encode = (key: unknown[]) => Buffer.from(JSON.stringify({ v: 1, k: key }), 'utf8').toString('base64url');

describe('delivery log cursor', () => {
  it('pages with its cursor, and a cursor whose position is not one the API wrote is a 400 invalid_cursor', async () => {
    const admin = bearer(api.adminKey);
    const first = await request(api.app).get(`/v1/webhooks/${endpointId}/deliveries?limit=1`).set(admin).expect(200);
    const page1 = first.body as { data: { id: string }[]; nextCursor: string };
    const next = await request(api.app)
      .get(`/v1/webhooks/${endpointId}/deliveries?limit=1&cursor=${page1.nextCursor}`)
      .set(admin)
      .expect(200);
    expect([page1.data[0]!.id, (next.body as { data: { id: string }[] }).data[0]!.id].sort()).toEqual(
      [...pings].sort(),
    );

    const [, id] = (JSON.parse(Buffer.from(page1.nextCursor, 'base64url').toString('utf8')) as { k: [string, string] })
      .k;
    // Each reached Postgres as a timestamp: a malformed one was a generic 400 invalid_value naming no field, and
    // 'infinity' or 'now' (which Postgres reads as instants) silently paged from somewhere else.
    // An offset beyond Postgres's ±15:59:59 was refused by Postgres: a generic 400 invalid_value naming no field.
    for (const createdAt of [
      'abc',
      '2026-02-30 10:00:00+00',
      'infinity',
      'now',
      '',
      '2026-01-01 00:00:00+99',
      '2026-01-01 00:00:00-16',
    ]) {
      expectProblem(
        await request(api.app)
          .get(`/v1/webhooks/${endpointId}/deliveries?cursor=${encode([createdAt, id])}`)
          .set(admin),
        400,
        'invalid_cursor',
      );
    }
  });
});
