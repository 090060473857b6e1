import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, createTestApi, expectProblem, type TestApi } from '../helpers/api-app.ts';
import { chaos } from './support/chaos.ts';

/**
 * The findings of the outside probe, replayed so they stay closed: the queue board's tenant wall and
 * audit, SSRF through webhook and integration URLs (registration and connect time, DNS rebinding),
 * overload answered with 503 instead of 500, throttled failed authentication, and the minor ones
 * (metrics protection, no integration ids in metrics).
 */
const c = chaos('security-hardening');
let api: TestApi;
let orgId: string;

beforeAll(async () => {
  api = await createTestApi();
  const org = await request(api.app).post('/v1/organizations').set(bearer(api.adminKey)).send({ name: 'Org B' });
  expect(org.status).toBe(201);
  orgId = (org.body as { id: string }).id;
});

afterAll(async () => {
  await api.close();
  c.flush();
});

async function auditRows(route: string) {
  return api.ctx.db.selectFrom('audit_log').select(['method', 'route', 'status_code', 'api_key_prefix', 'target_type', 'target_id'])
    .where('route', '=', route).orderBy('occurred_at').execute();
}

describe('queue board', () => {
  it('refuses organization-scoped keys, admin included, on reads and actions (nothing paused)', async () => {
    const orgAdmin = await api.key('admin', orgId);
    expectProblem(await request(api.app).get('/admin/queues/api/queues?activeQueue=sync&status=completed').set(bearer(orgAdmin)), 403, 'organization_scope');
    expectProblem(await request(api.app).get('/admin/queues').auth('ops', orgAdmin), 403, 'organization_scope');
    expectProblem(await request(api.app).put('/admin/queues/api/queues/maintenance/pause').set(bearer(orgAdmin)), 403, 'organization_scope');
    expect(await api.ctx.queues.queue('maintenance').isPaused()).toBe(false);
    c.count('requests', 3);
  });

  it('audits every action of a deployment-wide admin (pause, resume, retry, clean) before answering', async () => {
    const actions = [
      ['put', '/admin/queues/api/queues/maintenance/pause'],
      ['put', '/admin/queues/api/queues/maintenance/resume'],
      ['put', '/admin/queues/api/queues/maintenance/retry/failed'],
      ['put', '/admin/queues/api/queues/maintenance/clean/completed'],
    ] as const;
    for (const [method, path] of actions) {
      const res = await request(api.app)[method](path).set(bearer(api.adminKey));
      expect(res.status, path).toBe(200);
      c.count('requests');
    }
    expect(await api.ctx.queues.queue('maintenance').isPaused()).toBe(false);
    const rows = await auditRows('/admin/queues/*');
    const ok = rows.filter((r) => r.status_code === 200);
    expect(ok.map((r) => r.target_id)).toEqual(actions.map(([, p]) => p.replace('/admin/queues', '')));
    expect(ok.every((r) => r.method === 'PUT' && r.target_type === 'queue' && r.api_key_prefix === api.adminKey.split('_')[1])).toBe(true);
    // The refused attempt of the org-scoped admin is on record too.
    expect(rows.some((r) => r.status_code === 403 && r.target_id === '/api/queues/maintenance/pause')).toBe(true);
  });
});
