import { sql } from 'kysely';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiKeyLookupsTotal } from '../../src/shared/metrics.ts';
import { bearer, createTestApi, expectProblem, type TestApi } from '../helpers/api-app.ts';
import { captureLogLines } from '../helpers/log-capture.ts';

/**
 * A refused mutating call (403, 400, 409…) is audited before its answer is written, with the request's pool. Under
 * load the pool may have no connection free for the audit row: the refusal must not go out without its row (the
 * README promises a row for every authenticated mutating call, refused ones included).
 */
const logLines = captureLogLines('info');
let api: TestApi;
let viewer: Record<string, string>;
let admin: Record<string, string>;

beforeAll(async () => {
  // One connection, and a short wait for it, so the test can take the whole pool away.
  api = await createTestApi({ env: { DB_POOL_MAX: '1', DB_POOL_WAIT_MS: '100' } });
  viewer = bearer(await api.key('viewer'));
  admin = bearer(api.adminKey);
});

afterAll(async () => {
  await api?.close();
});

const auditRowsOf = async (requestId: string) =>
  Number(
    (await sql<{ n: string }>`select count(*) as n from audit_log where request_id = ${requestId}`.execute(api.t.db))
      .rows[0]!.n,
  );

/** Runs `work` while the app's only pool connection is taken (as by other requests under load). */
async function withPoolExhausted<T>(work: () => Promise<T>): Promise<T> {
  let release: () => void = () => undefined;
  const held = new Promise<void>((r) => (release = r));
  let taken: () => void = () => undefined;
  const isTaken = new Promise<void>((r) => (taken = r));
  const holder = api.ctx.db.connection().execute(async () => {
    taken();
    await held;
  });
  await isTaken;
  try {
    return await work();
  } finally {
    release();
    await holder;
  }
}

const cacheHits = async () =>
  (await apiKeyLookupsTotal.get()).values.find((v) => v.labels.source === 'cache')?.value ?? 0;

/** Reads with `key` until a request found it in the cache (its listener is up and proven). */
async function untilKeyServedFromCache(key: Record<string, string>): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const before = await cacheHits();
    expect((await request(api.app).get('/v1/organizations').set(key)).status).toBe(200);
    if ((await cacheHits()) > before) {
      return;
    }
    if (Date.now() > deadline) {
      throw new Error('the API key cache never served the key');
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('audit rows of refused calls under load', () => {
  it('a refusal whose audit row cannot be written is not answered as a refusal without its row', async () => {
    // The key comes from the API's key cache before the pool is taken: only the audit row needs a connection.
    await untilKeyServedFromCache(viewer);

    const res = await withPoolExhausted(() =>
      request(api.app).post('/v1/organizations').set(viewer).set('X-Request-Id', 'refused-under-load').send({}),
    );
    expect(await auditRowsOf('refused-under-load')).toBe(0);
    // Not a 403 whose audit row is missing: the client is told to come back, and nothing was changed.
    expectProblem(res, 503, 'overloaded');
    expect(res.headers['retry-after']).toBe('2');

    // Once a connection is free again, the same refusal is answered and audited.
    expectProblem(
      await request(api.app).post('/v1/organizations').set(viewer).set('X-Request-Id', 'refused-after-load').send({}),
      403,
      'forbidden',
    );
    expect(await auditRowsOf('refused-after-load')).toBe(1);
  });

  it('a call that took effect keeps its answer, and a row that cannot be written is in the log, whole', async () => {
    await untilKeyServedFromCache(admin);
    // The queue board's actions need Redis only: this one takes effect while the pool is taken.
    const res = await withPoolExhausted(() =>
      request(api.app)
        .put('/admin/queues/api/queues/maintenance/resume')
        .set(admin)
        .set('X-Request-Id', 'done-under-load'),
    );
    expect(res.status).toBe(200);
    expect(await auditRowsOf('done-under-load')).toBe(0);
    const logged = logLines
      .map((l) => JSON.parse(l) as { msg?: string; audit?: Record<string, unknown> })
      .find((l) => l.msg === 'audit row not written');
    expect(logged?.audit).toMatchObject({
      requestId: 'done-under-load',
      method: 'PUT',
      route: '/admin/queues/*',
      targetType: 'queue',
      statusCode: 200,
    });
  });
});
