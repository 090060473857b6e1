import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CSR_SUBJECT } from '../factories/onboarding.ts';
import { createAccount, createTenancy, type Tenancy } from '../factories/tenancy.ts';
import { bearer, createTestApi, expectProblem, type TestApi } from '../helpers/api-app.ts';
import { consoleSignIn } from '../helpers/console-session.ts';
import { obliterate } from '../helpers/orchestration.ts';

/**
 * A 400's field errors name each field one way, from the request part it is in (`body.from`, as README documents),
 * whether the request's schema refused it or the handler did: a client maps errors to its form fields by one rule.
 */
describe('field paths of 400 errors', () => {
  let api: TestApi;
  let tenancy: Tenancy;
  let accountId: string;

  beforeAll(async () => {
    api = await createTestApi();
    tenancy = await createTenancy(api.t.db);
    accountId = (await createAccount(api.t.db, tenancy)).id;
  });

  afterAll(async () => {
    if (api) {
      await obliterate(api.ctx.queues);
      await api.close();
    }
  });

  const post = (path: string, body: object) => request(api.app).post(path).set(bearer(api.adminKey)).send(body);
  const pathsOf = (res: request.Response) =>
    (expectProblem(res, 400, 'validation_failed').errors ?? []).map((e) => e.path);

  it("a range's from: body.from whether the schema or the planner refuses it", async () => {
    const path = `/v1/accounts/${accountId}/sync-runs`;
    expect(pathsOf(await post(path, { mode: 'range', from: '2025-13-01', to: '2025-12-31' }))).toEqual(['body.from']);
    expect(pathsOf(await post(path, { mode: 'range', from: '2025-12-05', to: '2025-12-01' }))).toEqual(['body.from']);
  });

  it("a CSR subject's fields: body.subject.* whether the schema or the CSR rules refuse them", async () => {
    const path = `/v1/integrations/${tenancy.integrationId}/key-pairs`;
    expect(pathsOf(await post(path, { subject: { ...CSR_SUBJECT, locality: 'New\udfffYork' } }))).toEqual([
      'body.subject.locality',
    ]);
    expect(pathsOf(await post(path, { subject: { ...CSR_SUBJECT, state: 'N\u0007Y' } }))).toEqual([
      'body.subject.state',
    ]);
  });

  it('the console shows the field as the API names it', async () => {
    const { cookie, csrf } = await consoleSignIn(api.app, await api.key('operator', tenancy.organizationId));
    const res = await request(api.app)
      .post(`/console/integrations/${tenancy.integrationId}/resync`)
      .set('Cookie', cookie)
      .type('form')
      .send({ _csrf: csrf, accountId, from: '2025-12-05', to: '2025-12-01' });
    const page = res.status === 303 ? await request(api.app).get(res.headers.location!).set('Cookie', cookie) : res;
    expect(page.text).toContain('<code>body.from</code>');
  });
});
