import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addContact } from '../../src/notifications/index.ts';
import { createIntegration } from '../../src/onboarding/index.ts';
import { csrfToken, deriveReviewKeys, signReviewToken, type ReviewKeys } from '../../src/review/index.ts';
import { uuidv7 } from '../../src/shared/ids.ts';
import { insertReviewLinks } from '../../src/storage/reviews.repo.ts';
import { createOrganization } from '../factories/onboarding.ts';
import { createTestApi, type TestApi } from '../helpers/api-app.ts';

/**
 * The review page's answer forms against the real app and Postgres: an answer posted again (a double click, a
 * browser retrying the post, a replayed request) is the same answer, recorded once; "something is wrong" opens one
 * follow-up and mails our account manager once. A different answer is still recorded.
 */
let api: TestApi;
let keys: ReviewKeys;

beforeAll(async () => {
  api = await createTestApi();
  keys = deriveReviewKeys(api.ctx.secrets.masterKey.key);
});
afterAll(async () => api.close());

async function reviewLink(name: string): Promise<{ path: string; csrf: string; integrationId: string }> {
  const db = api.t.db;
  const organizationId = await createOrganization(db, `${name} Org`);
  const { id } = await createIntegration(db, { organizationId, name, environment: 'cat', actor: 'ops' });
  const controller = await addContact(db, {
    integrationId: id,
    role: 'controller',
    name: 'Cora Controller',
    email: 'cora@acme.example',
    actor: 'ops',
  });
  await addContact(db, {
    integrationId: id,
    role: 'account_manager',
    name: 'Max Manager',
    email: 'max@jpm-sync.example',
    actor: 'ops',
  });
  const reportId = uuidv7();
  await db
    .insertInto('validation_reports')
    .values({
      id: reportId,
      organization_id: organizationId,
      integration_id: id,
      period_from: '2031-01-05',
      period_to: '2031-01-06',
      requested_by: 'test',
      status: 'completed',
      passed: true,
      reasons: JSON.stringify([]),
      completed_at: new Date(),
      report: JSON.stringify({}),
    })
    .execute();
  const [link] = await insertReviewLinks(db, [
    {
      id: uuidv7(),
      organizationId,
      integrationId: id,
      reportId,
      contactId: controller.id,
      expiresAt: new Date(Date.now() + 14 * 86_400_000),
    },
  ]);
  return {
    path: `/review/${signReviewToken(keys, link!.id, link!.expires_at)}`,
    csrf: csrfToken(keys, link!.id),
    integrationId: id,
  };
}

const reviewsOf = (integrationId: string) =>
  api.t.db
    .selectFrom('customer_reviews')
    .select(['verdict', 'note', 'follow_up_status'])
    .where('integration_id', '=', integrationId)
    .orderBy('id')
    .execute();

const managerMails = (integrationId: string) =>
  api.t.db
    .selectFrom('notification_deliveries')
    .select('id')
    .where('integration_id', '=', integrationId)
    .where('milestone', '=', 'review_problem_reported')
    .execute();

describe('review answers posted again', () => {
  it('"something is wrong" posted twice at once opens one follow-up and mails the account manager once', async () => {
    const l = await reviewLink('Double Click Co');
    const post = () =>
      request(api.app)
        .post(`${l.path}/problem`)
        .type('form')
        .send({ csrf: l.csrf, note: 'The fee on 5 Jan is not ours' });
    const answers = await Promise.all([post(), post()]);
    expect(answers.map((r) => r.status)).toEqual([303, 303]);
    expect(await reviewsOf(l.integrationId)).toEqual([
      { verdict: 'problem', note: 'The fee on 5 Jan is not ours', follow_up_status: 'open' },
    ]);
    expect(await managerMails(l.integrationId)).toHaveLength(1);
  });

  it('a replayed "complete and accurate" is recorded once; a changed answer is recorded', async () => {
    const l = await reviewLink('Replay Co');
    const accurate = () => request(api.app).post(`${l.path}/accurate`).type('form').send({ csrf: l.csrf });
    await accurate().expect(303);
    await accurate().expect(303);
    expect(await reviewsOf(l.integrationId)).toEqual([{ verdict: 'accurate', note: '', follow_up_status: null }]);
    await request(api.app)
      .post(`${l.path}/problem`)
      .type('form')
      .send({ csrf: l.csrf, note: 'On second look, a payment is missing' })
      .expect(303);
    await accurate().expect(303);
    expect((await reviewsOf(l.integrationId)).map((r) => r.verdict)).toEqual(['accurate', 'problem', 'accurate']);
  });
});
