import pg from 'pg';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { quoteIdent } from '../../src/storage/db.ts';
import { createAccount, createTenancy, type Tenancy } from '../factories/tenancy.ts';
import { bearer, createTestApi, type TestApi } from '../helpers/api-app.ts';
import { PG_ADMIN_URL } from '../helpers/env.ts';
import { obliterate } from '../helpers/orchestration.ts';

/**
 * What the API and the console answer while Postgres takes no writes (a primary demoted or set read-only during a
 * failover): the truth, a 503 to retry later, never a 500 "unexpected error" that pages someone for a bug; reads go on.
 */
async function admin(sqlText: string): Promise<void> {
  const c = new pg.Client({ connectionString: PG_ADMIN_URL });
  await c.connect();
  try {
    await c.query(sqlText);
  } finally {
    await c.end();
  }
}

async function signIn(app: TestApi['app'], key: string): Promise<{ cookie: string; csrf: string }> {
  const form = await request(app).get('/console/sign-in');
  const pre = ([] as string[])
    .concat(form.headers['set-cookie'] ?? [])
    .find((c) => c.startsWith('jpms_console_signin='));
  const token = /name="_csrf" value="([^"]+)"/.exec(form.text)![1]!;
  const res = await request(app)
    .post('/console/sign-in')
    .set('Cookie', pre!.split(';')[0]!)
    .type('form')
    .send({ _csrf: token, apiKey: key });
  const session = ([] as string[]).concat(res.headers['set-cookie'] ?? []).find((c) => c.startsWith('jpms_console='));
  const cookie = session!.split(';')[0]!;
  const board = await request(app).get('/console/').set('Cookie', cookie);
  return { cookie, csrf: /name="_csrf" value="([^"]+)"/.exec(board.text)![1]! };
}

describe('answers while Postgres is read-only', () => {
  let api: TestApi;
  let tenancy: Tenancy;
  let accountId: string;
  let key: string;
  let session: { cookie: string; csrf: string };

  beforeAll(async () => {
    api = await createTestApi();
    tenancy = await createTenancy(api.t.db);
    accountId = (await createAccount(api.t.db, tenancy)).id;
    key = await api.key('operator', tenancy.organizationId);
    session = await signIn(api.app, key);
    await admin(`alter database ${quoteIdent(api.t.name)} set default_transaction_read_only = on`);
    // Connections opened before keep their setting: close them, as a failover does.
    await admin(
      `select pg_terminate_backend(pid) from pg_stat_activity where datname = '${api.t.name}' and pid <> pg_backend_pid()`,
    );
  });

  afterAll(async () => {
    if (api) {
      await admin(`alter database ${quoteIdent(api.t.name)} reset default_transaction_read_only`).catch(() => {});
      await obliterate(api.ctx.queues);
      await api.close();
    }
  });

  it('a write through the API is a 503 saying the database takes no writes, with Retry-After; reads go on', async () => {
    // The first requests after the failover may meet pooled connections whose end the process has not seen yet
    // (more than one under load): each is a 503 to retry (never a 500), and the pool replaces the connection.
    let res = await request(api.app).get(`/v1/accounts/${accountId}`).set(bearer(key));
    for (let i = 0; i < 20 && res.status !== 200; i++) {
      expect(res.status, JSON.stringify(res.body)).toBe(503);
      expect(res.body).toMatchObject({ code: 'database_unavailable' });
      expect(res.headers['retry-after']).toBe('2');
      res = await request(api.app).get(`/v1/accounts/${accountId}`).set(bearer(key));
    }
    expect(res.status).toBe(200);
    const write = await request(api.app)
      .post(`/v1/accounts/${accountId}/pause`)
      .set(bearer(key))
      .send({ reason: 'maintenance' });
    expect(write.status, JSON.stringify(write.body)).toBe(503);
    expect(write.body).toMatchObject({ code: 'database_read_only' });
    expect(write.headers['retry-after']).toBeDefined();
  });

  it('a console form says the database takes no writes, not "an unexpected error"', async () => {
    const res = await request(api.app)
      .post(`/console/integrations/${tenancy.integrationId}/actions/pause-account`)
      .set('Cookie', session.cookie)
      .type('form')
      .send({ _csrf: session.csrf, accountId, _back: `/console/integrations/${tenancy.integrationId}` });
    expect(res.status).toBe(303);
    const page = await request(api.app)
      .get(`/console/integrations/${tenancy.integrationId}`)
      .set('Cookie', session.cookie);
    expect(page.text).not.toContain('An unexpected error occurred');
    expect(page.text).toMatch(/read-only/);
  });
});

describe('answers while Redis is away', () => {
  let api: TestApi;

  beforeAll(async () => {
    // Nothing listens on port 1: every Redis command fails as it does while Redis is down.
    api = await createTestApi({ env: { REDIS_URL: 'redis://127.0.0.1:1' } });
  });

  afterAll(async () => {
    await api?.close();
  });

  it('a console page is a console page saying the store is away (503), not the API JSON problem document', async () => {
    const res = await request(api.app)
      .get('/console/')
      .set('Cookie', `jpms_console=${'a'.repeat(43)}`);
    expect(res.status).toBe(503);
    expect(res.headers['content-type']).toMatch(/^text\/html/);
    expect(res.text).toContain('unavailable');
    expect(res.text).not.toMatch(/\.ts:\d+|\n\s+at /);
  });
});
