import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import { sql } from 'kysely';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ApiKeySchema } from '../../src/admin-api/api-keys.routes.ts';
import { AuditEntrySchema } from '../../src/admin-api/audit.routes.ts';
import { OrganizationSchema } from '../../src/admin-api/organizations.routes.ts';
import { pageSchema } from '../../src/http/pagination.ts';
import { uuidv7 } from '../../src/shared/ids.ts';
import { bearer, bodyOf, createTestApi, expectProblem, type TestApi } from '../helpers/api-app.ts';

const OrgPage = pageSchema(OrganizationSchema);
const KeyPage = pageSchema(ApiKeySchema);
const AuditPage = pageSchema(AuditEntrySchema);
const CreatedKey = ApiKeySchema.extend({ key: z.string() });

async function count(api: TestApi, table: 'organizations' | 'api_keys' | 'audit_log'): Promise<number> {
  const r = await sql<{ n: string }>`select count(*)::text as n from ${sql.table(table)}`.execute(api.t.db);
  return Number(r.rows[0]?.n);
}

describe('admin API', () => {
  let api: TestApi;
  let admin: { Authorization: string };
  beforeAll(async () => {
    api = await createTestApi();
    admin = bearer(api.adminKey);
  });
  afterAll(async () => {
    await api.close();
  });

  const createOrg = async (name: string): Promise<string> => {
    const res = await request(api.app).post('/v1/organizations').set(admin).send({ name });
    expect(res.status).toBe(201);
    return bodyOf(OrganizationSchema, res).id;
  };
  const createKey = async (auth: { Authorization: string }, body: object) => {
    const res = await request(api.app).post('/v1/api-keys').set(auth).send(body);
    expect(res.status).toBe(201);
    return bodyOf(CreatedKey, res);
  };

  describe('problem+json errors', () => {
    it('400 with field errors for an invalid body, and nothing is written', async () => {
      const before = await count(api, 'organizations');
      const problem = expectProblem(
        await request(api.app).post('/v1/organizations').set(admin).send({ name: 42 }),
        400,
        'validation_failed',
      );
      expect(problem.errors).toEqual([{ path: 'body.name', message: expect.any(String) as string }]);
      expect(await count(api, 'organizations')).toBe(before);
    });

    it('rejects unknown body fields and unknown query parameters by name', async () => {
      const body = expectProblem(
        await request(api.app).post('/v1/organizations').set(admin).send({ name: 'Acme', colour: 'red' }),
        400,
        'validation_failed',
      );
      expect(body.errors).toContainEqual({ path: 'body.colour', message: 'unknown field' });
      const query = expectProblem(
        await request(api.app).get('/v1/organizations?limt=5').set(admin),
        400,
        'validation_failed',
      );
      expect(query.errors).toContainEqual({ path: 'query.limt', message: 'unknown field' });
    });

    it('400 for malformed JSON, an invalid id, a bad limit and a forged cursor', async () => {
      const malformed = await request(api.app)
        .post('/v1/organizations')
        .set(admin)
        .set('Content-Type', 'application/json')
        .send('{"name": "Ac');
      expectProblem(malformed, 400, 'malformed_json');
      expectProblem(await request(api.app).get('/v1/organizations/not-a-uuid').set(admin), 400, 'validation_failed');
      expectProblem(await request(api.app).get('/v1/organizations?limit=501').set(admin), 400, 'validation_failed');
      expectProblem(await request(api.app).get('/v1/organizations?limit=abc').set(admin), 400, 'validation_failed');
      const forged = Buffer.from(JSON.stringify({ v: 1, k: ["x'; drop table organizations; --"] })).toString(
        'base64url',
      );
      const cursor = expectProblem(
        await request(api.app).get(`/v1/organizations?cursor=${forged}`).set(admin),
        400,
        'invalid_cursor',
      );
      expect(cursor.errors).toEqual([{ path: 'query.cursor', message: 'invalid cursor' }]);
      expectProblem(await request(api.app).get('/v1/audit?cursor=%25%25').set(admin), 400, 'invalid_cursor');
    });

    it('413 for a body over the limit, 415 for a body that is not JSON', async () => {
      expectProblem(
        await request(api.app)
          .post('/v1/organizations')
          .set(admin)
          .send({ name: 'x'.repeat(300_000) }),
        413,
        'payload_too_large',
      );
      const text = await request(api.app)
        .post('/v1/organizations')
        .set(admin)
        .set('Content-Type', 'text/plain')
        .send('name=Acme');
      expectProblem(text, 415, 'unsupported_media_type');
    });

    it('404 for an unknown route, 405 with Allow for a known path under another method', async () => {
      expectProblem(await request(api.app).get('/v1/nothing-here'), 404, 'route_not_found');
      const res = await request(api.app).delete('/v1/organizations').set(admin);
      expectProblem(res, 405, 'method_not_allowed');
      expect(res.headers.allow).toContain('POST');
    });

    it('keeps a sane incoming X-Request-Id and replaces an insane one', async () => {
      const kept = await request(api.app).get('/v1/nothing').set('X-Request-Id', 'trace-abc.123');
      expect(expectProblem(kept, 404, 'route_not_found').requestId).toBe('trace-abc.123');
      const replaced = await request(api.app).get('/v1/nothing').set('X-Request-Id', 'bad id <script>');
      expect(replaced.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    });
  });

  describe('authentication and authorization', () => {
    it('400 naming the field for text holding U+0000 (body, query), never the database\'s "malformed value"', async () => {
      const named = expectProblem(
        await request(api.app).post('/v1/organizations').set(admin).send({ name: 'Acme\u0000Corp' }),
        400,
        'validation_failed',
      );
      expect(named.errors).toEqual([{ path: 'body.name', message: 'must not contain U+0000' }]);
      const searched = expectProblem(
        await request(api.app).get('/v1/transactions').query({ q: 'wire\u0000' }).set(admin),
        400,
        'validation_failed',
      );
      expect(searched.errors).toEqual([{ path: 'query.q', message: 'must not contain U+0000' }]);
      expect(
        await api.t.db.selectFrom('organizations').select('id').where('name', 'like', 'Acme%Corp').execute(),
      ).toEqual([]);
    });

    it('400 naming the field for text holding half of a character (a lone surrogate), never stored as U+FFFD', async () => {
      const named = expectProblem(
        await request(api.app)
          .post('/v1/organizations')
          .set(admin)
          .set('content-type', 'application/json')
          .send('{"name":"Acme \\ud83d Corp"}'),
        400,
        'validation_failed',
      );
      expect(named.errors).toEqual([
        { path: 'body.name', message: 'must not contain a lone UTF-16 surrogate (half of a character)' },
      ]);
      expect(named.detail).toMatch(/half of a character/);
      expect(
        await api.t.db.selectFrom('organizations').select('id').where('name', 'like', 'Acme %Corp').execute(),
      ).toEqual([]);
    });

    it('400 malformed_path for a path whose percent-encoding does not decode', async () => {
      for (const path of ['/v1/accounts/%E0%A4%A', '/v1/accounts/%']) {
        const res = expectProblem(await request(api.app).get(path).set(admin), 400, 'malformed_path');
        expect(res.detail).toMatch(/percent-encoding/);
      }
    });

    it('400 naming the field for a date of year 0000 (Postgres has no year 0)', async () => {
      const bad = expectProblem(
        await request(api.app).get('/v1/transactions').query({ bookingDateFrom: '0000-01-01' }).set(admin),
        400,
        'validation_failed',
      );
      expect(bad.errors).toEqual([{ path: 'query.bookingDateFrom', message: 'a date from 0001-01-01 on' }]);
      // Not a date at all: one error, the format's.
      const notADate = expectProblem(
        await request(api.app).get('/v1/transactions').query({ bookingDateFrom: '0000-02-30' }).set(admin),
        400,
        'validation_failed',
      );
      expect(notADate.errors).toHaveLength(1);
      expect(
        (await request(api.app).get('/v1/transactions').query({ bookingDateFrom: '0001-01-01' }).set(admin)).status,
      ).toBe(200);
    });

    it('401 with WWW-Authenticate for a missing, malformed, unknown or wrong key', async () => {
      const missing = await request(api.app).get('/v1/organizations');
      expectProblem(missing, 401, 'unauthenticated');
      expect(missing.headers['www-authenticate']).toMatch(/^Bearer/);
      const prefix = api.adminKey.split('_')[1] ?? '';
      for (const key of ['nonsense', `jpms_${prefix}_${'A'.repeat(40)}`, `jpms_zzzzzzzz_${'A'.repeat(40)}`]) {
        const res = await request(api.app).get('/v1/organizations').set(bearer(key));
        expectProblem(res, 401, 'invalid_api_key');
        expect(res.headers['www-authenticate']).toContain('invalid_token');
      }
      // The real key with anything after it is not a key.
      for (const header of [`Bearer ${api.adminKey} extra`, `Bearer  ${api.adminKey} ${api.adminKey}`]) {
        expectProblem(
          await request(api.app).get('/v1/organizations').set('Authorization', header),
          401,
          'invalid_api_key',
        );
      }
      const basic = `Basic ${Buffer.from(`x:${api.adminKey}`).toString('base64')}`;
      expectProblem(
        await request(api.app).get('/v1/organizations').set('Authorization', basic),
        401,
        'invalid_api_key',
      );
    });

    it('403 when the role lacks the permission (viewer writes, operator reads audit and keys)', async () => {
      const viewer = bearer(await api.key('viewer'));
      const operator = bearer(await api.key('operator'));
      expectProblem(await request(api.app).post('/v1/organizations').set(viewer).send({ name: 'V' }), 403, 'forbidden');
      expect((await request(api.app).get('/v1/organizations').set(viewer)).status).toBe(200);
      expectProblem(await request(api.app).get('/v1/audit').set(operator), 403, 'forbidden');
      expectProblem(await request(api.app).get('/v1/api-keys').set(operator), 403, 'forbidden');
      expectProblem(
        await request(api.app).post('/v1/api-keys').set(operator).send({ name: 'x', role: 'admin' }),
        403,
        'forbidden',
      );
    });

    it("404 for another organization's resources; an org key sees only its organization", async () => {
      const mine = await createOrg('Mine');
      const theirs = await createOrg('Theirs');
      const scoped = bearer(await api.key('admin', mine));
      expect((await request(api.app).get(`/v1/organizations/${mine}`).set(scoped)).status).toBe(200);
      expectProblem(await request(api.app).get(`/v1/organizations/${theirs}`).set(scoped), 404, 'not_found');
      expect(
        bodyOf(OrgPage, await request(api.app).get('/v1/organizations').set(scoped)).data.map((o) => o.id),
      ).toEqual([mine]);
      expectProblem(await request(api.app).get(`/v1/api-keys?organizationId=${theirs}`).set(scoped), 404, 'not_found');
      expectProblem(
        await request(api.app).post('/v1/organizations').set(scoped).send({ name: 'New' }),
        403,
        'organization_scope',
      );
      expectProblem(
        await request(api.app)
          .post('/v1/api-keys')
          .set(scoped)
          .send({ name: 'k', role: 'viewer', organizationId: theirs }),
        404,
        'not_found',
      );
      expectProblem(
        await request(api.app)
          .post('/v1/api-keys')
          .set(scoped)
          .send({ name: 'k', role: 'viewer', organizationId: null }),
        403,
        'organization_scope',
      );
      const theirKey = await createKey(admin, { name: 'their key', role: 'viewer', organizationId: theirs });
      expectProblem(await request(api.app).post(`/v1/api-keys/${theirKey.id}/revoke`).set(scoped), 404, 'not_found');
      const ownKey = await createKey(scoped, { name: 'own key', role: 'viewer' });
      expect(ownKey.organizationId).toBe(mine);
      const keys = bodyOf(KeyPage, await request(api.app).get('/v1/api-keys').set(scoped));
      expect(keys.data.length).toBeGreaterThan(0);
      expect(keys.data.every((k) => k.organizationId === mine)).toBe(true);
    });
  });

  describe('organizations', () => {
    it('creates, gets and pages through organizations without gaps or repeats', async () => {
      const ids: string[] = [];
      for (let i = 0; i < 7; i++) {
        ids.push(await createOrg(`Paged ${i}`));
      }
      const got = bodyOf(OrganizationSchema, await request(api.app).get(`/v1/organizations/${ids[0]}`).set(admin));
      expect(got).toMatchObject({ id: ids[0], name: 'Paged 0' });
      expectProblem(await request(api.app).get(`/v1/organizations/${uuidv7()}`).set(admin), 404, 'not_found');
      const seen: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const query: Record<string, string | number> = cursor === null ? { limit: 3 } : { limit: 3, cursor };
        const res: request.Response = await request(api.app).get('/v1/organizations').query(query).set(admin);
        const page: z.output<typeof OrgPage> = bodyOf(OrgPage, res);
        expect(page.data.length).toBeLessThanOrEqual(3);
        seen.push(...page.data.map((o) => o.id));
        cursor = page.nextCursor;
        pages++;
      } while (cursor !== null);
      expect(new Set(seen).size).toBe(seen.length);
      expect(seen.length).toBe(await count(api, 'organizations'));
      expect(seen).toEqual(expect.arrayContaining(ids));
      expect(pages).toBe(Math.ceil(seen.length / 3));
    });
  });

  describe('API keys', () => {
    it('shows a key once, stores only its SHA-256, records use, and revocation takes effect at once', async () => {
      const created = await createKey(admin, { name: 'ledger reader', role: 'viewer' });
      expect(created.key).toMatch(/^jpms_[a-z0-9]{8}_[A-Za-z0-9]{40}$/);
      expect(created).toMatchObject({
        name: 'ledger reader',
        role: 'viewer',
        organizationId: null,
        prefix: created.key.split('_')[1],
        revokedAt: null,
      });
      const stored = await api.t.db
        .selectFrom('api_keys')
        .select(['key_hash', 'last_used_at'])
        .where('id', '=', created.id)
        .executeTakeFirstOrThrow();
      expect(stored.key_hash).toBe(createHash('sha256').update(created.key).digest('hex'));
      expect(stored.last_used_at).toBeNull();
      const dump = await sql<{ t: string }>`select string_agg(api_keys::text, ' ') as t from api_keys`.execute(
        api.t.db,
      );
      expect(dump.rows[0]?.t).not.toContain(created.key.split('_')[2]);

      expect((await request(api.app).get('/v1/organizations').set(bearer(created.key))).status).toBe(200);
      const listed = await request(api.app).get('/v1/api-keys').set(admin);
      const entry = bodyOf(KeyPage, listed).data.find((k) => k.id === created.id);
      expect(entry?.lastUsedAt).not.toBeNull();
      expect(listed.text).not.toContain(stored.key_hash);
      expect(listed.text).not.toContain(created.key);

      const revoked = bodyOf(ApiKeySchema, await request(api.app).post(`/v1/api-keys/${created.id}/revoke`).set(admin));
      expect(revoked.revokedAt).not.toBeNull();
      expectProblem(await request(api.app).get('/v1/organizations').set(bearer(created.key)), 401, 'invalid_api_key');
      expect(
        bodyOf(KeyPage, await request(api.app).get('/v1/api-keys').set(admin)).data.map((k) => k.id),
      ).not.toContain(created.id);
      expect(
        bodyOf(KeyPage, await request(api.app).get('/v1/api-keys?includeRevoked=true').set(admin)).data.map(
          (k) => k.id,
        ),
      ).toContain(created.id);
      expectProblem(await request(api.app).post(`/v1/api-keys/${uuidv7()}/revoke`).set(admin), 404, 'not_found');
    });

    it('validates the new key (role, organization)', async () => {
      const bad = expectProblem(
        await request(api.app).post('/v1/api-keys').set(admin).send({ name: '', role: 'root' }),
        400,
        'validation_failed',
      );
      expect(bad.errors?.map((e) => e.path).sort()).toEqual(['body.name', 'body.role']);
      expectProblem(
        await request(api.app)
          .post('/v1/api-keys')
          .set(admin)
          .send({ name: 'x', role: 'viewer', organizationId: uuidv7() }),
        404,
        'not_found',
      );
    });

    /** `jpm-sync apikey …` as an operator runs it, against this test's database. */
    const apikeyCli = (args: string[]) =>
      promisify(execFile)(process.execPath, ['src/main/cli.ts', 'apikey', ...args], {
        env: { PATH: process.env.PATH, NODE_ENV: 'test', DATABASE_URL: api.t.url, LOG_LEVEL: 'silent' },
      });

    it('`jpm-sync apikey create --json` prints a working key once', async () => {
      const org = await createOrg('CLI org');
      const out = CreatedKey.parse(
        JSON.parse((await apikeyCli(['create', '--name', 'bootstrap', '--role', 'admin', '--json'])).stdout),
      );
      expect(out).toMatchObject({ role: 'admin', organizationId: null, name: 'bootstrap' });
      expect((await request(api.app).get('/v1/audit').set(bearer(out.key))).status).toBe(200);
      const scoped = CreatedKey.parse(
        JSON.parse(
          (await apikeyCli(['create', '--name', 'org viewer', '--role', 'viewer', '--org', org, '--json'])).stdout,
        ),
      );
      expectProblem(
        await request(api.app).get(`/v1/organizations/${uuidv7()}`).set(bearer(scoped.key)),
        404,
        'not_found',
      );
      expect((await request(api.app).get(`/v1/organizations/${org}`).set(bearer(scoped.key))).status).toBe(200);
      await expect(apikeyCli(['create', '--name', 'x', '--role', 'root'])).rejects.toMatchObject({ code: 2 });
      await apikeyCli(['revoke', out.prefix]);
      expectProblem(await request(api.app).get('/v1/audit').set(bearer(out.key)), 401, 'invalid_api_key');
      const cliAudit = bodyOf(
        AuditPage,
        await request(api.app).get('/v1/audit').query({ method: 'CLI', targetId: out.id }).set(admin),
      );
      expect(cliAudit.data.map((e) => e.route).sort()).toEqual(['apikey create', 'apikey revoke']);
    });

    it('`jpm-sync apikey create` whose audit row cannot be written leaves no key behind', async () => {
      await sql`create function test_refuse_cli_audit() returns trigger language plpgsql as $$
        begin raise exception 'test: audit refused'; end $$`.execute(api.t.db);
      await sql`create trigger test_refuse_cli_audit before insert on audit_log for each row
        when (new.route = 'apikey create') execute function test_refuse_cli_audit()`.execute(api.t.db);
      try {
        await expect(
          apikeyCli(['create', '--name', 'never audited', '--role', 'viewer', '--json']),
        ).rejects.toMatchObject({
          stdout: '',
          stderr: expect.not.stringMatching(/\bat .*\.ts:\d+/) as unknown,
        });
      } finally {
        await sql`drop trigger test_refuse_cli_audit on audit_log`.execute(api.t.db);
        await sql`drop function test_refuse_cli_audit()`.execute(api.t.db);
      }
      const left = await api.t.db.selectFrom('api_keys').select('id').where('name', '=', 'never audited').execute();
      expect(left).toEqual([]);
    });
  });

  describe('audit log', () => {
    it('records every authenticated mutating call with who, what, target, organization, request id and outcome', async () => {
      const operator = await api.key('operator');
      const created = await request(api.app)
        .post('/v1/organizations')
        .set(admin)
        .set('X-Request-Id', 'audit-create-1')
        .send({ name: 'Audited' });
      const orgId = bodyOf(OrganizationSchema, created).id;
      await request(api.app).post('/v1/organizations').set(admin).set('X-Request-Id', 'audit-invalid-1').send({});
      await request(api.app)
        .post('/v1/api-keys')
        .set(bearer(operator))
        .set('X-Request-Id', 'audit-denied-1')
        .send({ name: 'x', role: 'admin' });
      await request(api.app).post('/v1/organizations').set('X-Request-Id', 'audit-anon-1').send({ name: 'Anon' });
      await request(api.app).get('/v1/organizations').set(admin).set('X-Request-Id', 'audit-read-1');

      const entries = bodyOf(AuditPage, await request(api.app).get('/v1/audit?limit=500').set(admin)).data;
      const byRequest = new Map(entries.map((e) => [e.requestId, e]));
      expect(byRequest.get('audit-create-1')).toMatchObject({
        method: 'POST',
        route: '/v1/organizations',
        targetType: 'organization',
        targetId: orgId,
        organizationId: orgId,
        statusCode: 201,
        apiKeyPrefix: api.adminKey.split('_')[1],
      });
      expect(byRequest.get('audit-invalid-1')).toMatchObject({ statusCode: 400, route: '/v1/organizations' });
      expect(byRequest.get('audit-denied-1')).toMatchObject({
        statusCode: 403,
        route: '/v1/api-keys',
        apiKeyPrefix: operator.split('_')[1],
      });
      expect(byRequest.has('audit-anon-1')).toBe(false);
      expect(byRequest.has('audit-read-1')).toBe(false);

      const failures = bodyOf(
        AuditPage,
        await request(api.app).get('/v1/audit').query({ outcome: 'failure', route: '/v1/organizations' }).set(admin),
      ).data;
      expect(failures.length).toBeGreaterThan(0);
      expect(failures.every((e) => e.statusCode >= 400 && e.route === '/v1/organizations')).toBe(true);
      const target = bodyOf(
        AuditPage,
        await request(api.app).get('/v1/audit').query({ targetId: orgId }).set(admin),
      ).data;
      expect(target.map((e) => e.requestId)).toEqual(['audit-create-1']);
    });

    it('records revocations with the revoked key as target, and org keys read only their organization', async () => {
      const org = await createOrg('Audit scope');
      const scoped = bearer(await api.key('admin', org));
      const key = await createKey(scoped, { name: 'to revoke', role: 'viewer' });
      await request(api.app).post(`/v1/api-keys/${key.id}/revoke`).set(scoped).set('X-Request-Id', 'audit-revoke-1');
      const seen = bodyOf(AuditPage, await request(api.app).get('/v1/audit?limit=500').set(scoped)).data;
      expect(seen.length).toBeGreaterThanOrEqual(2);
      expect(seen.every((e) => e.organizationId === org)).toBe(true);
      expect(seen.find((e) => e.requestId === 'audit-revoke-1')).toMatchObject({
        route: '/v1/api-keys/{id}/revoke',
        targetType: 'api_key',
        targetId: key.id,
        statusCode: 200,
      });
    });
  });
});
