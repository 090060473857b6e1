import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import express from 'express';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { consoleRouter } from '../../src/console/index.ts';
import { requestIdMiddleware } from '../../src/http/request-id.ts';
import { apiRoutes } from '../../src/main/api.ts';
import { consoleDeps } from '../../src/main/admin-wiring.ts';
import { createIntegration } from '../../src/onboarding/index.ts';
import { uuidv7 } from '../../src/shared/ids.ts';
import { createLogger } from '../../src/shared/logger.ts';
import { findApiKeyForAuth } from '../../src/admin-api/api-keys.service.ts';
import { touchApiKey } from '../../src/storage/api-keys.repo.ts';
import { insertAuditEntry } from '../../src/storage/audit.repo.ts';
import { createOrganization } from '../factories/onboarding.ts';
import { createTestApi, type TestApi } from '../helpers/api-app.ts';
import { obliterate } from '../helpers/orchestration.ts';

/**
 * The console's security properties over HTTP (the browser walk is console-browser.test.ts): its
 * Content-Security-Policy and markup (no inline script, style or handler), htmx served from our
 * origin, sign-in and form CSRF, organization scope (another organization's integration is a 404),
 * errors that say what to fix and never carry a stack, and Secure `__Host-` cookies outside
 * development.
 */
const NO_STACK = /\.ts:\d+|\n\s+at |Error:/;

function cookieOf(res: request.Response, name: string): string | undefined {
  const raw = ([] as string[]).concat(res.headers['set-cookie'] ?? []);
  return raw.find((c) => c.startsWith(`${name}=`));
}

function valueOf(setCookie: string | undefined): string {
  return (setCookie ?? '').split(';')[0]!.split('=').slice(1).join('=');
}

async function signIn(
  app: express.Express,
  key: string,
  names = { pre: 'jpms_console_signin', session: 'jpms_console' },
): Promise<{ cookie: string; csrf: string; res: request.Response }> {
  const form = await request(app).get('/console/sign-in');
  const pre = valueOf(cookieOf(form, names.pre));
  const token = /name="_csrf" value="([^"]+)"/.exec(form.text)![1]!;
  const res = await request(app)
    .post('/console/sign-in')
    .set('Cookie', `${names.pre}=${pre}`)
    .type('form')
    .send({ _csrf: token, apiKey: key });
  const cookie = `${names.session}=${valueOf(cookieOf(res, names.session))}`;
  const board = await request(app).get('/console/').set('Cookie', cookie);
  const csrf = /name="_csrf" value="([^"]+)"/.exec(board.text)?.[1] ?? '';
  return { cookie, csrf, res };
}

describe('operator console: security', () => {
  let api: TestApi;
  let orgId: string;
  let otherId: string;
  let mineId: string;
  let operatorKey: string;

  beforeAll(async () => {
    // A low failure limit, for the throttle test at the end (a correct key always passes it).
    api = await createTestApi({ env: { AUTH_FAILURES_PER_ADDRESS: '3' } });
    orgId = await createOrganization(api.t.db, 'Mine');
    const otherOrg = await createOrganization(api.t.db, 'Theirs');
    mineId = (
      await createIntegration(api.t.db, {
        organizationId: orgId,
        name: 'Mine',
        actor: 'ops',
        environment: 'simulator',
        baseUrl: 'https://127.0.0.1:1',
      })
    ).id;
    otherId = (
      await createIntegration(api.t.db, {
        organizationId: otherOrg,
        name: 'Theirs',
        actor: 'ops',
        environment: 'simulator',
        baseUrl: 'https://127.0.0.1:1',
      })
    ).id;
    operatorKey = await api.key('operator', orgId);
  });

  afterAll(async () => {
    if (api) {
      await obliterate(api.ctx.queues);
      await api.close();
    }
  });

  it('serves pages under a strict CSP with no inline script, style or handler, and htmx from our own origin', async () => {
    const { cookie } = await signIn(api.app, operatorKey);
    for (const path of ['/console/sign-in', '/console/', `/console/integrations/${mineId}`]) {
      const res = await request(api.app).get(path).set('Cookie', cookie);
      expect(res.status, path).toBe(200);
      const csp = res.headers['content-security-policy'];
      expect(csp).toContain("default-src 'none'");
      expect(csp).toContain("script-src 'self'");
      expect(csp).toContain("style-src 'self'");
      expect(csp).not.toContain('unsafe');
      expect(res.headers['cache-control']).toBe('no-store');
      const scripts = [...res.text.matchAll(/<script\b([^>]*)>/g)].map((m) => m[1]!);
      expect(scripts.map((attrs) => /src="([^"]+)"/.exec(attrs)?.[1])).toEqual([
        '/console/static/htmx.min.js',
        '/console/static/console.js',
      ]);
      expect(res.text).not.toMatch(/\sstyle=|<style|\son[a-z]+=|javascript:|https?:\/\//);
    }
    const htmx = await request(api.app).get('/console/static/htmx.min.js');
    expect(htmx.status).toBe(200);
    expect(htmx.headers['content-type']).toMatch(/^text\/javascript/);
    expect(htmx.text).toBe(readFileSync(createRequire(import.meta.url).resolve('htmx.org/dist/htmx.min.js'), 'utf8'));
    expect((await request(api.app).get('/console/static/..%2Fpackage.json')).status).toBe(404);
  });

  it("answers 404 for a static asset named like one of Object's own properties (no session needed)", async () => {
    for (const name of ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf', '__defineGetter__']) {
      const res = await request(api.app).get(`/console/static/${name}`);
      expect(res.status, name).toBe(404);
      expect(res.text, name).toBe('Not found');
    }
  });

  it('requires a session for every page and the sign-in form token to sign in', async () => {
    const anonymous = await request(api.app).get(`/console/integrations/${mineId}`);
    expect(anonymous.status).toBe(303);
    expect(anonymous.headers.location).toBe('/console/sign-in');
    const poll = await request(api.app).get(`/console/runs/${uuidv7()}/progress`).set('HX-Request', 'true');
    expect(poll.status).toBe(401);
    expect(poll.headers['hx-redirect']).toBe('/console/sign-in');
    // Without the double-submit token, a correct key still does not sign in (login CSRF).
    const forged = await request(api.app).post('/console/sign-in').type('form').send({ apiKey: operatorKey });
    expect(forged.status).toBe(403);
    expect(cookieOf(forged, 'jpms_console')).toBeUndefined();
    // A session cookie someone made up is no session.
    const madeUp = await request(api.app)
      .get('/console/')
      .set('Cookie', `jpms_console=${'A'.repeat(43)}`);
    expect(madeUp.status).toBe(303);
  });

  it('does not extend an idle session for a run progress poll; a page view does', async () => {
    const { cookie } = await signIn(api.app, operatorKey);
    const token = cookie.split('=').slice(1).join('=');
    const key = `${api.ctx.queues.prefix}:console:session:${createHash('sha256').update(token).digest('hex')}`;
    const redis = api.ctx.queues.redis;
    await redis.pexpire(key, 60_000);
    // The poll is answered (the run is unknown: 286) and the session is read, but its idle timeout stays.
    expect((await request(api.app).get(`/console/runs/${uuidv7()}/progress`).set('Cookie', cookie)).status).toBe(286);
    const afterPoll = await redis.pttl(key);
    expect(afterPoll).toBeGreaterThan(0);
    expect(afterPoll).toBeLessThanOrEqual(60_000);
    expect((await request(api.app).get('/console/').set('Cookie', cookie)).status).toBe(200);
    expect(await redis.pttl(key)).toBeGreaterThan(3_600_000);
  });

  it('keeps the organization scope and says what to fix, never with a stack', async () => {
    const { cookie, csrf } = await signIn(api.app, operatorKey);
    const theirs = await request(api.app).get(`/console/integrations/${otherId}`).set('Cookie', cookie);
    expect(theirs.status).toBe(404);
    expect(theirs.text).toContain(`integration ${otherId} was not found`);
    expect(theirs.text).not.toContain('Theirs');
    const badId = await request(api.app).get('/console/integrations/not-a-uuid').set('Cookie', cookie);
    expect(badId.status).toBe(400);
    expect(badId.text).toContain('The request path is invalid');
    expect(badId.text).toContain('params.id');
    const badDay = await request(api.app).get(`/console/accounts/${uuidv7()}/days/2026-13-45`).set('Cookie', cookie);
    expect(badDay.status).toBe(404);
    // A run's progress poll that is refused (unknown run, bad id) tells htmx to stop polling (286).
    expect((await request(api.app).get(`/console/runs/${uuidv7()}/progress`).set('Cookie', cookie)).status).toBe(286);
    expect((await request(api.app).get('/console/runs/not-a-uuid/progress').set('Cookie', cookie)).status).toBe(286);
    for (const res of [theirs, badId, badDay]) {
      expect(res.text).not.toMatch(NO_STACK);
    }
    // A move of another organization's integration is refused as the API refuses it, and changes nothing.
    const move = await request(api.app)
      .post(`/console/integrations/${otherId}/actions/stage`)
      .set('Cookie', cookie)
      .type('form')
      .send({ _csrf: csrf, _back: '/console/', to: 'cancelled', confirmFinal: 'yes' });
    expect(move.status).toBe(303);
    const after = await request(api.app).get('/console/').set('Cookie', cookie);
    expect(after.text).toContain(`integration ${otherId} was not found`);
    expect(
      (await api.t.db.selectFrom('integrations').select('stage').where('id', '=', otherId).executeTakeFirstOrThrow())
        .stage,
    ).toBe('requested');
    // A redirect target outside the console is ignored.
    const away = await request(api.app)
      .post(`/console/integrations/${mineId}/actions/jpm-project`)
      .set('Cookie', cookie)
      .type('form')
      .send({ _csrf: csrf, _back: '//evil.example/', projectId: '' });
    expect(away.headers.location).toBe(`/console/integrations/${mineId}`);
    const shown = await request(api.app).get(`/console/integrations/${mineId}`).set('Cookie', cookie);
    expect(shown.text).toContain('Not done: The request body is invalid; see errors.');
    expect(shown.text).toContain('body.projectId');
  });

  it("shows a viewer every page but no form that changes anything; a key for all organizations sees each card's organization", async () => {
    const { cookie } = await signIn(api.app, await api.key('viewer', orgId));
    for (const path of ['/console/', `/console/integrations/${mineId}`]) {
      const res = await request(api.app).get(path).set('Cookie', cookie);
      expect(res.status, path).toBe(200);
      const actions = [...res.text.matchAll(/<form method="post" action="([^"]+)"/g)].map((m) => m[1]);
      expect(actions, path).toEqual(['/console/sign-out']);
    }
    const admin = await signIn(api.app, api.adminKey);
    const board = await request(api.app).get('/console/').set('Cookie', admin.cookie);
    expect(board.text).toContain(`data-integration-id="${otherId}"`);
    expect(board.text).toMatch(/Theirs · simulator/);
    // Only overdue: none is (both were created now).
    const overdue = await request(api.app).get('/console/?overdue=true').set('Cookie', admin.cookie);
    expect(overdue.text).toContain('0 integration(s)');
    expect(overdue.text).not.toContain(`data-integration-id="${mineId}"`);
  });

  it('uses Secure __Host- cookies outside development', async () => {
    const db = api.ctx.db;
    const app = express();
    app.use(requestIdMiddleware(createLogger('http')));
    app.use(
      '/console',
      consoleRouter({
        ...consoleDeps(api.ctx, {
          routes: apiRoutes(api.ctx),
          apiKeys: { findByPrefix: (prefix) => findApiKeyForAuth(db, prefix), markUsed: (id) => touchApiKey(db, id) },
          audit: { record: (e) => insertAuditEntry(db, e) },
          authThrottle: undefined,
        }),
        secureCookies: true,
      }),
    );
    const { res } = await signIn(app, operatorKey, {
      pre: '__Host-jpms_console_signin',
      session: '__Host-jpms_console',
    });
    const session = cookieOf(res, '__Host-jpms_console');
    expect(session).toBeDefined();
    expect(session).toMatch(/; Path=\/;/);
    expect(session).toMatch(/; HttpOnly/);
    expect(session).toMatch(/; Secure/);
    expect(session).toMatch(/; SameSite=Strict/);
  });

  it("answers a form too large to take with a console page saying so, not the API's JSON problem document", async () => {
    const { cookie, csrf } = await signIn(api.app, operatorKey);
    for (const extra of [
      { certificatePem: 'x'.repeat(300_000) },
      Object.fromEntries(Array.from({ length: 60 }, (_, i) => [`field${i}`, 'x'])),
    ]) {
      const res = await request(api.app)
        .post(`/console/integrations/${mineId}/actions/certificate`)
        .set('Cookie', cookie)
        .type('form')
        .send({ _csrf: csrf, ...extra });
      expect(res.status).toBe(413);
      expect(res.headers['content-type']).toMatch(/^text\/html/);
      expect(res.text).toContain('The form is too large to send');
    }
  });

  it('signs out: the session is gone from Redis and its cookie no longer opens a page', async () => {
    const { cookie, csrf } = await signIn(api.app, operatorKey);
    const before = await api.ctx.queues.redis.keys(`${api.ctx.queues.prefix}:console:session:*`);
    expect((await request(api.app).post('/console/sign-out').set('Cookie', cookie).type('form').send({})).status).toBe(
      403,
    );
    const out = await request(api.app)
      .post('/console/sign-out')
      .set('Cookie', cookie)
      .type('form')
      .send({ _csrf: csrf });
    expect(out.status).toBe(303);
    expect(out.headers.location).toBe('/console/sign-in');
    const after = await api.ctx.queues.redis.keys(`${api.ctx.queues.prefix}:console:session:*`);
    expect(after.length).toBe(before.length - 1);
    expect((await request(api.app).get('/console/').set('Cookie', cookie)).status).toBe(303);
  });

  it('reports a failed connection test as an outcome, not as a refused action', async () => {
    const { cookie, csrf } = await signIn(api.app, operatorKey);
    const res = await request(api.app)
      .post(`/console/integrations/${mineId}/actions/test-connection`)
      .set('Cookie', cookie)
      .type('form')
      .send({ _csrf: csrf, _back: `/console/integrations/${mineId}` });
    expect(res.status).toBe(303);
    const shown = await request(api.app).get(`/console/integrations/${mineId}`).set('Cookie', cookie);
    const flash = /<div class="flash error" role="alert">\s*<p>([^<]*)<\/p>/.exec(shown.text)?.[1];
    expect(flash).toMatch(/^Connection test failed: no_certificate/);
  });

  it("counts failed sign-ins against the API's own throttle; the right key still signs in", async () => {
    const attempt = async (key: string) => {
      const form = await request(api.app).get('/console/sign-in');
      const pre = valueOf(cookieOf(form, 'jpms_console_signin'));
      const token = /name="_csrf" value="([^"]+)"/.exec(form.text)![1]!;
      return request(api.app)
        .post('/console/sign-in')
        .set('Cookie', `jpms_console_signin=${pre}`)
        .type('form')
        .send({ _csrf: token, apiKey: key });
    };
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) {
      statuses.push((await attempt(`jpms_zzzzzzz${i}_${'x'.repeat(40)}`)).status);
    }
    expect(statuses).toEqual([401, 401, 401, 429]);
    const throttled = await attempt(`jpms_zzzzzzzz_${'y'.repeat(40)}`);
    expect(throttled.text).toMatch(/Too many failed sign-ins. Try again in \d+ seconds./);
    // The same counter as the API's: a wrong bearer token from here is throttled too.
    expect(
      (
        await request(api.app)
          .get('/v1/integrations')
          .set('Authorization', `Bearer jpms_zzzzzzzz_${'z'.repeat(40)}`)
      ).status,
    ).toBe(429);
    const ok = await attempt(operatorKey);
    expect(ok.status).toBe(303);
    expect(ok.headers.location).toBe('/console/');
  });
});
