import fc from 'fast-check';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { routesOf, type Route } from '../../src/http/routes.ts';
import { buildApiApp } from '../../src/main/api.ts';
import { bearer } from '../helpers/api-app.ts';
import { badRequests, oddRequests, type HostileRequest, type IdPool } from './support/bad-input.ts';
import { chaos } from './support/chaos.ts';
import { captureLogs, findLeaks } from './support/logs.ts';
import { paramNames, resourceOf, validBody, validQuery } from './support/samples.ts';
import { createTenants, fingerprint, type Tenants } from './support/tenants.ts';

/**
 * Bad input, property-based (fast-check, seeded from the run's seed) over EVERY admin and read route
 * of the registry, enumerated at run time: wrong types, missing and extra fields, huge and deeply
 * nested bodies, malformed JSON, wrong content types, invalid dates and ranges, unicode, injection
 * strings (SQL, JSON, path traversal), malformed percent-encoding, forged and tampered cursors. A
 * request its route's schema refuses must get a 4xx problem+json (type, title, status, code,
 * requestId), never a 5xx, and leave every table as it was (audit_log and api_keys.last_used_at
 * aside). Schema-valid requests carrying hostile text must never get a 5xx either.
 */
const BAD_RUNS = 30;
const SOME_UUID = '01935f3c-8e3a-7c2e-9a51-0d2f6f1f9b11';
const DB_HOSTILE = [
  '\u0000',
  'a\u0000b',
  '\ud800',
  'x'.repeat(4_000),
  "'; DROP TABLE organizations; --",
  '%_\\',
  '\u202e\ufeff𝕏',
];
/** Bodies also get a string far over any column's size (a query that long would exceed Node's 16 kB header limit: a bare 431 before the app). */
const HUGE = 'x'.repeat(20_000);
const ODD_RUNS = 12;
const c = chaos('bad-input');
const logs = captureLogs('info');
let t: Tenants;
let routes: readonly Route[];
let app: ReturnType<typeof buildApiApp>;
let auth: { Authorization: string };
let pool: IdPool;
const sentText: string[] = [];

beforeAll(async () => {
  t = await createTenants();
  app = buildApiApp(t.api.ctx);
  routes = routesOf(app);
  auth = bearer(t.api.adminKey);
  const real: Record<string, string[]> = {};
  for (const [k, v] of [...Object.entries(t.a.ids), ...Object.entries(t.b.ids)]) {
    (real[k] ??= []).push(v);
  }
  // Real cursors of the list routes, to tamper with.
  const cursors: Record<string, string> = {};
  for (const r of routes.filter((x) => x.method === 'get' && paramNames(x).length === 0)) {
    const res = await request(app).get(`${r.path}?limit=1`).set(auth);
    const next = (res.body as { nextCursor?: unknown }).nextCursor;
    if (typeof next === 'string') {
      cursors[r.path] = next;
    }
  }
  pool = { real, uuid: fc.uuid({ version: 7 }), cursors };
});

afterAll(async () => {
  await t.close();
  c.flush();
});

function urlOf(route: Route, r: HostileRequest): string {
  const path = route.path.replace(/\{([^}]+)\}/g, (_, name: string) => {
    const p = r.params[name]!;
    return p.raw ? p.value : encodeURIComponent(p.value);
  });
  const qs = new URLSearchParams();
  for (const [k, v] of Object.entries(r.query)) {
    for (const x of Array.isArray(v) ? v : [v]) {
      qs.append(k, x);
    }
  }
  const q = qs.toString();
  return q ? `${path}?${q}` : path;
}

async function sendHostile(route: Route, r: HostileRequest) {
  const url = urlOf(route, r);
  let req = request(app)[route.method](url).set(auth);
  if (r.idempotencyKey !== undefined) {
    req = req.set('Idempotency-Key', r.idempotencyKey);
  }
  let sent = url;
  if (r.body?.kind === 'json') {
    const text = JSON.stringify(r.body.value) ?? 'null';
    sent += text;
    req = req.set('Content-Type', 'application/json').send(text);
  } else if (r.body?.kind === 'raw') {
    sent += r.body.text;
    req = req.set('Content-Type', r.body.contentType).send(r.body.text);
  }
  sentText.push(sent, JSON.stringify(r));
  const res = await req;
  t.record(route.method, url, res);
  c.count('badInputs');
  c.count('requests');
  return res;
}

function problemOk(res: {
  status: number;
  headers: Record<string, string>;
  body: unknown;
  text: string;
}): string | undefined {
  if (!/^application\/problem\+json/.test(res.headers['content-type'] ?? '')) {
    return `content-type ${res.headers['content-type']}`;
  }
  const b = res.body as Record<string, unknown>;
  for (const k of ['type', 'title', 'code', 'requestId']) {
    if (typeof b[k] !== 'string' || b[k] === '') {
      return `problem without ${k}: ${res.text.slice(0, 200)}`;
    }
  }
  if (b.status !== res.status || b.requestId !== res.headers['x-request-id']) {
    return `problem status/requestId mismatch: ${res.text.slice(0, 200)}`;
  }
  if (/\.ts:\d+|\n\s+at /.test(res.text)) {
    return 'stack trace in the response';
  }
  return undefined;
}

const label = (r: Route) => `${r.method.toUpperCase()} ${r.path}`;

describe('hostile input on every route of the registry', () => {
  it('invalid requests get a 4xx problem+json, never a 5xx, and change nothing', async () => {
    expect(routes.length).toBeGreaterThan(20);
    const failures: string[] = [];
    const untestable: string[] = [];
    // GET routes first, checked together (they never write); then each mutating route on its own.
    const ordered = [...routes.filter((r) => r.method === 'get'), ...routes.filter((r) => r.method !== 'get')];
    let gets: Record<string, string> | undefined = await fingerprint(t.api);
    for (const route of ordered) {
      if (route.method !== 'get' && gets) {
        const after = await fingerprint(t.api);
        const changed = Object.keys(after).filter((k) => after[k] !== gets![k]);
        if (changed.length > 0) {
          failures.push(`GET routes: invalid requests changed ${changed.join(', ')}`);
        }
        gets = undefined;
      }
      const arb = badRequests(route, pool);
      if (!arb) {
        untestable.push(label(route)); // no params, query or body: nothing to break
        continue;
      }
      const before = route.method === 'get' ? undefined : await fingerprint(t.api);
      try {
        await fc.assert(
          fc.asyncProperty(arb, async (r) => {
            const res = await sendHostile(route, r);
            if (res.status < 400 || res.status >= 500) {
              throw new Error(`${res.status} for an invalid request: ${res.text.slice(0, 300)}`);
            }
            const bad = problemOk(res);
            if (bad) {
              throw new Error(`${res.status}: ${bad}`);
            }
          }),
          { numRuns: BAD_RUNS, seed: c.fcSeed(label(route)), endOnFailure: true },
        );
      } catch (err) {
        failures.push(
          `${label(route)}: ${(err as Error).message.slice(0, 1_500)} ${(err as Error).cause instanceof Error ? ((err as Error).cause as Error).message.slice(0, 500) : ''}`,
        );
      }
      if (before) {
        const after = await fingerprint(t.api);
        const changed = Object.keys(after).filter((k) => after[k] !== before[k]);
        if (changed.length > 0) {
          failures.push(`${label(route)}: invalid requests changed ${changed.join(', ')}`);
        }
      }
    }
    console.log(
      `[chaos] bad-input: ${c.counters.badInputs} invalid requests over ${routes.length - untestable.length} routes (nothing to break on: ${untestable.join(', ') || 'none'})`,
    );
    expect(failures).toEqual([]);
  });

  it('schema-valid requests carrying hostile text and real ids never get a 5xx', async () => {
    const failures: string[] = [];
    for (const route of routes) {
      try {
        await fc.assert(
          fc.asyncProperty(oddRequests(route, pool), async (r) => {
            const res = await sendHostile(route, r);
            if (res.status >= 500) {
              throw new Error(`${res.status}: ${res.text.slice(0, 300)}`);
            }
            const bad = res.status >= 400 ? problemOk(res) : undefined;
            if (bad) {
              throw new Error(`${res.status}: ${bad}`);
            }
          }),
          { numRuns: ODD_RUNS, seed: c.fcSeed(`odd ${label(route)}`), endOnFailure: true },
        );
      } catch (err) {
        failures.push(
          `${label(route)}: ${(err as Error).message.slice(0, 1_500)} ${(err as Error).cause instanceof Error ? ((err as Error).cause as Error).message.slice(0, 500) : ''}`,
        );
      }
    }
    // And a sweep, not left to chance: every string field and query parameter of every route gets each
    // text a database or parser is most likely to choke on (NUL, lone surrogate, huge, SQL).
    for (const route of routes) {
      const body = validBody(route) as Record<string, unknown> | undefined;
      const fields = Object.entries(body ?? {})
        .filter(([, v]) => typeof v === 'string')
        .map(([k]) => k);
      const keys = Object.keys(route.request.query?.shape ?? {});
      const params = Object.fromEntries(
        paramNames(route).map((n) => [n, { value: pool.real[resourceOf(route, n)]?.[0] ?? SOME_UUID }]),
      );
      for (const text of [...DB_HOSTILE, HUGE]) {
        const tries: HostileRequest[] = [
          ...fields.map((f) => ({
            params,
            query: validQuery(route),
            body: { kind: 'json' as const, value: { ...body, [f]: text } },
          })),
          ...(text === HUGE
            ? []
            : keys.map((k) => ({
                params,
                query: { ...validQuery(route), [k]: text },
                ...(body ? { body: { kind: 'json' as const, value: body } } : {}),
              }))),
        ];
        if (text === HUGE) {
          // Ranges: reversed, and absurdly wide, wherever a route takes from/to.
          for (const [from, to] of [
            ['2025-03-10', '2025-03-01'],
            ['0001-01-01', '9999-12-31'],
          ] as const) {
            if ('from' in (route.request.query?.shape ?? {}) && 'to' in (route.request.query?.shape ?? {})) {
              tries.push({
                params,
                query: { ...validQuery(route), from, to },
                ...(body ? { body: { kind: 'json' as const, value: body } } : {}),
              });
            }
            if (body && 'from' in ((route.request.body as { shape?: object }).shape ?? {})) {
              tries.push({
                params,
                query: validQuery(route),
                body: { kind: 'json' as const, value: { ...body, from, to } },
              });
            }
          }
        }
        for (const r of tries) {
          const res = await sendHostile(route, r);
          const bad =
            res.status >= 500
              ? `${res.status}: ${res.text.slice(0, 300)}`
              : res.status >= 400
                ? problemOk(res)
                : undefined;
          if (bad) {
            failures.push(`${label(route)} with ${JSON.stringify(text).slice(0, 40)}: ${bad}`);
          }
        }
      }
    }
    expect(failures).toEqual([]);
  });

  it('leaked no secret in any response or log line', () => {
    const responses = t.responses.map((r) =>
      r.replace(/-----BEGIN (CERTIFICATE|CERTIFICATE REQUEST|PUBLIC KEY)-----[^-]*-----END \1-----/g, '[public PEM]'),
    );
    // What we sent ourselves (a PEM header, a key prefix) may be echoed in a validation message; that is no leak.
    const sent = (m: string) => sentText.some((s) => s.includes(m));
    const leaks = [
      ...findLeaks(logs, { accountNumbers: t.accountNumbers, secrets: t.secrets, sent }),
      ...findLeaks(responses, { accountNumbers: t.accountNumbers, secrets: t.secrets, sent }),
    ];
    c.count('secretsLeaked', leaks.length);
    expect(leaks).toEqual([]);
  });
});
