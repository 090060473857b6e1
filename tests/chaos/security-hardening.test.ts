import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADDRESS_REFUSED, CONNECTION_FAILED, runWebhookDeliveries } from '../../src/events/webhook-delivery.ts';
import { JpmClient } from '../../src/jpm/client.ts';
import { buildApiApp } from '../../src/main/api.ts';
import { createOutboundPolicy, type Resolver } from '../../src/shared/outbound-policy.ts';
import { createClientCredential, ensureDevPki } from '../../src/simulator/index.ts';
import { bearer, createTestApi, expectProblem, type TestApi } from '../helpers/api-app.ts';
import { chaos } from './support/chaos.ts';
import { captureLogs } from './support/logs.ts';

/**
 * The findings of the outside probe, replayed so they stay closed: the queue board's tenant wall and
 * audit, SSRF through webhook and integration URLs (registration and connect time, DNS rebinding),
 * overload answered with 503 instead of 500, throttled failed authentication, and the minor ones
 * (metrics protection, no integration ids in metrics).
 */
const c = chaos('security-hardening');
const logs = captureLogs('debug');
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

/** A webhook receiver on loopback that counts what reaches it. */
async function startReceiver(): Promise<{ port: number; hits: () => number; close: () => Promise<void> }> {
  let hits = 0;
  const server = createServer((_req, res) => {
    hits++;
    res.writeHead(204).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as AddressInfo).port, hits: () => hits, close: () => new Promise((r) => server.close(() => r())) };
}

/** A resolver whose answer the test moves, as a hostile DNS server would between registration and delivery. */
function movingResolver(table: Record<string, string>): Resolver {
  return (host) => {
    const address = table[host];
    return address === undefined
      ? Promise.reject(Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' }))
      : Promise.resolve([{ address, family: address.includes(':') ? 6 : 4 }]);
  };
}

describe('SSRF: webhook URLs', () => {
  const dns: Record<string, string> = { 'hooks.rebind.test': '93.184.216.34', 'metadata.google.internal': '169.254.169.254', 'intranet.test': '10.0.0.7' };
  const strict = createOutboundPolicy({ resolver: movingResolver(dns) });
  let app: ReturnType<typeof buildApiApp>;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let orgAdmin: string;

  beforeAll(async () => {
    // The deployment's policy with no exceptions (production), and a resolver the test controls.
    app = buildApiApp({ ...api.ctx, outbound: strict });
    receiver = await startReceiver();
    orgAdmin = await api.key('admin', orgId);
  });
  afterAll(async () => {
    await receiver.close();
  });

  const deliver = (outbound = strict) => runWebhookDeliveries({ db: api.ctx.db, keys: api.ctx.secrets, outbound, timeoutMs: 3_000, retry: { baseMs: 60_000, maxMs: 60_000 } });
  async function lastErrorOf(endpointId: string): Promise<string | null> {
    const res = await request(app).get(`/v1/webhooks/${endpointId}/deliveries`).set(bearer(await api.key('viewer', orgId)));
    expect(res.status).toBe(200);
    return (res.body as { data: { lastError: string | null }[] }).data[0]?.lastError ?? null;
  }

  it('refuses internal addresses in every spelling at registration (create and update)', async () => {
    const port = receiver.port;
    const probes = [
      'https://169.254.169.254/latest/meta-data/', 'https://10.0.0.1/', 'https://metadata.google.internal/', 'https://127.0.0.1:6379/',
      `https://[::1]:${port}/`, `https://2130706433:${port}/`, `https://0x7f.1:${port}/`, `https://[::ffff:127.0.0.1]:${port}/`, `http://0177.0.0.1:${port}/`,
      `http://127.1:${port}/`, 'https://[64:ff9b::a9fe:a9fe]/', 'https://[2002:7f00:1::]/', 'https://[fd00::1]/', 'https://[fe80::1]/', 'https://100.64.0.1/',
      'https://0.0.0.0/', 'https://224.0.0.1/', 'https://255.255.255.255/', 'https://localhost/', 'https://intranet.test/',
    ];
    for (const url of probes) {
      const res = await request(app).post('/v1/webhooks').set(bearer(orgAdmin)).send({ url, eventTypes: ['*'] });
      expect(expectProblem(res, 400, 'outbound_address_refused').errors, url).toEqual([{ path: 'body.url', message: 'address not allowed' }]);
      c.count('requests');
    }
    const ok = await request(app).post('/v1/webhooks').set(bearer(orgAdmin)).send({ url: 'https://hooks.rebind.test/in', eventTypes: ['*'] });
    expect(ok.status).toBe(201);
    const id = (ok.body as { id: string }).id;
    expectProblem(await request(app).patch(`/v1/webhooks/${id}`).set(bearer(orgAdmin)).send({ url: 'https://[::ffff:a9fe:a9fe]/' }), 400, 'outbound_address_refused');
    await request(app).delete(`/v1/webhooks/${id}`).set(bearer(orgAdmin));
    expect(await api.ctx.db.selectFrom('webhook_endpoints').select('url').where('url', 'like', '%169.254%').execute()).toEqual([]);
  });

  it('refuses at connect time a host that resolves elsewhere after registration (DNS rebinding), and loopback rows stored earlier', async () => {
    dns['hooks.rebind.test'] = '93.184.216.34';
    const created = await request(app).post('/v1/webhooks').set(bearer(orgAdmin)).send({ url: `http://hooks.rebind.test:${receiver.port}/in`, eventTypes: ['webhook.ping'] });
    expect(created.status).toBe(201);
    const endpointId = (created.body as { id: string }).id;
    dns['hooks.rebind.test'] = '127.0.0.1';
    expect((await request(app).post(`/v1/webhooks/${endpointId}/ping`).set(bearer(orgAdmin))).status).toBe(202);
    const pass = await deliver();
    expect(pass.attempted).toBe(1);
    expect(receiver.hits()).toBe(0);
    expect(await lastErrorOf(endpointId)).toBe(ADDRESS_REFUSED);

    // A row from before the policy (or written around the API), in disguise: refused when connecting.
    for (const url of [`http://[::ffff:127.0.0.1]:${receiver.port}/`, `http://2130706433:${receiver.port}/`, `http://[::1]:${receiver.port}/`]) {
      await sql`update webhook_endpoints set url = ${url} where id = ${endpointId}`.execute(api.ctx.db);
      await request(app).post(`/v1/webhooks/${endpointId}/ping`).set(bearer(orgAdmin));
      expect((await deliver()).attempted, url).toBeGreaterThanOrEqual(1);
      expect(receiver.hits(), url).toBe(0);
    }

    // The same delivery path with loopback allow-listed (a development machine) does reach it: the
    // refusals above are the policy's, not a broken receiver.
    await sql`update webhook_endpoints set url = ${`http://hooks.rebind.test:${receiver.port}/in`} where id = ${endpointId}`.execute(api.ctx.db);
    await request(app).post(`/v1/webhooks/${endpointId}/ping`).set(bearer(orgAdmin));
    await deliver(createOutboundPolicy({ allow: ['127.0.0.0/8'], resolver: movingResolver(dns) }));
    expect(receiver.hits()).toBe(1);
    await request(app).delete(`/v1/webhooks/${endpointId}`).set(bearer(orgAdmin));
    await sql`update webhook_deliveries set status = 'failed' where status = 'pending'`.execute(api.ctx.db);
  });

  it('shows the owner "connection failed" whether the port is closed or resets, with the detail only in the log', async () => {
    const loopback = createOutboundPolicy({ allow: ['127.0.0.0/8'] });
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const closedPort = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const resetter = createNetServer((socket) => socket.resetAndDestroy());
    await new Promise<void>((r) => resetter.listen(0, '127.0.0.1', r));
    const resetPort = (resetter.address() as AddressInfo).port;
    const errors: (string | null)[] = [];
    try {
      for (const port of [closedPort, resetPort]) {
        const created = await request(api.app).post('/v1/webhooks').set(bearer(orgAdmin)).send({ url: `http://127.0.0.1:${port}/in`, eventTypes: ['webhook.ping'] });
        expect(created.status).toBe(201);
        const endpointId = (created.body as { id: string }).id;
        await request(api.app).post(`/v1/webhooks/${endpointId}/ping`).set(bearer(orgAdmin));
        await deliver(loopback);
        errors.push(await lastErrorOf(endpointId));
        await request(api.app).delete(`/v1/webhooks/${endpointId}`).set(bearer(orgAdmin));
      }
    } finally {
      await new Promise<void>((r) => resetter.close(() => r()));
    }
    expect(errors).toEqual([CONNECTION_FAILED, CONNECTION_FAILED]);
    const attempts = await api.ctx.db.selectFrom('webhook_delivery_attempts').select('error').execute();
    expect(attempts.map((a) => a.error).join(' ')).not.toMatch(/ECONN|EPIPE|ETIMEDOUT|socket|refused|reset/i);
    // The operator still learns what happened.
    const detail = logs.filter((l) => l.includes('webhook receiver not reached')).join('\n');
    expect(detail).toContain('ECONNREFUSED');
    expect(detail).toContain('ECONNRESET');
  });
});

describe('SSRF: integration base URLs and the connection test', () => {
  const dns: Record<string, string> = { 'bank.rebind.test': '93.184.216.34' };
  const strict = createOutboundPolicy({ resolver: movingResolver(dns) });
  let app: ReturnType<typeof buildApiApp>;
  let operator: string;
  let integrationId: string;
  let tlsPort: number;
  let connections = 0;
  let tlsServer: NetServer;
  let credential: { id: string; certPem: string; keyPem: string; caPem: string };
  let pkiDir: string;

  beforeAll(async () => {
    app = buildApiApp({ ...api.ctx, outbound: strict });
    operator = await api.key('operator', orgId);
    const created = await request(app).post('/v1/integrations').set(bearer(operator)).send({ name: 'Probe Co', environment: 'cat' });
    expect(created.status).toBe(201);
    integrationId = (created.body as { id: string }).id;
    // Something listening on loopback that would receive our client certificate if we connected.
    tlsServer = createNetServer((socket) => {
      connections++;
      socket.destroy();
    });
    await new Promise<void>((r) => tlsServer.listen(0, '127.0.0.1', r));
    tlsPort = (tlsServer.address() as AddressInfo).port;
    pkiDir = await mkdtemp(join(tmpdir(), 'ssrf-pki-'));
    const pki = await ensureDevPki(pkiDir);
    const issued = await createClientCredential(pki, { commonName: 'ssrf-probe' });
    credential = { id: 'ssrf-probe', certPem: issued.certPem, keyPem: issued.keyPem, caPem: pki.caCertPem };
  });
  afterAll(async () => {
    await new Promise<void>((r) => tlsServer.close(() => r()));
    await rm(pkiDir, { recursive: true, force: true });
  });

  it('refuses internal base URLs, and non-J.P. Morgan hosts for cat and prod unless the operator approved them', async () => {
    const patch = (body: object, on = app) => request(on).patch(`/v1/integrations/${integrationId}`).set(bearer(operator)).send(body);
    for (const baseUrl of ['https://127.0.0.1:6379', 'https://169.254.169.254', 'https://[::ffff:127.0.0.1]:8443', 'https://2130706433', 'https://localhost:8443']) {
      expectProblem(await patch({ environment: 'simulator', baseUrl }), 400, 'outbound_address_refused');
      c.count('requests');
    }
    for (const baseUrl of ['https://evil.example', 'https://apigateway.jpmorgan.com.evil.example', 'https://127.0.0.1:6379']) {
      expectProblem(await patch({ environment: 'cat', baseUrl }), 400, 'base_url_not_allowed');
      expectProblem(await patch({ environment: 'prod', baseUrl }), 400, 'base_url_not_allowed');
    }
    expectProblem(
      await request(app).post('/v1/integrations').set(bearer(operator)).send({ name: 'x', environment: 'simulator', baseUrl: 'https://10.1.2.3:8443' }),
      400, 'outbound_address_refused',
    );
    const row = await api.ctx.db.selectFrom('integrations').select(['environment', 'base_url']).where('id', '=', integrationId).executeTakeFirstOrThrow();
    expect(row).toEqual({ environment: 'cat', base_url: 'https://apigatewaycat.jpmorgan.com' });
    expect((await patch({ environment: 'prod', baseUrl: 'https://apigateway.jpmorgan.com' })).status).toBe(200);
    // An operator-approved host (JPM_BASE_URL_HOSTS) is accepted; its address is still checked.
    dns['jpm-egress.corp.example'] = '93.184.216.35';
    const approved = buildApiApp({ ...api.ctx, outbound: strict, config: { ...api.ctx.config, outbound: { allow: [], jpmBaseUrlHosts: ['jpm-egress.corp.example'] } } });
    expect((await patch({ environment: 'prod', baseUrl: 'https://jpm-egress.corp.example' }, approved)).status).toBe(200);
    dns['jpm-egress.corp.example'] = '10.9.9.9';
    expectProblem(await patch({ environment: 'cat', baseUrl: 'https://jpm-egress.corp.example' }, approved), 400, 'outbound_address_refused');
  });

  it('never connects to a forbidden address at connect time (literal or rebound name): no client certificate is presented', async () => {
    for (const baseUrl of [`https://127.0.0.1:${tlsPort}`, `https://[::ffff:127.0.0.1]:${tlsPort}`, `https://bank.rebind.test:${tlsPort}`]) {
      dns['bank.rebind.test'] = '127.0.0.1';
      const client = new JpmClient({ baseUrl, credentials: () => Promise.resolve(credential), outbound: strict, refusalProbeMs: 200 });
      try {
        await expect(client.getBalances({ relativeDateType: 'CURRENT_DAY' }), baseUrl).rejects.toMatchObject({ code: 'jpm_address_not_allowed', retryable: false });
        const report = await client.testConnection();
        expect(report, baseUrl).toMatchObject({ ok: false, failure: 'address_not_allowed' });
      } finally {
        await client.close();
      }
    }
    expect(connections).toBe(0);
    // With loopback allow-listed (development), the same client does connect: the refusals are the policy's.
    const dev = new JpmClient({ baseUrl: `https://127.0.0.1:${tlsPort}`, credentials: () => Promise.resolve(credential), outbound: createOutboundPolicy({ allow: ['127.0.0.1'] }), refusalProbeMs: 200 });
    try {
      await expect(dev.getBalances({ relativeDateType: 'CURRENT_DAY' })).rejects.toBeDefined();
    } finally {
      await dev.close();
    }
    expect(connections).toBeGreaterThan(0);
  });
});
