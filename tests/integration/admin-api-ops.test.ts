import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { PERMISSIONS, roleAllows, API_KEY_ROLES } from '../../src/domain/access.ts';
import { defineRoute, routesOf, type Route } from '../../src/http/routes.ts';
import { buildApiApp } from '../../src/main/api.ts';
import { QUEUE_NAMES } from '../../src/scheduler/index.ts';
import { captureLogLines } from '../helpers/log-capture.ts';
import { bearer, createTestApi, expectProblem, type TestApi } from '../helpers/api-app.ts';

const logLines = captureLogLines();

const boom = defineRoute({
  method: 'get',
  path: '/v1/test/boom',
  permission: 'organizations:read',
  summary: 'test only',
  tags: ['Test'],
  response: { status: 200, schema: z.object({}), description: 'never' },
  handler: () => Promise.reject(new Error('connect ECONNREFUSED 10.0.0.7:5432 while reading jpms_abcdefgh_secret')),
});

/** A concrete URL for a route template: every `{param}` becomes a fresh UUID. */
function concretePath(route: Route): string {
  return route.path.replace(/\{[^}]+\}/g, '01935f3c-8e3a-7c2e-9a51-0d2f6f1f9b11');
}

function send(app: Parameters<typeof request>[0], route: Route, headers: Record<string, string> = {}): request.Test {
  const req = request(app)[route.method](concretePath(route)).set(headers);
  return route.method === 'get' ? req : req.send({});
}

interface OpenApiDoc {
  openapi: string;
  info: { title: string; version: string };
  paths: Record<
    string,
    Record<
      string,
      {
        operationId: string;
        security?: unknown[];
        parameters?: { in: string; name: string; required?: boolean }[];
        responses: Record<string, { content?: Record<string, unknown> }>;
      }
    >
  >;
  components: { schemas: Record<string, unknown>; securitySchemes: Record<string, { type: string; scheme?: string }> };
}

function refs(value: unknown, out: string[] = []): string[] {
  if (Array.isArray(value)) {
    value.forEach((v) => refs(v, out));
  } else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (k === '$ref' && typeof v === 'string') {
        out.push(v);
      } else {
        refs(v, out);
      }
    }
  }
  return out;
}

describe('API operations, OpenAPI and security surface', () => {
  let api: TestApi;
  let routes: readonly Route[];
  beforeAll(async () => {
    api = await createTestApi({ extraRoutes: [boom] });
    // The product's routes, enumerated from the app that serves them (not a hand list).
    routes = routesOf(buildApiApp(api.ctx));
  });
  afterAll(async () => {
    await api.close();
  });

  it('serves an OpenAPI 3.1 document that lists every registered route', async () => {
    expect(routes.length).toBeGreaterThanOrEqual(5);
    const res = await request(buildApiApp(api.ctx)).get('/openapi.json');
    expect(res.status).toBe(200);
    const doc = res.body as OpenApiDoc;
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.info.title).toBeTruthy();
    expect(doc.components.securitySchemes.bearerAuth).toEqual(
      expect.objectContaining({ type: 'http', scheme: 'bearer' }),
    );
    const operationIds = new Set<string>();
    for (const route of routes) {
      const op = doc.paths[route.path]?.[route.method];
      expect(op, `${route.method} ${route.path}`).toBeDefined();
      if (!op) {
        continue;
      }
      expect(operationIds.has(op.operationId)).toBe(false);
      operationIds.add(op.operationId);
      expect(op.security).toEqual([{ bearerAuth: [] }]);
      expect(Object.keys(op.responses).some((s) => s.startsWith('2'))).toBe(true);
      expect(op.responses['401']?.content).toHaveProperty(['application/problem+json']);
      for (const name of [...route.path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1])) {
        expect(op.parameters).toContainEqual(expect.objectContaining({ in: 'path', name, required: true }));
      }
    }
    for (const ref of refs(doc)) {
      expect(ref).toMatch(/^#\/components\/schemas\//);
      expect(doc.components.schemas).toHaveProperty([ref.split('/').pop() ?? '']);
    }
    expect(doc.paths['/v1/test/boom']).toBeUndefined();
  });

  it('answers 401 to an unauthenticated or wrongly authenticated call on every route', async () => {
    for (const route of routes) {
      const anonymous = await send(api.app, route);
      expectProblem(anonymous, 401, 'unauthenticated');
      expect(anonymous.headers['www-authenticate']).toMatch(/^Bearer/);
      expectProblem(await send(api.app, route, bearer(`jpms_aaaaaaaa_${'B'.repeat(40)}`)), 401, 'invalid_api_key');
    }
  });

  it("answers 403 on every route the key's role does not allow (the table in src/domain/access.ts)", async () => {
    expect(new Set(routes.map((r) => r.permission)).size).toBeGreaterThan(1);
    for (const role of API_KEY_ROLES) {
      const key = bearer(await api.key(role));
      for (const route of routes.filter((r) => !roleAllows(role, r.permission))) {
        expectProblem(await send(api.app, route, key), 403, 'forbidden');
      }
    }
    expect(PERMISSIONS.every((p) => roleAllows('admin', p))).toBe(true);
  });

  it('answers unknown errors with a generic 500 and logs them without stack or secrets', async () => {
    const res = await request(api.app).get('/v1/test/boom').set(bearer(api.adminKey)).set('X-Request-Id', 'boom-1');
    const problem = expectProblem(res, 500, 'internal_error');
    expect(problem.detail).not.toMatch(/ECONNREFUSED|10\.0\.0\.7|jpms_/);
    const lines = logLines.filter((l) => l.includes('boom-1'));
    expect(lines.some((l) => l.includes('ECONNREFUSED'))).toBe(true);
    const all = logLines.join('\n');
    expect(all).not.toMatch(/"stack"|\n\s+at /);
    expect(all).not.toContain(api.adminKey);
    expect(all).not.toContain('jpms_abcdefgh_secret');
  });

  it('logs request URLs with account numbers masked', async () => {
    await request(api.app)
      .get('/v1/transactions?reference=000000010975001')
      .set(bearer(api.adminKey))
      .set('X-Request-Id', 'url-1');
    // The access line is written when the response has finished, which may be just after the client has it.
    const lines = () => logLines.filter((l) => l.includes('url-1') && l.includes('request completed'));
    await expect.poll(() => lines().length, { timeout: 5_000 }).toBeGreaterThan(0);
    expect(lines().join('\n')).toContain('****5001');
    expect(logLines.join('\n')).not.toContain('000000010975001');
  });

  it('/healthz is alive; /readyz reports each check and 503s when Redis or a plugged-in check is down', async () => {
    expect((await request(api.app).get('/healthz')).body).toEqual({ status: 'ok' });
    const ready = await request(api.app).get('/readyz');
    expect(ready.status).toBe(200);
    expect(ready.body).toMatchObject({
      status: 'ready',
      checks: { postgres: { status: 'ok' }, redis: { status: 'ok' } },
    });

    const noRedis = buildApiApp({ ...api.ctx, config: { ...api.ctx.config, redis: { url: 'redis://127.0.0.1:1' } } });
    const down = await request(noRedis).get('/readyz');
    expect(down.status).toBe(503);
    expect(down.body).toMatchObject({
      status: 'not_ready',
      checks: { postgres: { status: 'ok' }, redis: { status: 'unavailable' } },
    });
    expect(JSON.stringify(down.body)).not.toContain('127.0.0.1');

    const noWorkers = buildApiApp(api.ctx, {
      readiness: [{ name: 'queue-workers', check: () => Promise.reject(new Error('no worker heartbeat')) }],
    });
    const stale = await request(noWorkers).get('/readyz');
    expect(stale.status).toBe(503);
    expect(stale.body).toMatchObject({
      checks: { 'queue-workers': { status: 'unavailable' }, redis: { status: 'ok' } },
    });
  });

  it('/metrics exposes the sync, bank, queue, certificate and HTTP metrics in Prometheus format', async () => {
    await request(api.app).get('/v1/organizations').set(bearer(api.adminKey));
    const res = await request(api.app).get('/metrics');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain/);
    for (const name of [
      'jpm_sync_runs_total',
      'jpm_sync_run_duration_seconds',
      'jpm_sync_records_total',
      'jpm_bank_call_duration_seconds',
      'jpm_bank_errors_total',
      'jpm_queue_depth',
      'jpm_certificate_days_to_expiry_min',
      'jpm_integrations_overdue',
      'jpm_account_days',
      'jpm_http_requests_total',
      'jpm_http_request_duration_seconds',
    ]) {
      expect(res.text).toContain(`# TYPE ${name} `);
    }
    expect(res.text).toMatch(/jpm_http_requests_total\{method="GET",route="\/v1\/organizations",status="200"\} \d+/);
  });

  it('sends security headers, and CORS headers only for configured origins', async () => {
    const res = await request(api.app).get('/healthz').set('Origin', 'https://evil.example');
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['content-security-policy']).toBeDefined();
    expect(res.headers['access-control-allow-origin']).toBeUndefined();

    const withCors = buildApiApp({
      ...api.ctx,
      config: { ...api.ctx.config, http: { ...api.ctx.config.http, corsOrigins: ['https://ops.example'] } },
    });
    const preflight = await request(withCors)
      .options('/v1/organizations')
      .set('Origin', 'https://ops.example')
      .set('Access-Control-Request-Method', 'POST');
    expect(preflight.status).toBe(204);
    expect(preflight.headers['access-control-allow-origin']).toBe('https://ops.example');
    expect(preflight.headers['access-control-allow-headers']).toContain('Idempotency-Key');
    const other = await request(withCors).get('/healthz').set('Origin', 'https://evil.example');
    expect(other.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('serves bull-board at /admin/queues to admin keys only (Bearer, or Basic with the key as password)', async () => {
    const anonymous = await request(api.app).get('/admin/queues');
    expectProblem(anonymous, 401, 'unauthenticated');
    expect(String(anonymous.headers['www-authenticate'])).toContain('Basic');
    expectProblem(
      await request(api.app)
        .get('/admin/queues')
        .set(bearer(await api.key('operator'))),
      403,
      'forbidden',
    );
    const board = await request(api.app).get('/admin/queues').set(bearer(api.adminKey));
    expect(board.status).toBe(200);
    expect(board.text).toContain('<div id="root">');
    const basic = await request(api.app).get('/admin/queues/api/queues').auth('ops', api.adminKey);
    expect(basic.status).toBe(200);
    const shown = z.object({ queues: z.array(z.object({ name: z.string() }).loose()) }).parse(basic.body);
    expect(shown.queues.map((q) => q.name).sort()).toEqual([...QUEUE_NAMES].sort());
  });

  it('serves the API reference at /docs from our own origin: every operation of /openapi.json, no script, strict CSP', async () => {
    const spec = (await request(api.app).get('/openapi.json')).body as {
      paths: Record<string, Record<string, { operationId: string }>>;
    };
    for (const path of ['/docs', '/docs/']) {
      const page = await request(api.app).get(path);
      expect(page.status).toBe(200);
      expect(page.headers['content-type']).toMatch(/^text\/html/);
      const csp = String(page.headers['content-security-policy']);
      expect(csp).toContain("default-src 'self'");
      expect(csp).toContain("script-src 'self'");
      // Nothing runs and nothing is fetched from another origin.
      expect(page.text).not.toMatch(/<script|<link\b|<img\b|<iframe|\ssrc=|href="(?!#|\/)/i);
      for (const item of Object.values(spec.paths)) {
        for (const op of Object.values(item)) {
          expect(page.text).toContain(`id="op-${op.operationId}"`);
        }
      }
      // Every link inside the page lands on something (schemas, tags).
      const links = [...page.text.matchAll(/href="#([^"]+)"/g)].map((m) => m[1]!);
      expect(links.length).toBeGreaterThan(20);
      for (const target of new Set(links)) {
        expect(page.text, target).toContain(`id="${target}"`);
      }
      expect(page.text).toContain('id="schema-Problem"');
    }
  });
});
