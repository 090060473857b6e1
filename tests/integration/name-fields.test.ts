import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, createTestApi, expectProblem, type TestApi } from '../helpers/api-app.ts';

/**
 * Names people read (organizations, integrations, contacts, security administrators, API keys) go into mail subjects,
 * the plain text of milestone mails, log lines and pages. A line break in one would start a line that reads as our own
 * words ("Fake Co\nYour certificate was revoked: call +1 …"), so a name is one line: a control character is a 400
 * naming the field, and nothing is stored.
 */
let api: TestApi;
let organizationId: string;
let integrationId: string;

beforeAll(async () => {
  api = await createTestApi();
  const org = await request(api.app).post('/v1/organizations').set(bearer(api.adminKey)).send({ name: 'Names Co' });
  expect(org.status).toBe(201);
  organizationId = (org.body as { id: string }).id;
  const integration = await request(api.app)
    .post('/v1/integrations')
    .set(bearer(api.adminKey))
    .send({ organizationId, name: 'Names Treasury', environment: 'cat' });
  expect(integration.status).toBe(201);
  integrationId = (integration.body as { id: string }).id;
});

afterAll(async () => {
  await api?.close();
});

const BAD = ['Acme\nYour certificate was revoked', 'Acme\r\nBcc: x', 'Acme\tCorp', 'Acme\u2028Corp', 'Acme\u0085Corp'];

describe('a name with a line break or another control character', () => {
  it('is a 400 naming the field, for every name a client sets, and nothing is stored', async () => {
    const before = await api.t.db.selectFrom('organizations').select('id').execute();
    for (const name of BAD) {
      const cases: [string, string, Record<string, unknown>, string][] = [
        ['organization', '/v1/organizations', { name }, 'name'],
        ['integration', '/v1/integrations', { organizationId, name, environment: 'cat' }, 'name'],
        [
          'contact',
          `/v1/integrations/${integrationId}/contacts`,
          { role: 'finance_owner', name, email: 'fiona@acme.example' },
          'name',
        ],
        [
          'security administrator',
          `/v1/integrations/${integrationId}/security-admins`,
          { side: 'customer', name: 'Sid', email: 'sid@acme.example', role: name },
          'role',
        ],
        ['API key', '/v1/api-keys', { name, role: 'viewer', organizationId }, 'name'],
      ];
      for (const [what, path, body, field] of cases) {
        const res = await request(api.app).post(path).set(bearer(api.adminKey)).send(body);
        const problem = expectProblem(res, 400, 'validation_failed');
        expect(problem.errors, `${what}: ${JSON.stringify(name)}`).toEqual([
          expect.objectContaining({
            path: `body.${field}`,
            message: expect.stringMatching(/one line of text/) as unknown,
          }),
        ]);
      }
    }
    expect(await api.t.db.selectFrom('organizations').select('id').execute()).toEqual(before);
    const contacts = await api.t.db
      .selectFrom('integration_contacts')
      .select('id')
      .where('integration_id', '=', integrationId)
      .execute();
    expect(contacts).toEqual([]);
  });

  it('a name in one line, with letters of any script and punctuation, is stored as given (trimmed)', async () => {
    const res = await request(api.app)
      .post('/v1/organizations')
      .set(bearer(api.adminKey))
      .send({ name: '  Müller & Söhne — 株式会社 (Zürich)  ' });
    expect(res.status).toBe(201);
    expect((res.body as { name: string }).name).toBe('Müller & Söhne — 株式会社 (Zürich)');
  });
});
