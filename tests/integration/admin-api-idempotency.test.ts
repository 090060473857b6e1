import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { OrganizationSchema } from '../../src/admin-api/organizations.routes.ts';
import { defineRoute } from '../../src/http/routes.ts';
import { bearer, bodyOf, createTestApi, expectProblem, type TestApi } from '../helpers/api-app.ts';

/** A route that waits for the test to open a gate, so a request can be held "in flight". */
function gatedRoute() {
  let calls = 0;
  let open: () => void = () => undefined;
  let entered: () => void = () => undefined;
  const gate = new Promise<void>((r) => (open = r));
  const inside = new Promise<void>((r) => (entered = r));
  const route = defineRoute({
    method: 'post',
    path: '/v1/test/gated',
    permission: 'organizations:write',
    summary: 'test only',
    tags: ['Test'],
    request: { body: z.object({ n: z.number() }) },
    response: { status: 201, schema: z.object({ n: z.number(), calls: z.number() }), description: 'test' },
    handler: async ({ body }) => {
      calls++;
      entered();
      await gate;
      return { n: body.n, calls };
    },
  });
  return { route, open: () => open(), inside, calls: () => calls };
}

/** Fails with an unexpected error on its first call, succeeds afterwards. */
function flakyRoute() {
  let calls = 0;
  const route = defineRoute({
    method: 'post',
    path: '/v1/test/flaky',
    permission: 'organizations:write',
    summary: 'test only',
    tags: ['Test'],
    request: { body: z.object({ n: z.number() }) },
    response: { status: 201, schema: z.object({ calls: z.number() }), description: 'test' },
    handler: () => {
      calls++;
      return calls === 1
        ? Promise.reject(new Error('database exploded at /srv/app/db.ts:12'))
        : Promise.resolve({ calls });
    },
  });
  return { route, calls: () => calls };
}

describe('Idempotency-Key', () => {
  let api: TestApi;
  let admin: { Authorization: string };
  const gated = gatedRoute();
  const flaky = flakyRoute();
  beforeAll(async () => {
    api = await createTestApi({ extraRoutes: [gated.route, flaky.route] });
    admin = bearer(api.adminKey);
  });
  afterAll(async () => {
    await api.close();
  });

  const orgCount = async () =>
    (
      await api.t.db
        .selectFrom('organizations')
        .select((eb) => eb.fn.countAll<string>().as('n'))
        .executeTakeFirstOrThrow()
    ).n;

  it('replays the first response for the same key and body (keys in any order), creating once', async () => {
    const first = await request(api.app)
      .post('/v1/organizations')
      .set(admin)
      .set('Idempotency-Key', 'create-acme-1')
      .send({ name: 'Acme' });
    expect(first.status).toBe(201);
    expect(first.headers['idempotent-replayed']).toBeUndefined();
    const before = await orgCount();
    const again = await request(api.app)
      .post('/v1/organizations')
      .set(admin)
      .set('Idempotency-Key', 'create-acme-1')
      .set('Content-Type', 'application/json')
      .send('{ "name" : "Acme" }');
    expect(again.status).toBe(201);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(bodyOf(OrganizationSchema, again)).toEqual(bodyOf(OrganizationSchema, first));
    expect(await orgCount()).toBe(before);
  });

  it('422 for the same key with a different body; the key stays bound to the first request', async () => {
    await request(api.app)
      .post('/v1/organizations')
      .set(admin)
      .set('Idempotency-Key', 'create-2')
      .send({ name: 'Beta' });
    expectProblem(
      await request(api.app)
        .post('/v1/organizations')
        .set(admin)
        .set('Idempotency-Key', 'create-2')
        .send({ name: 'Gamma' }),
      422,
      'idempotency_key_reused',
    );
    expectProblem(
      await request(api.app).post('/v1/test/gated').set(admin).set('Idempotency-Key', 'create-2').send({ n: 'x' }),
      400,
      'validation_failed',
    );
    expectProblem(
      await request(api.app).post('/v1/test/gated').set(admin).set('Idempotency-Key', 'create-2').send({ n: 3 }),
      422,
      'idempotency_key_reused',
    );
    const replay = await request(api.app)
      .post('/v1/organizations')
      .set(admin)
      .set('Idempotency-Key', 'create-2')
      .send({ name: 'Beta' });
    expect(replay.headers['idempotent-replayed']).toBe('true');
  });

  it('409 while the first request with the key is still in flight, then a replay once it finished', async () => {
    const first = request(api.app)
      .post('/v1/test/gated')
      .set(admin)
      .set('Idempotency-Key', 'slow-1')
      .send({ n: 1 })
      .then((r) => r);
    await gated.inside;
    expectProblem(
      await request(api.app).post('/v1/test/gated').set(admin).set('Idempotency-Key', 'slow-1').send({ n: 1 }),
      409,
      'idempotency_request_in_progress',
    );
    expectProblem(
      await request(api.app).post('/v1/test/gated').set(admin).set('Idempotency-Key', 'slow-1').send({ n: 2 }),
      422,
      'idempotency_key_reused',
    );
    gated.open();
    const done = await first;
    expect(done.status).toBe(201);
    expect(done.body).toEqual({ n: 1, calls: 1 });
    const replay = await request(api.app)
      .post('/v1/test/gated')
      .set(admin)
      .set('Idempotency-Key', 'slow-1')
      .send({ n: 1 });
    expect(replay.status).toBe(201);
    expect(replay.headers['idempotent-replayed']).toBe('true');
    expect(replay.body).toEqual({ n: 1, calls: 1 });
    expect(gated.calls()).toBe(1);
  });

  it('does not consume the key on a validation failure or a 500, so the retry runs', async () => {
    expectProblem(
      await request(api.app).post('/v1/organizations').set(admin).set('Idempotency-Key', 'fix-and-retry').send({}),
      400,
      'validation_failed',
    );
    const fixed = await request(api.app)
      .post('/v1/organizations')
      .set(admin)
      .set('Idempotency-Key', 'fix-and-retry')
      .send({ name: 'Delta' });
    expect(fixed.status).toBe(201);
    expect(fixed.headers['idempotent-replayed']).toBeUndefined();

    const failed = expectProblem(
      await request(api.app).post('/v1/test/flaky').set(admin).set('Idempotency-Key', 'flaky-1').send({ n: 1 }),
      500,
      'internal_error',
    );
    expect(failed.detail).not.toContain('exploded');
    const retried = await request(api.app)
      .post('/v1/test/flaky')
      .set(admin)
      .set('Idempotency-Key', 'flaky-1')
      .send({ n: 1 });
    expect(retried.status).toBe(201);
    expect(retried.body).toEqual({ calls: 2 });
    expect(flaky.calls()).toBe(2);
  });

  it('scopes keys to the API key that sent them, and rejects an unusable key', async () => {
    const other = bearer(await api.key('admin'));
    const a = await request(api.app)
      .post('/v1/organizations')
      .set(admin)
      .set('Idempotency-Key', 'shared-name')
      .send({ name: 'Epsilon' });
    const b = await request(api.app)
      .post('/v1/organizations')
      .set(other)
      .set('Idempotency-Key', 'shared-name')
      .send({ name: 'Epsilon' });
    expect(b.status).toBe(201);
    expect(b.headers['idempotent-replayed']).toBeUndefined();
    expect(bodyOf(OrganizationSchema, b).id).not.toBe(bodyOf(OrganizationSchema, a).id);
    const tooLong = await request(api.app)
      .post('/v1/organizations')
      .set(admin)
      .set('Idempotency-Key', 'k'.repeat(256))
      .send({ name: 'Zeta' });
    expectProblem(tooLong, 400, 'invalid_idempotency_key');
  });
});
