import { sql } from 'kysely';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { OrganizationSchema } from '../../src/admin-api/organizations.routes.ts';
import { defineRoute } from '../../src/http/routes.ts';
import { createTestCa, issueFromCsr, SERVER_AUTH_ONLY } from '../factories/certificates.ts';
import { CSR_SUBJECT } from '../factories/onboarding.ts';
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

interface HeldCall {
  succeed(): void;
  fail(): void;
}

/**
 * A route whose every call is held until the test ends it, with success or with an unexpected error (a 500), so
 * two requests with the same key can be in the handler at once and end in the order the test chooses.
 */
function heldRoute(path: `/${string}`) {
  let calls = 0;
  const arrived: HeldCall[] = [];
  const waiting: ((call: HeldCall) => void)[] = [];
  const route = defineRoute({
    method: 'post',
    path,
    permission: 'organizations:write',
    summary: 'test only',
    tags: ['Test'],
    request: { body: z.object({ n: z.number() }) },
    response: { status: 201, schema: z.object({ n: z.number(), call: z.number() }), description: 'test' },
    handler: ({ body }) =>
      new Promise((resolve, reject) => {
        const call = ++calls;
        const held = {
          succeed: () => resolve({ n: body.n, call }),
          fail: () => reject(new Error('the backend fell over')),
        };
        const waiter = waiting.shift();
        if (waiter) {
          waiter(held);
        } else {
          arrived.push(held);
        }
      }),
  });
  /** The next call to reach the handler. */
  const nextCall = () =>
    new Promise<HeldCall>((resolve) => {
      const held = arrived.shift();
      if (held) {
        resolve(held);
      } else {
        waiting.push(resolve);
      }
    });
  return { route, path, nextCall, calls: () => calls };
}

/**
 * Sends a request expected to be refused before the handler. Should it reach the handler instead (the defect under
 * test), that call is let through so the test ends with a failed assertion rather than a timeout.
 */
async function refusedBeforeHandler(held: ReturnType<typeof heldRoute>, send: () => Promise<request.Response>) {
  const response = send();
  const entered = await Promise.race([response.then(() => undefined), held.nextCall()]);
  entered?.succeed();
  return response;
}

describe('Idempotency-Key', () => {
  let api: TestApi;
  let admin: { Authorization: string };
  const gated = gatedRoute();
  const flaky = flakyRoute();
  const takenOverFails = heldRoute('/v1/test/taken-over-fails');
  const takenOverSucceeds = heldRoute('/v1/test/taken-over-succeeds');
  beforeAll(async () => {
    api = await createTestApi({
      extraRoutes: [gated.route, flaky.route, takenOverFails.route, takenOverSucceeds.route],
    });
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

  it("does not consume the key on a 400 from the handler's own checks either, so the fixed request runs", async () => {
    const organization = bodyOf(
      OrganizationSchema,
      await request(api.app).post('/v1/organizations').set(admin).send({ name: 'Theta' }),
    );
    const integrationCount = async () =>
      (
        await api.t.db
          .selectFrom('integrations')
          .select((eb) => eb.fn.countAll<string>().as('n'))
          .executeTakeFirstOrThrow()
      ).n;
    const before = await integrationCount();
    // The schema takes the body; the handler refuses it (a key for all organizations must name one).
    const refused = expectProblem(
      await request(api.app)
        .post('/v1/integrations')
        .set(admin)
        .set('Idempotency-Key', 'handler-400')
        .send({ name: 'Theta J.P. Morgan', baseUrl: 'https://127.0.0.1:1' }),
      400,
      'validation_failed',
    );
    expect(refused.errors).toEqual([{ path: 'body.organizationId', message: 'required' }]);
    expect(await integrationCount()).toBe(before);
    const fixed = await request(api.app)
      .post('/v1/integrations')
      .set(admin)
      .set('Idempotency-Key', 'handler-400')
      .send({ organizationId: organization.id, name: 'Theta J.P. Morgan', baseUrl: 'https://127.0.0.1:1' });
    expect(fixed.status, fixed.text).toBe(201);
    expect(fixed.headers['idempotent-replayed']).toBeUndefined();
    expect(Number(await integrationCount())).toBe(Number(before) + 1);
    // The key now belongs to the request that ran: its answer is replayed.
    const replay = await request(api.app)
      .post('/v1/integrations')
      .set(admin)
      .set('Idempotency-Key', 'handler-400')
      .send({ organizationId: organization.id, name: 'Theta J.P. Morgan', baseUrl: 'https://127.0.0.1:1' });
    expect(replay.headers['idempotent-replayed']).toBe('true');
    expect(replay.body).toEqual(fixed.body);
    expect(Number(await integrationCount())).toBe(Number(before) + 1);
  });

  it('does not consume the key on a 422 refusal of the content (a certificate refused), so the corrected request runs', async () => {
    const organization = bodyOf(
      OrganizationSchema,
      await request(api.app).post('/v1/organizations').set(admin).send({ name: 'Iota' }),
    );
    const integration = await request(api.app)
      .post('/v1/integrations')
      .set(admin)
      .send({ organizationId: organization.id, name: 'Iota J.P. Morgan', baseUrl: 'https://127.0.0.1:1' });
    expect(integration.status, integration.text).toBe(201);
    const id = (integration.body as { id: string }).id;
    const keyPair = await request(api.app)
      .post(`/v1/integrations/${id}/key-pairs`)
      .set(admin)
      .send({ subject: CSR_SUBJECT });
    expect(keyPair.status, keyPair.text).toBe(201);
    const csrPem = (keyPair.body as { csrPem: string }).csrPem;
    const ca = await createTestCa();
    const install = (certificatePem: string) =>
      request(api.app)
        .post(`/v1/integrations/${id}/certificates`)
        .set(admin)
        .set('Idempotency-Key', 'refused-certificate')
        .send({ certificatePem });
    // A server certificate, not a TLS client one: refused, nothing installed.
    expectProblem(await install(await issueFromCsr(ca, csrPem, { eku: SERVER_AUTH_ONLY })), 422, 'certificate_refused');
    const corrected = await install(await issueFromCsr(ca, csrPem));
    expect(corrected.status, corrected.text).toBe(201);
    expect(corrected.headers['idempotent-replayed']).toBeUndefined();
    const certificates = await api.t.db
      .selectFrom('certificates')
      .select('id')
      .where('integration_id', '=', id)
      .execute();
    expect(certificates).toHaveLength(1);
  });

  /** Makes the key's claim look abandoned: its request's process stopped renewing it 3 minutes ago. */
  const abandon = (key: string) =>
    api.t.db
      .updateTable('idempotency_keys')
      .set({ locked_at: new Date(Date.now() - 3 * 60_000) })
      .where('key', '=', key)
      .execute();

  it("a request whose claim was taken over and then fails does not release the new owner's claim", async () => {
    const held = takenOverFails;
    const post = () =>
      request(api.app).post(held.path).set(admin).set('Idempotency-Key', 'taken-over-1').send({ n: 1 });
    const first = post().then((r) => r);
    const a = await held.nextCall();
    await abandon('taken-over-1');
    // The claim looks abandoned (a process that died): a retry takes it over and runs.
    const second = post().then((r) => r);
    const b = await held.nextCall();
    a.fail();
    expectProblem(await first, 500, 'internal_error');
    // The first request's 500 must not free the key while the second is still running.
    expectProblem(await refusedBeforeHandler(held, post), 409, 'idempotency_request_in_progress');
    b.succeed();
    expect((await second).body).toEqual({ n: 1, call: 2 });
    const replay = await post();
    expect(replay.headers['idempotent-replayed']).toBe('true');
    expect(replay.body).toEqual({ n: 1, call: 2 });
    expect(held.calls()).toBe(2);
  });

  it("a request whose claim was taken over does not store its response over the new owner's", async () => {
    const held = takenOverSucceeds;
    const post = () =>
      request(api.app).post(held.path).set(admin).set('Idempotency-Key', 'taken-over-2').send({ n: 2 });
    const first = post().then((r) => r);
    const a = await held.nextCall();
    await abandon('taken-over-2');
    const second = post().then((r) => r);
    const b = await held.nextCall();
    a.succeed();
    expect((await first).body).toEqual({ n: 2, call: 1 });
    // The key belongs to the second request now: still in progress, not a replay of the first's answer.
    expectProblem(await refusedBeforeHandler(held, post), 409, 'idempotency_request_in_progress');
    b.succeed();
    expect((await second).body).toEqual({ n: 2, call: 2 });
    const replay = await post();
    expect(replay.headers['idempotent-replayed']).toBe('true');
    expect(replay.body).toEqual({ n: 2, call: 2 });
    expect(held.calls()).toBe(2);
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

describe('Idempotency-Key on a request that runs longer than the takeover window', () => {
  // 2 s instead of 2 min, so the test can outlast it (renewed every 500 ms).
  const TAKEOVER_MS = 2_000;
  let api: TestApi;
  const held = heldRoute('/v1/test/long-running');
  const unstored = heldRoute('/v1/test/unstored-answer');
  beforeAll(async () => {
    api = await createTestApi({ extraRoutes: [held.route, unstored.route], idempotencyTakeoverMs: TAKEOVER_MS });
  });
  afterAll(async () => {
    await api.close();
  });

  it('keeps the key while the request lives: a retry is a 409 and the operation runs once', async () => {
    const post = () =>
      request(api.app).post(held.path).set(bearer(api.adminKey)).set('Idempotency-Key', 'long-1').send({ n: 1 });
    const first = post().then((r) => r);
    const running = await held.nextCall();
    // Alive but slow: the first request is still in its handler well past the takeover window.
    await new Promise((r) => setTimeout(r, TAKEOVER_MS * 1.5));
    expectProblem(await refusedBeforeHandler(held, post), 409, 'idempotency_request_in_progress');
    running.succeed();
    expect((await first).body).toEqual({ n: 1, call: 1 });
    const replay = await post();
    expect(replay.headers['idempotent-replayed']).toBe('true');
    expect(replay.body).toEqual({ n: 1, call: 1 });
    expect(held.calls()).toBe(1);
  });

  it('keeps the key when the answer could not be stored at first: a retry waits (409), never runs it again, and gets the first answer once stored', async () => {
    // Storing this key's answer fails (as on a database hiccup) until the trigger is dropped; renewing the claim works.
    await sql`create function test_refuse_idempotent_done() returns trigger language plpgsql as $$
      begin raise exception 'idempotency answer refused by test'; end $$`.execute(api.t.db);
    await sql`create trigger test_refuse_idempotent_done before update on idempotency_keys for each row
      when (new.status = 'done' and new.key = 'unstored-1') execute function test_refuse_idempotent_done()`.execute(
      api.t.db,
    );
    const post = () =>
      request(api.app)
        .post(unstored.path)
        .set(bearer(api.adminKey))
        .set('Idempotency-Key', 'unstored-1')
        .send({ n: 7 });
    let first: request.Response;
    try {
      const sent = post().then((r) => r);
      (await unstored.nextCall()).succeed();
      first = await sent;
      expect(first.status).toBe(201);
      // Past the takeover window: the operation took effect, so a retry must not run it again.
      await new Promise((r) => setTimeout(r, TAKEOVER_MS * 1.5));
      expectProblem(await refusedBeforeHandler(unstored, post), 409, 'idempotency_request_in_progress');
    } finally {
      await sql`drop trigger test_refuse_idempotent_done on idempotency_keys`.execute(api.t.db);
      await sql`drop function test_refuse_idempotent_done()`.execute(api.t.db);
    }
    // Once the answer can be stored, a retry gets it.
    let replay = await refusedBeforeHandler(unstored, post);
    for (let i = 0; i < 300 && replay.headers['idempotent-replayed'] !== 'true'; i++) {
      expectProblem(replay, 409, 'idempotency_request_in_progress');
      await new Promise((r) => setTimeout(r, 100));
      replay = await refusedBeforeHandler(unstored, post);
    }
    expect(replay.headers['idempotent-replayed']).toBe('true');
    expect(replay.body).toEqual(first.body);
    expect(unstored.calls()).toBe(1);
  });
});
