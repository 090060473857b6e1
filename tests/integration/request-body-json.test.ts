import { sql } from 'kysely';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ApiKeySchema } from '../../src/admin-api/api-keys.routes.ts';
import { IntegrationSchema } from '../../src/admin-api/integrations.dto.ts';
import { OrganizationSchema } from '../../src/admin-api/organizations.routes.ts';
import { bearer, bodyOf, createTestApi, expectProblem, type TestApi } from '../helpers/api-app.ts';

const CreatedKey = ApiKeySchema.extend({ key: z.string() });

/**
 * JSON request bodies are read exactly: an object that repeats a name is refused (JSON.parse kept the
 * last value silently), and an escaped name is read as written, whatever bodies came before it (V8's
 * JSON.parse can misread one after another body's name).
 */
describe('JSON request bodies', () => {
  let api: TestApi;
  let admin: { Authorization: string };
  let organizationId: string;
  beforeAll(async () => {
    api = await createTestApi();
    admin = bearer(api.adminKey);
    const org = await request(api.app).post('/v1/organizations').set(admin).send({ name: 'Body Org' });
    expect(org.status).toBe(201);
    organizationId = bodyOf(OrganizationSchema, org).id;
  });
  afterAll(async () => {
    await api.close();
  });

  /** The text is sent as it is written (supertest would re-serialize an object). */
  const post = (path: string, text: string) =>
    request(api.app).post(path).set(admin).set('Content-Type', 'application/json').send(text);
  const count = async (table: 'organizations' | 'integrations' | 'api_keys'): Promise<number> => {
    const r = await sql<{ n: string }>`select count(*)::text as n from ${sql.table(table)}`.execute(api.t.db);
    return Number(r.rows[0]?.n);
  };

  it('refuses a name repeated at the top level with 400 repeated_name naming it, and writes nothing', async () => {
    const before = await count('organizations');
    const plain = expectProblem(
      await post('/v1/organizations', '{"name": "Acme", "name": "Evil"}'),
      400,
      'repeated_name',
    );
    expect(plain.detail).toContain('"name"');
    expect(plain.title).toBe('Repeated name in JSON body');
    // Names are compared unescaped: "n\u0061me" is "name".
    const escaped = expectProblem(
      await post('/v1/organizations', String.raw`{"name":"Acme","n\u0061me":"Evil"}`),
      400,
      'repeated_name',
    );
    expect(escaped.detail).toContain('"name"');
    // A long name is cut in the message.
    const long = 'x'.repeat(500);
    const cut = expectProblem(
      await post('/v1/organizations', `{"name":"Acme","${long}":1,"${long}":2}`),
      400,
      'repeated_name',
    );
    expect(cut.detail).toContain(`"${'x'.repeat(64)}…"`);
    expect(cut.detail).not.toContain('x'.repeat(65));
    expect(await count('organizations')).toBe(before);
  });

  it('refuses a name repeated in a nested object, and creates nothing', async () => {
    const before = await count('integrations');
    const res = await post(
      '/v1/integrations',
      JSON.stringify({ organizationId, name: 'Nested', environment: 'cat' }).replace(
        /}$/,
        ',"expectations":{"processDays":40,"processDays":1}}',
      ),
    );
    expect(expectProblem(res, 400, 'repeated_name').detail).toContain('"processDays"');
    expect(await count('integrations')).toBe(before);
  });

  it('reads escaped names as written, whatever names an earlier body gave', async () => {
    // A body whose second name ends in a backslash, then one whose second name ends in an escape:
    // Node 24's JSON.parse read the later name as the earlier one ("nam\" for "name": 400, name missing).
    const primer = expectProblem(
      await post('/v1/api-keys', String.raw`{"role":"viewer","nam\\":"primer"}`),
      400,
      'validation_failed',
    );
    expect(primer.errors).toContainEqual({ path: 'body.nam\\', message: 'unknown field' });
    const created = await post('/v1/api-keys', String.raw`{"role":"viewer","nam\u0065":"escaped"}`);
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(bodyOf(CreatedKey, created)).toMatchObject({ name: 'escaped', role: 'viewer' });

    // Nested, with a number: read as a number (the schema wants one), the name decoded.
    const integration = await post(
      '/v1/integrations',
      String.raw`{"organizationId":"${organizationId}","n\u0061me":"Escaped","environment":"cat","expectations":{"stageDays":{"requested":3},"process\u0044ays":40}}`,
    );
    expect(integration.status, JSON.stringify(integration.body)).toBe(201);
    expect(bodyOf(IntegrationSchema, integration)).toMatchObject({
      name: 'Escaped',
      expectationsOverride: { stageDays: { requested: 3 }, processDays: 40 },
    });
  });

  it('accepts the same name in sibling objects and in a parent and its child', async () => {
    // Read, then refused by validation for its unknown fields: the JSON itself is accepted.
    const res = await post('/v1/organizations', '{"name":"Acme","a":{"x":1,"a":{"x":2}},"b":{"x":3}}');
    const problem = expectProblem(res, 400, 'validation_failed');
    expect(problem.errors).toEqual(
      expect.arrayContaining([
        { path: 'body.a', message: 'unknown field' },
        { path: 'body.b', message: 'unknown field' },
      ]),
    );
  });

  it('answers malformed JSON as before (400 malformed_json), a repeat in it included', async () => {
    const before = await count('organizations');
    for (const text of [
      '{"name": "Ac',
      String.raw`{"n\u0061me": "Ac`,
      '{"name":"A","name":"B"',
      '"Acme"',
      String.raw`{"\x":1}`,
    ]) {
      expect(expectProblem(await post('/v1/organizations', text), 400, 'malformed_json').detail, text).toBe(
        'The request body is not valid JSON.',
      );
    }
    expect(await count('organizations')).toBe(before);
  });
});
