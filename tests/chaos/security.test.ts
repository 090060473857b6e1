import { createPrivateKey, randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPrivateKey } from '../../src/credentials/envelope.ts';
import { API_KEY_ROLES, roleAllows } from '../../src/domain/access.ts';
import { routesOf, type Route } from '../../src/http/routes.ts';
import { buildApiApp } from '../../src/main/api.ts';
import { uuidv7 } from '../../src/shared/ids.ts';
import { bearer } from '../helpers/api-app.ts';
import { chaos } from './support/chaos.ts';
import { captureLogs, findLeaks } from './support/logs.ts';
import { fillPath, paramNames, validBody, validQuery } from './support/samples.ts';
import { createTenants, fingerprint, type Tenants } from './support/tenants.ts';

/**
 * Security over every route of the registry (enumerated at run time, so new routes are covered as
 * they land): no key → 401; each role → the allow/deny of src/domain/access.ts; organization A's keys
 * against B's ids → 404 on every route with an id (lists: nothing of B's), B's data untouched; no
 * API key, PEM block, private key or full account number in any log line or response of this file;
 * private keys in the database are ciphertext that only the master key opens.
 */
const c = chaos('security');
const logs = captureLogs('debug');
let t: Tenants;
let routes: readonly Route[];
let app: ReturnType<typeof buildApiApp>;

beforeAll(async () => {
  t = await createTenants();
  app = buildApiApp(t.api.ctx);
  routes = routesOf(app);
  expect(routes.length).toBeGreaterThan(20);
});

afterAll(async () => {
  await t.close();
  c.flush();
});

type Auth = Record<string, string>;

/** Everything organization A's keys have sent so far: an id A itself named may come back to A (a 404 detail, A's own audit trail). */
let sentByA = '';

async function send(route: Route, path: string, auth: Auth, body?: unknown, query: Record<string, string> = {}) {
  const qs = new URLSearchParams(query).toString();
  const url = qs ? `${path}?${qs}` : path;
  if (Object.values(t.a.keys).some((k) => auth.Authorization === `Bearer ${k}`)) {
    sentByA += `\n${url} ${JSON.stringify(body ?? null)}`;
  }
  const req = request(app)[route.method](url).set(auth);
  const res = await (body === undefined ? req : req.send(body as object));
  t.record(route.method, path, res);
  c.count('requests');
  return res;
}

function expectProblemShape(res: { status: number; headers: Record<string, string>; body: unknown }, label: string) {
  expect(res.headers['content-type'], label).toMatch(/^application\/problem\+json/);
  const body = res.body as Record<string, unknown>;
  expect(body, label).toMatchObject({
    status: res.status,
    type: expect.stringMatching(/^urn:jpm-sync:problem:/) as unknown,
    title: expect.any(String) as unknown,
    code: expect.any(String) as unknown,
  });
  expect(body.requestId, label).toBe(res.headers['x-request-id']);
}

const label = (r: Route) => `${r.method.toUpperCase()} ${r.path}`;

describe('authentication and authorization over every route', () => {
  it('answers 401 to every route without a key, and with a malformed or unknown one', async () => {
    for (const route of routes) {
      const path = fillPath(route, () => uuidv7());
      for (const auth of [
        {},
        bearer('nonsense'),
        bearer(`jpms_zzzzzzzz_${'A'.repeat(40)}`),
        { Authorization: `Basic ${Buffer.from('x:y').toString('base64')}` },
      ]) {
        const res = await send(route, path, auth, route.request.body ? {} : undefined);
        expect(res.status, label(route)).toBe(401);
        expectProblemShape(res, label(route));
      }
    }
  });

  it('gives each role exactly the routes src/domain/access.ts allows it (unscoped and organization-scoped keys)', async () => {
    const unscoped = Object.fromEntries(
      await Promise.all(API_KEY_ROLES.map(async (r) => [r, await t.api.key(r)] as const)),
    );
    const before = await fingerprint(t.api);
    const checked: string[] = [];
    for (const role of API_KEY_ROLES) {
      for (const key of [unscoped[role]!, t.a.keys[role]]) {
        for (const route of routes) {
          // Nonexistent ids and a body no schema accepts: an allowed call gets 400 or 404, never a change.
          const res = await send(
            route,
            fillPath(route, () => uuidv7()),
            bearer(key),
            route.request.body ? { __chaos: true } : undefined,
          );
          const allowed = roleAllows(role, route.permission);
          if (allowed) {
            expect([401, 403], `${role} ${label(route)} is allowed but got ${res.status}`).not.toContain(res.status);
            expect(res.status, `${role} ${label(route)}: ${res.text}`).toBeLessThan(500);
          } else {
            expect(res.status, `${role} ${label(route)} must be denied`).toBe(403);
            expect((res.body as { code?: string }).code).toBe('forbidden');
          }
          if (res.status >= 400) {
            expectProblemShape(res, label(route));
          }
          checked.push(`${role} ${label(route)}`);
        }
      }
    }
    expect(checked.length).toBe(routes.length * API_KEY_ROLES.length * 2);
    expect(await fingerprint(t.api)).toEqual(before);
  });
});

describe("organization A's keys against organization B", () => {
  const bIds = () => Object.values(t.b.ids);
  /** B's ids and account number in a response to A, except those A itself named before (an echo is no leak). */
  const containsB = (text: string) =>
    [...bIds(), t.b.organizationId, t.b.jpmAccountId].filter((id) => text.includes(id) && !sentByA.includes(id));

  it('404 on every route with an id (with a body the route accepts), including the change feed and webhooks; B unchanged', async () => {
    const before = await fingerprint(t.api);
    const withIds = routes.filter((r) => paramNames(r).length > 0);
    expect(withIds.some((r) => r.path.startsWith('/v1/webhooks/'))).toBe(true);
    const unbuildable: string[] = [];
    for (const route of withIds) {
      const body = validBody(route);
      if (route.request.body && body === undefined) {
        unbuildable.push(label(route));
        continue;
      }
      const variants: Record<string, (param: string, resource: string) => string> = {
        "B's ids": (_p, resource) => {
          const id = t.b.ids[resource];
          if (!id) {
            throw new Error(
              `${label(route)}: no id of organization B for resource "${resource}"; add one to tests/chaos/support/tenants.ts`,
            );
          }
          return id;
        },
      };
      if (paramNames(route).length > 1) {
        // A's own parent with B's child: the child must not be reachable through A's parent either.
        variants["A's parent, B's child"] = (p, resource) =>
          p === paramNames(route)[0] ? t.a.ids[resource]! : t.b.ids[resource]!;
      }
      for (const [name, value] of Object.entries(variants)) {
        for (const role of ['admin', 'operator', 'viewer'] as const) {
          if (!roleAllows(role, route.permission)) {
            continue;
          }
          const path = fillPath(route, value);
          const res = await send(route, path, bearer(t.a.keys[role]), body, validQuery(route));
          expect(res.status, `${role} of A, ${label(route)} with ${name}: ${res.text.slice(0, 300)}`).toBe(404);
          expectProblemShape(res, label(route));
          expect(containsB(res.text), label(route)).toEqual([]);
        }
      }
    }
    expect(
      unbuildable,
      'routes whose body no sample satisfies: add one to EXAMPLES in tests/chaos/support/samples.ts',
    ).toEqual([]);
    expect(await fingerprint(t.api)).toEqual(before);
  });

  it("list routes show A nothing of B's, even when their filters name B's ids; creating in B is refused", async () => {
    const before = await fingerprint(t.api);
    const lists = routes.filter((r) => paramNames(r).length === 0);
    const filterFor: Record<string, string> = {
      organizationId: t.b.organizationId,
      integrationId: t.b.ids.integrations!,
      accountId: t.b.ids.accounts!,
      webhookId: t.b.ids.webhooks!,
      keyId: t.b.ids['api-keys']!,
      runId: t.b.ids['sync-runs']!,
    };
    for (const route of lists) {
      const key = bearer(t.a.keys.admin);
      if (route.method === 'get') {
        const plain = await send(route, route.path, key, undefined, validQuery(route));
        expect(plain.status, `${label(route)}: ${plain.text.slice(0, 300)}`).toBe(200);
        expect(containsB(plain.text), label(route)).toEqual([]);
        const shape = route.request.query?.shape ?? {};
        for (const [name, id] of Object.entries(filterFor).filter(([n]) => n in shape)) {
          const filtered = await send(route, route.path, key, undefined, { ...validQuery(route), [name]: id });
          expect([200, 404], `${label(route)}?${name}=B: ${filtered.text.slice(0, 300)}`).toContain(filtered.status);
          expect(containsB(filtered.text), `${label(route)}?${name}=B`).toEqual([]);
          if (filtered.status === 200) {
            // The list contract is `{ data, nextCursor }`: B's filter on A's key yields an empty page.
            expect((filtered.body as { data?: unknown }).data, `${label(route)}?${name}=B`).toEqual([]);
          }
        }
      } else {
        // A mutating route without an id that names an organization: naming B must be refused.
        const body = validBody(route) as Record<string, unknown> | undefined;
        const shape = (route.request.body as { shape?: Record<string, unknown> } | undefined)?.shape ?? {};
        if (body && 'organizationId' in shape) {
          const res = await send(route, route.path, key, { ...body, organizationId: t.b.organizationId });
          expect([403, 404], `${label(route)} into B: ${res.text.slice(0, 300)}`).toContain(res.status);
        }
      }
    }
    expect(await fingerprint(t.api)).toEqual(before);
  });

  it("webhook deliveries of A's endpoints carry only A's events", async () => {
    const rows = await sql<{ n: number }>`
      select count(*)::int as n from webhook_deliveries d join webhook_endpoints e on e.id = d.endpoint_id
      join webhook_events v on v.id = d.event_id where v.organization_id <> e.organization_id`.execute(t.api.t.db);
    expect(rows.rows[0]?.n).toBe(0);
  });
});

describe('secrets', () => {
  it('private keys in the database are ciphertext: no PEM, no DER, and only the master key opens them', async () => {
    const dump = await sql<{ name: string; hit: number }>`
      select c.relname as name from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = 'public' and c.relkind = 'r'`.execute(
      t.api.t.db,
    );
    const keyPairs = await t.api.t.db.selectFrom('key_pairs').selectAll().execute();
    expect(keyPairs.length).toBeGreaterThanOrEqual(2);
    const ders: Buffer[] = [];
    for (const k of keyPairs) {
      const sealed = {
        privateKeyCiphertext: k.private_key_ciphertext,
        privateKeyIv: k.private_key_iv,
        privateKeyAuthTag: k.private_key_auth_tag,
        wrappedDataKey: k.wrapped_data_key,
        dataKeyIv: k.data_key_iv,
        dataKeyAuthTag: k.data_key_auth_tag,
        masterKeyId: k.master_key_id,
      };
      const der = openPrivateKey(sealed, t.api.ctx.secrets, k.id);
      expect(createPrivateKey({ key: der, format: 'der', type: 'pkcs8' }).type).toBe('private');
      ders.push(der);
      // The same row under another master key (same id, other bytes) does not open.
      const impostor = { masterKey: { id: k.master_key_id, key: randomBytes(32) }, previousMasterKeys: [] };
      expect(() => openPrivateKey(sealed, impostor, k.id)).toThrow(/unwrapped/);
    }
    for (const { name } of dump.rows) {
      const rows = await sql<{ t: string }>`select to_jsonb(x)::text as t from ${sql.table(name)} x`.execute(
        t.api.t.db,
      );
      const text = rows.rows.map((r) => r.t).join('\n');
      expect(text, name).not.toMatch(/PRIVATE KEY/);
      for (const der of ders) {
        // bytea appears as hex in JSON: no 32-byte run of any private key's DER anywhere.
        expect(text.includes(der.subarray(der.length - 40, der.length - 8).toString('hex')), name).toBe(false);
      }
    }
  });

  it('no API key, PEM block, private key or full account number in any log line or response of this file', () => {
    // Public material the API serves by design (certificates, CSRs) is not a secret; private keys are.
    const responses = t.responses.map((r) =>
      r.replace(/-----BEGIN (CERTIFICATE|CERTIFICATE REQUEST|PUBLIC KEY)-----[^-]*-----END \1-----/g, '[public PEM]'),
    );
    const leaks = [
      ...findLeaks(logs, { accountNumbers: t.accountNumbers, secrets: t.secrets }),
      ...findLeaks(responses, { accountNumbers: t.accountNumbers, secrets: t.secrets }),
    ];
    c.count('secretsLeaked', leaks.length);
    console.log(
      `[chaos] security: ${c.counters.requests} requests, ${logs.length} log lines and ${t.responses.length} responses scanned`,
    );
    expect(logs.length).toBeGreaterThan(100);
    expect(leaks).toEqual([]);
  });
});
