import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createIntegration } from '../../src/onboarding/index.ts';
import { createOrganization } from '../factories/onboarding.ts';
import { bearer, createTestApi, expectProblem, type TestApi } from '../helpers/api-app.ts';

/** Contacts and the milestone email log through the admin API: validation, scope, audit. */
interface Contact {
  id: string;
  role: string;
  name: string;
  email: string;
}
const one = (res: { body: unknown }) => res.body as Contact;
const page = (res: { body: unknown }) => (res.body as { data: Contact[] }).data;
let api: TestApi;
let orgId: string;
let otherOrgId: string;
let integrationId: string;

beforeAll(async () => {
  api = await createTestApi();
  orgId = await createOrganization(api.ctx.db, 'Acme Corp');
  otherOrgId = await createOrganization(api.ctx.db, 'Other Corp');
  integrationId = (
    await createIntegration(api.ctx.db, {
      organizationId: orgId,
      name: 'Acme Treasury',
      environment: 'cat',
      actor: 'test',
    })
  ).id;
});

afterAll(async () => {
  await api.close();
});

describe('integration contacts (admin API)', () => {
  it('adds, lists and removes contacts, audits each change, and logs the welcome email as pending', async () => {
    const key = await api.key('operator', orgId);
    const path = `/v1/integrations/${integrationId}/contacts`;
    const created = await request(api.app)
      .post(path)
      .set(bearer(key))
      .send({ role: 'controller', name: 'Cora Controller', email: 'cora@acme.example' });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      integrationId,
      role: 'controller',
      name: 'Cora Controller',
      email: 'cora@acme.example',
    });
    // The same role and address renames the contact instead of adding a second one.
    const renamed = await request(api.app)
      .post(path)
      .set(bearer(key))
      .send({ role: 'controller', name: 'Cora C. Controller', email: 'CORA@acme.example' });
    expect(renamed.status).toBe(201);
    expect(one(renamed).id).toBe(one(created).id);
    await request(api.app)
      .post(path)
      .set(bearer(key))
      .send({ role: 'account_manager', name: 'Max Manager', email: 'max@jpm-sync.example' })
      .expect(201);

    const list = await request(api.app).get(path).set(bearer(key)).expect(200);
    expect(page(list).map((c) => [c.role, c.name])).toEqual([
      ['controller', 'Cora C. Controller'],
      ['account_manager', 'Max Manager'],
    ]);

    const emails = await request(api.app)
      .get(`/v1/integrations/${integrationId}/milestone-emails`)
      .set(bearer(key))
      .expect(200);
    // The integration is still `requested`: the customer contact gets "request received"; our account manager does not.
    expect((emails.body as { data: unknown[] }).data).toEqual([
      expect.objectContaining({
        milestone: 'request_received',
        recipientEmail: 'cora@acme.example',
        recipientRole: 'controller',
        status: 'pending',
        attempts: 0,
        attemptLog: [],
      }),
    ]);

    const removed = await request(api.app)
      .delete(`${path}/${one(created).id}`)
      .set(bearer(key))
      .expect(200);
    expect(one(removed).id).toBe(one(created).id);
    expectProblem(
      await request(api.app)
        .delete(`${path}/${one(created).id}`)
        .set(bearer(key)),
      404,
      'not_found',
    );
    const after = await request(api.app).get(path).set(bearer(key)).expect(200);
    expect(page(after).map((c) => c.role)).toEqual(['account_manager']);

    const audit = await api.t.db
      .selectFrom('audit_log')
      .select(['route', 'target_type', 'target_id', 'organization_id', 'status_code'])
      .where('target_type', '=', 'integration_contact')
      .orderBy('id')
      .execute();
    expect(audit.map((a) => [a.route, a.target_id, a.organization_id, a.status_code])).toEqual([
      ['/v1/integrations/{id}/contacts', one(created).id, orgId, 201],
      ['/v1/integrations/{id}/contacts', one(created).id, orgId, 201],
      ['/v1/integrations/{id}/contacts', expect.any(String), orgId, 201],
      ['/v1/integrations/{id}/contacts/{contactId}', one(created).id, orgId, 200],
      ['/v1/integrations/{id}/contacts/{contactId}', one(created).id, orgId, 404],
    ]);
  });

  it('accepts an internationalized domain, stores it in punycode (the form SMTP carries) and takes both forms for one contact', async () => {
    const key = await api.key('operator', orgId);
    const path = `/v1/integrations/${integrationId}/contacts`;
    const unicode = await request(api.app)
      .post(path)
      .set(bearer(key))
      .send({ role: 'finance_owner', name: 'Anna Bücher', email: 'anna@bücher.example' });
    expect(unicode.status).toBe(201);
    expect(unicode.body).toMatchObject({ email: 'anna@xn--bcher-kva.example' });
    // The punycode form, in other case, and the Unicode domain in capitals are the same person.
    for (const email of ['ANNA@XN--BCHER-KVA.EXAMPLE', 'Anna@BÜCHER.example']) {
      const again = await request(api.app)
        .post(path)
        .set(bearer(key))
        .send({ role: 'finance_owner', name: 'Anna B.', email });
      expect(again.status).toBe(201);
      expect(one(again).id).toBe(one(unicode).id);
    }
    const list = await request(api.app).get(path).set(bearer(key)).expect(200);
    expect(page(list).filter((c) => c.role === 'finance_owner')).toHaveLength(1);

    // A non-ASCII mailbox name needs SMTPUTF8 end to end: refused, saying so and what to give instead.
    const local = expectProblem(
      await request(api.app)
        .post(path)
        .set(bearer(key))
        .send({ role: 'finance_owner', name: 'Jörg', email: 'jörg@acme.example' }),
      400,
      'validation_failed',
    );
    expect(JSON.stringify(local)).toMatch(/body\.email.*SMTPUTF8.*ASCII/);
    const domain = expectProblem(
      await request(api.app)
        .post(path)
        .set(bearer(key))
        .send({ role: 'finance_owner', name: 'X', email: 'x@bad domain.example' }),
      400,
      'validation_failed',
    );
    expect(JSON.stringify(domain)).toContain('body.email');
  });

  it('takes an internationalized top-level domain, and refuses a line break inside an address, a look-alike domain mixing alphabets and over-long parts', async () => {
    const key = await api.key('operator', orgId);
    const path = `/v1/integrations/${integrationId}/contacts`;
    const add = (name: string, email: string) =>
      request(api.app).post(path).set(bearer(key)).send({ role: 'security_admin', name, email });
    const idnTld = await add('Ivan', 'ivan@пример.рф');
    expect(idnTld.status, JSON.stringify(idnTld.body)).toBe(201);
    expect(idnTld.body).toMatchObject({ email: 'ivan@xn--e1afmkfd.xn--p1ai' });

    // A line break or tab inside the domain was dropped by the domain's conversion, storing another address.
    for (const email of ['mallory@exa\r\nmple.example', 'mallory@exa\tmple.example']) {
      const refused = expectProblem(await add('Mallory', email), 400, 'validation_failed');
      expect(JSON.stringify(refused)).toMatch(/body\.email.*line break/);
    }
    // A look-alike domain: a Cyrillic а among Latin letters (in Unicode and in punycode), or a Greek α.
    for (const email of ['mallory@\u0430cme.example', 'mallory@xn--cme-5cd.example', 'mallory@\u03b1cme.example']) {
      const refused = expectProblem(await add('Mallory', email), 400, 'validation_failed');
      expect(JSON.stringify(refused)).toMatch(/body\.email.*mixes alphabets/);
    }
    // SMTP's limits: 64 characters before @, 63 in a label of the domain (in punycode).
    for (const email of [`${'a'.repeat(65)}@acme.example`, `anna@${'b'.repeat(64)}.example`]) {
      expectProblem(await add('Long', email), 400, 'validation_failed');
    }
    const list = await request(api.app).get(path).set(bearer(key)).expect(200);
    expect(
      page(list)
        .filter((c) => c.role === 'security_admin')
        .map((c) => c.email),
    ).toEqual(['ivan@xn--e1afmkfd.xn--p1ai']);
  });

  it('refuses bad input with a 400 that says what to fix, and hides other organizations (404) and writes from viewers (403)', async () => {
    const path = `/v1/integrations/${integrationId}/contacts`;
    const bad = expectProblem(
      await request(api.app)
        .post(path)
        .set(bearer(api.adminKey))
        .send({ role: 'ceo', name: 'X', email: 'x@acme.example' }),
      400,
      'validation_failed',
    );
    expect(JSON.stringify(bad)).toContain('role');
    const badEmail = expectProblem(
      await request(api.app)
        .post(path)
        .set(bearer(api.adminKey))
        .send({ role: 'controller', name: 'X', email: 'not-an-address' }),
      400,
      'validation_failed',
    );
    expect(JSON.stringify(badEmail)).toContain('email');
    expectProblem(
      await request(api.app)
        .post(path)
        .set(bearer(api.adminKey))
        .send({ role: 'controller', name: '  ', email: 'x@acme.example' }),
      400,
      'validation_failed',
    );
    expectProblem(
      await request(api.app)
        .post(path)
        .set(bearer(api.adminKey))
        .send({ role: 'controller', name: 'X', email: 'x@acme.example', extra: 1 }),
      400,
      'validation_failed',
    );

    const other = await api.key('admin', otherOrgId);
    expectProblem(await request(api.app).get(path).set(bearer(other)), 404, 'not_found');
    expectProblem(
      await request(api.app)
        .post(path)
        .set(bearer(other))
        .send({ role: 'controller', name: 'X', email: 'x@acme.example' }),
      404,
      'not_found',
    );
    expectProblem(
      await request(api.app).get(`/v1/integrations/${integrationId}/milestone-emails`).set(bearer(other)),
      404,
      'not_found',
    );
    const viewer = await api.key('viewer', orgId);
    expectProblem(
      await request(api.app)
        .post(path)
        .set(bearer(viewer))
        .send({ role: 'controller', name: 'X', email: 'x@acme.example' }),
      403,
      'forbidden',
    );
    await request(api.app).get(path).set(bearer(viewer)).expect(200);
  });
});

describe('review links without email', () => {
  it('refuses to re-send a review link while milestone emails are off (409 email_off), saying how to turn them on', async () => {
    const key = await api.key('operator', orgId);
    const contact = await request(api.app)
      .post(`/v1/integrations/${integrationId}/contacts`)
      .set(bearer(key))
      .send({ role: 'controller', name: 'Rita Reviewer', email: 'rita@acme.example' })
      .expect(201);
    const res = await request(api.app)
      .post(`/v1/integrations/${integrationId}/review-links`)
      .set(bearer(key))
      .send({ contactId: one(contact).id });
    expect(JSON.stringify(expectProblem(res, 409, 'email_off'))).toContain('SMTP_URL');
  });

  it('refuses it too while emails are on but the public base URL the link is built on is not set (the email would carry no link)', async () => {
    const smtp = { SMTP_URL: 'smtp://127.0.0.1:9', SMTP_FROM: 'onboarding@jpm-sync.example' };
    for (const [env, code, says] of [
      [smtp, 'email_off', 'PUBLIC_BASE_URL'],
      // With both set the same request gets past the gate (this integration has no passed report to link to).
      [{ ...smtp, PUBLIC_BASE_URL: 'https://sync.jpm-sync.example' }, 'no_passed_report', 'report'],
    ] as const) {
      const other = await createTestApi({ env });
      try {
        const org = await createOrganization(other.ctx.db, 'Acme Corp');
        const integration = (
          await createIntegration(other.ctx.db, {
            organizationId: org,
            name: 'Acme Treasury',
            environment: 'cat',
            actor: 'test',
          })
        ).id;
        const key = await other.key('operator', org);
        const contact = await request(other.app)
          .post(`/v1/integrations/${integration}/contacts`)
          .set(bearer(key))
          .send({ role: 'controller', name: 'Rita Reviewer', email: 'rita@acme.example' })
          .expect(201);
        const res = await request(other.app)
          .post(`/v1/integrations/${integration}/review-links`)
          .set(bearer(key))
          .send({ contactId: one(contact).id });
        expect(JSON.stringify(expectProblem(res, 409, code))).toContain(says);
      } finally {
        await other.close();
      }
    }
  });
});
