import { request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import helmet from 'helmet';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineRoute } from '../../src/http/routes.ts';
import { createAccount, createTenancy } from '../factories/tenancy.ts';
import { captureLogLines } from '../helpers/log-capture.ts';
import { bearer, createTestApi, type TestApi } from '../helpers/api-app.ts';

const logLines = captureLogLines('debug');

let release: (() => void) | undefined;
let started: (() => void) | undefined;
const routes = [
  defineRoute({
    method: 'get',
    path: '/v1/test/fail',
    permission: 'organizations:read',
    summary: 'test only',
    tags: ['Test'],
    response: { status: 200, schema: z.object({}), description: 'never' },
    handler: () => Promise.reject(new Error('database exploded')),
  }),
  defineRoute({
    method: 'get',
    path: '/v1/test/overloaded',
    permission: 'organizations:read',
    summary: 'test only',
    tags: ['Test'],
    response: { status: 200, schema: z.object({}), description: 'never' },
    handler: () => Promise.reject(new Error('timeout exceeded when trying to connect')),
  }),
  defineRoute({
    method: 'get',
    path: '/v1/test/slow',
    permission: 'organizations:read',
    summary: 'test only',
    tags: ['Test'],
    response: { status: 200, schema: z.object({}), description: 'empty' },
    handler: () =>
      new Promise<Record<string, never>>((resolve) => {
        release = () => resolve({});
        started?.();
      }),
  }),
];

/** helmet's default headers (helmet 8), as the API has always sent them. */
const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'self';base-uri 'self';font-src 'self' https: data:;form-action 'self';frame-ancestors 'self';img-src 'self' data:;object-src 'none';script-src 'self';script-src-attr 'none';style-src 'self' https: 'unsafe-inline';upgrade-insecure-requests",
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'origin-agent-cluster': '?1',
  'referrer-policy': 'no-referrer',
  'strict-transport-security': 'max-age=31536000; includeSubDomains',
  'x-content-type-options': 'nosniff',
  'x-dns-prefetch-control': 'off',
  'x-download-options': 'noopen',
  'x-frame-options': 'SAMEORIGIN',
  'x-permitted-cross-domain-policies': 'none',
  'x-xss-protection': '0',
};

interface Line {
  level: number;
  msg: string;
  req?: { id: string; method: string; url: string };
  res?: { statusCode: number };
  err?: unknown;
  responseTime?: number;
  requestId?: string;
  [key: string]: unknown;
}

function linesOf(requestId: string): Line[] {
  return logLines.map((l) => JSON.parse(l) as Line).filter((l) => l.req?.id === requestId || l.requestId === requestId);
}

/** The request log line (the error middleware's own "request failed" line has no `req`). */
function accessLines(requestId: string): Line[] {
  return linesOf(requestId).filter(
    (l) =>
      l.req !== undefined &&
      (l.msg === 'request completed' || l.msg === 'request failed' || l.msg === 'request aborted'),
  );
}

/** The request's one access line: written when the response has finished, which may be just after the client has it. */
async function accessLine(requestId: string): Promise<Line> {
  await expect.poll(() => accessLines(requestId).length, { timeout: 15_000 }).toBe(1);
  return accessLines(requestId)[0]!;
}

describe('request log and security headers', () => {
  let api: TestApi;
  let auth: { Authorization: string };

  beforeAll(async () => {
    api = await createTestApi({ extraRoutes: routes });
    auth = bearer(await api.key('viewer'));
  });
  afterAll(async () => {
    await api.close();
  });

  it('writes one line per request: level, service, subsystem, req, res, responseTime and message, in that order', async () => {
    await request(api.app)
      .get('/v1/transactions?limit=1&reference=000000010975001')
      .set(auth)
      .set('X-Request-Id', 'log-ok')
      .expect(200);
    const line = await accessLine('log-ok');
    expect(Object.keys(line)).toEqual(['level', 'time', 'service', 'subsystem', 'req', 'res', 'responseTime', 'msg']);
    expect(line).toMatchObject({
      level: 30,
      service: 'jpm-sync',
      subsystem: 'http',
      msg: 'request completed',
      req: { id: 'log-ok', method: 'GET', url: '/v1/transactions?limit=1&reference=****5001' },
      res: { statusCode: 200 },
    });
    expect(Object.keys(line.req!)).toEqual(['id', 'method', 'url']);
    expect(line.responseTime).toEqual(expect.any(Number));
    expect(logLines.join('\n')).not.toContain('000000010975001');
  });

  it('logs a 4xx at info, and a debug line through the request logger with the request id and key binding', async () => {
    await request(api.app).get('/v1/transactions?limit=0').set(auth).set('X-Request-Id', 'log-400').expect(400);
    expect(await accessLine('log-400')).toMatchObject({
      level: 30,
      msg: 'request completed',
      res: { statusCode: 400 },
    });
    const rejected = linesOf('log-400').find((l) => l.msg === 'request rejected');
    expect(rejected).toMatchObject({ level: 20, subsystem: 'http', requestId: 'log-400' });
    // The key's binding names it by its public prefix (README: the prefix names the key in logs), never the key.
    expect(rejected?.apiKeyPrefix).toBe(auth.Authorization.slice('Bearer jpms_'.length).split('_')[0]);
    expect(rejected?.apiKeyPrefix).toMatch(/^[a-z0-9]{8}$/);
    const keys = Object.keys(rejected!);
    expect(keys.indexOf('subsystem')).toBeLessThan(keys.indexOf('requestId'));
    expect(keys.indexOf('requestId')).toBeLessThan(keys.indexOf('apiKeyPrefix'));
    expect(logLines.join('\n')).not.toContain(auth.Authorization.slice('Bearer '.length));
  });

  it('logs a 500 as "request failed" at error with a short error and no stack, and a 503 at warn', async () => {
    await request(api.app).get('/v1/test/fail').set(auth).set('X-Request-Id', 'log-500').expect(500);
    const failed = await accessLine('log-500');
    expect(Object.keys(failed)).toEqual([
      'level',
      'time',
      'service',
      'subsystem',
      'req',
      'res',
      'err',
      'responseTime',
      'msg',
    ]);
    expect(failed).toMatchObject({
      level: 50,
      msg: 'request failed',
      res: { statusCode: 500 },
      err: { type: 'Error', message: 'failed with status code 500' },
    });
    expect(Object.keys(failed.err as object)).toEqual(['type', 'message']);
    // The cause is logged by the error middleware through the request's logger.
    expect(
      linesOf('log-500').some(
        (l) => l.requestId === 'log-500' && l.level === 50 && JSON.stringify(l).includes('database exploded'),
      ),
    ).toBe(true);

    await request(api.app).get('/v1/test/overloaded').set(auth).set('X-Request-Id', 'log-503').expect(503);
    expect(await accessLine('log-503')).toMatchObject({
      level: 40,
      msg: 'request failed',
      res: { statusCode: 503 },
      err: { message: 'failed with status code 503' },
    });
    expect(logLines.join('\n')).not.toMatch(/"stack"|\n\s+at /);
  });

  it('replaces a client-sent request id that looks like a secret by a fresh one, and logs no trace of it', async () => {
    const mac = 'Qm9ndXNNYWNPZlRoZVJldmlld0xpbmtYWVo0MjQyNDI';
    const sent = [
      'jpms_abcdefgh_SecretPartOfAnApiKey0123456789',
      `0190a3b4-5c6d-7e8f-9a0b-1c2d3e4f5a6b.1767225600.${mac}`,
      '000000010975001',
      '/review/SomethingThatLooksLikeAToken',
    ];
    for (const id of sent) {
      const bad = await request(api.app).get('/v1/transactions?limit=0').set(auth).set('X-Request-Id', id).expect(400);
      const fresh = bad.headers['x-request-id'];
      expect(fresh).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
      expect((bad.body as { requestId: string }).requestId).toBe(fresh);
      // The request logger's binding and the request log line both carry the fresh id.
      expect(linesOf(fresh!).find((l) => l.msg === 'request rejected')).toMatchObject({ requestId: fresh });
      expect((await accessLine(fresh!)).req?.id).toBe(fresh);
      const failed = await request(api.app).get('/v1/test/fail').set(auth).set('X-Request-Id', id).expect(500);
      expect(failed.headers['x-request-id']).not.toBe(id);
    }
    const text = logLines.join('\n');
    for (const secret of ['SecretPartOfAnApiKey0123456789', mac, '000000010975001', 'SomethingThatLooksLikeAToken']) {
      expect(text).not.toContain(secret);
    }
    // A sane id that is no secret is still kept, for correlation.
    expect(
      (
        await request(api.app)
          .get('/v1/transactions?limit=0')
          .set(auth)
          .set('X-Request-Id', 'trace-0190a3b4.7')
          .expect(400)
      ).headers['x-request-id'],
    ).toBe('trace-0190a3b4.7');
  });

  it('logs a review page URL without its token, however it is spelled (percent-encoded, tampered, with a sub-path or query)', async () => {
    const link = '0190a3b4-5c6d-7e8f-9a0b-1c2d3e4f5a6b';
    const tail = 'VGhlSE1BQ09mQVJldmlld0xpbmtJc0FDcmVkZW50aWFs';
    const cases: [string, string, string][] = [
      ['get', `/review/${link}.1767225600.%41${tail}`, '/review/[REDACTED]'],
      ['get', `/review/${encodeURIComponent(`${link}.1767225600.`)}${tail}?x=1`, '/review/[REDACTED]?x=1'],
      ['get', `/review/%${tail}#frag`, '/review/[REDACTED]'],
      ['post', `/review/${link}.1767225600.${tail}%2D/accurate`, '/review/[REDACTED]/accurate'],
    ];
    for (const [i, [method, path, logged]] of cases.entries()) {
      const id = `log-review-${i}`;
      const res = await request(api.app)[method as 'get' | 'post'](path).set('X-Request-Id', id);
      expect(res.status).toBeGreaterThanOrEqual(400);
      expect((await accessLine(id)).req?.url).toBe(logged);
    }
    const text = logLines.join('\n');
    expect(text).not.toContain(tail);
    expect(text).not.toContain(tail.slice(0, 12));
  });

  it("logs an account lookup's number masked however it is written: letters next to the digits, percent-encoded", async () => {
    const t = await createTenancy(api.ctx.db);
    await createAccount(api.ctx.db, t, { jpmAccountId: 'GB0012345678901' });
    await createAccount(api.ctx.db, t, { jpmAccountId: '000000010962009' });
    const operator = bearer(await api.key('operator'));
    const encoded = [...'000000010962009'].map((d) => `%3${d}`).join('');
    const cases: [string, string, number][] = [
      ['accountNumber=GB0012345678901', 'accountNumber=****8901', 1],
      [`accountNumber=${encoded}`, 'accountNumber=****2009', 1],
      // The name percent-encoded is the same parameter to the route, and to the log.
      ['account%4Eumber=GB0012345678901', 'accountNumber=****8901', 1],
      ['accountNumber=GB00-1234-5678-901&limit=5', 'accountNumber=****-901&limit=5', 0],
    ];
    for (const [i, [query, logged, found]] of cases.entries()) {
      const id = `log-account-${i}`;
      const res = await request(api.app).get(`/v1/accounts?${query}`).set(operator).set('X-Request-Id', id);
      expect(res.status, query).toBe(200);
      expect((res.body as { data: unknown[] }).data, query).toHaveLength(found);
      expect((await accessLine(id)).req?.url, query).toBe(`/v1/accounts?${logged}`);
    }
    // A number in the path (a mistaken lookup by number instead of id) is masked too.
    await request(api.app).get('/v1/accounts/GB0012345678901').set(operator).set('X-Request-Id', 'log-account-path');
    expect((await accessLine('log-account-path')).req?.url).toBe('/v1/accounts/GB****8901');
    await request(api.app).get(`/v1/accounts/${encoded}`).set(operator).set('X-Request-Id', 'log-account-path-enc');
    expect((await accessLine('log-account-path-enc')).req?.url).toBe('/v1/accounts/****2009');
    const text = logLines.join('\n');
    for (const secret of ['12345678901', '0010962009', encoded.slice(0, 24), '1234-5678']) {
      expect(text).not.toContain(secret);
    }
  });

  it('logs other query values readable, digit runs in free text masked and a secret-named parameter blanked', async () => {
    const org = '01935f3c-8e3a-7c2e-9a51-a12345678901';
    const cases: [string, string][] = [
      // Filters stay as an operator needs them: ids whole, dates, lists.
      [
        `/v1/transactions?organizationId=${org}&status=pending,posted&bookingDateFrom=2026-11-01&limit=2`,
        `/v1/transactions?organizationId=${org}&status=pending,posted&bookingDateFrom=2026-11-01&limit=2`,
      ],
      [
        '/v1/transactions?q=paid%20from%20GB0012345678901&limit=2',
        '/v1/transactions?q=paid%20from%20GB****8901&limit=2',
      ],
      [
        '/v1/transactions?token=s3cr3t-value&api_key=abcdef&limit=2',
        '/v1/transactions?token=[REDACTED]&api_key=[REDACTED]&limit=2',
      ],
    ];
    for (const [i, [url, logged]] of cases.entries()) {
      const id = `log-query-${i}`;
      await request(api.app).get(url).set(auth).set('X-Request-Id', id);
      expect((await accessLine(id)).req?.url, url).toBe(logged);
    }
    // Secrets the logger finds by their shape are found after decoding, where the encoding hid them.
    const mac = 'VGhlSE1BQ09mQVJldmlld0xpbmtJblFVRVJZ';
    const apiKey = 'jpms_abcdefgh_SecretPartOfAnApiKeyInAQuery';
    const hidden = `next=0190a3b4-5c6d-7e8f-9a0b-1c2d3e4f5a6b%2E1767225600%2E${mac}&x=${encodeURIComponent(apiKey).replace('_', '%5F')}`;
    await request(api.app).get(`/v1/transactions?${hidden}`).set(auth).set('X-Request-Id', 'log-query-hidden');
    expect((await accessLine('log-query-hidden')).req?.url).toMatch(
      /^\/v1\/transactions\?next=.*\[REDACTED\]&x=jpms_\[REDACTED\]$/,
    );
    // A webhook signing secret is found by its `whsec_` marker, as an API key by `jpms_`.
    const webhookSecret = 'whsec_Zm9yZ2VkRGVsaXZlcmllc1dvdWxkUGFzc1ZlcmlmeQ';
    await request(api.app)
      .get(`/v1/transactions?reference=${webhookSecret}&limit=2`)
      .set(auth)
      .set('X-Request-Id', 'log-query-webhook-secret');
    expect((await accessLine('log-query-webhook-secret')).req?.url).toBe(
      '/v1/transactions?reference=whsec_[REDACTED]&limit=2',
    );
    const text = logLines.join('\n');
    expect(text).not.toContain('Zm9yZ2VkRGVsaXZlcmllc1dvdWxkUGFzc1ZlcmlmeQ');
    expect(text).not.toContain('GB0012345678901');
    expect(text).not.toContain('s3cr3t-value');
    expect(text).not.toContain(mac);
    expect(text).not.toContain('SecretPartOfAnApiKey');
  });

  it('does not log probes and metrics', async () => {
    const before = logLines.length;
    await request(api.app).get('/healthz').set('X-Request-Id', 'log-quiet').expect(200);
    expect(linesOf('log-quiet')).toEqual([]);
    expect(logLines.length).toBe(before);
  });

  it('logs a request the client abandoned before the response, with its response time', async () => {
    const server: Server = api.app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    try {
      const inHandler = new Promise<void>((resolve) => {
        started = resolve;
      });
      const req = httpRequest({
        host: '127.0.0.1',
        port: (server.address() as AddressInfo).port,
        path: '/v1/test/slow',
        headers: { ...auth, 'X-Request-Id': 'log-abort' },
      });
      req.on('error', () => undefined);
      req.end();
      await inHandler;
      req.destroy();
      await expect.poll(() => accessLines('log-abort').length, { timeout: 5_000 }).toBe(1);
      const line = await accessLine('log-abort');
      expect(line).toMatchObject({
        req: { id: 'log-abort', method: 'GET', url: '/v1/test/slow' },
        msg: 'request aborted',
        aborted: true,
        level: 40,
      });
      expect(line.responseTime).toBeGreaterThanOrEqual(0);
    } finally {
      release?.();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it("sends helmet's default security headers, unchanged, on API responses, errors and probes", async () => {
    const bare = express();
    bare.disable('x-powered-by');
    bare.use(helmet());
    bare.get('/', (_req, res) => {
      res.json({});
    });
    const fromHelmet = (await request(bare).get('/')).headers;
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) {
      expect(fromHelmet[name], name).toBe(value);
    }
    const responses = [
      await request(api.app).get('/v1/transactions?limit=1').set(auth),
      await request(api.app).get('/v1/transactions?limit=0').set(auth),
      await request(api.app).get('/v1/transactions'),
      await request(api.app).get('/v1/test/fail').set(auth),
      await request(api.app).get('/v1/no-such-thing').set(auth),
      await request(api.app).get('/healthz'),
    ];
    expect(responses.map((r) => r.status)).toEqual([200, 400, 401, 500, 404, 200]);
    for (const res of responses) {
      const security = Object.fromEntries(Object.keys(SECURITY_HEADERS).map((name) => [name, res.headers[name]]));
      expect(security).toEqual(SECURITY_HEADERS);
      expect(res.headers['x-powered-by']).toBeUndefined();
    }
  });
});
