import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IntegrationSchema } from '../../src/admin-api/integrations.dto.ts';
import { pageSchema } from '../../src/http/pagination.ts';
import { createTenancy, type Tenancy } from '../factories/tenancy.ts';
import { bearer, bodyOf, createTestApi, type TestApi } from '../helpers/api-app.ts';
import { consoleSignIn } from '../helpers/console-session.ts';
import { obliterate } from '../helpers/orchestration.ts';

/**
 * The app has one clock: the one it is built with (`buildApiApp(ctx, { now })`, the machine's in production). The API
 * decides "overdue", lists `overdue=true` and stamps a new integration's stage by it, as the console does. The clock here
 * is decades from the machine's, so a due instant a day before it has passed by the app's clock and not by the machine's:
 * any part still reading the machine's clock disagrees with the rest.
 */
const DAY_MS = 86_400_000;
const CLOCK = new Date('2090-03-15T12:00:00.000Z');
const IntegrationPage = pageSchema(IntegrationSchema);

describe("admin API: the app's clock decides overdue and stamps onboarding", () => {
  let api: TestApi;
  let late: Tenancy;
  let onTime: Tenancy;

  beforeAll(async () => {
    api = await createTestApi({ now: () => CLOCK });
    late = await createTenancy(api.t.db, { name: 'Late Treasury' });
    onTime = await createTenancy(api.t.db, { name: 'On Time Treasury' });
    const dueAt = (t: Tenancy, stageDue: Date) =>
      api.t.db
        .updateTable('integrations')
        .set({ stage: 'kickoff', stage_due_at: stageDue, process_due_at: new Date(CLOCK.getTime() + 30 * DAY_MS) })
        .where('id', '=', t.integrationId)
        .execute();
    await dueAt(late, new Date(CLOCK.getTime() - DAY_MS));
    await dueAt(onTime, new Date(CLOCK.getTime() + DAY_MS));
  });

  afterAll(async () => {
    if (api) {
      await obliterate(api.ctx.queues);
      await api.close();
    }
  });

  it('an integration is overdue when its due instant is before the clock, and only then', async () => {
    const get = async (t: Tenancy) =>
      bodyOf(
        IntegrationSchema,
        await request(api.app).get(`/v1/integrations/${t.integrationId}`).set(bearer(api.adminKey)),
      );
    expect((await get(late)).overdue).toEqual(['stage']);
    expect((await get(onTime)).overdue).toEqual([]);
    const overdue = bodyOf(
      IntegrationPage,
      await request(api.app).get('/v1/integrations?overdue=true').set(bearer(api.adminKey)),
    ).data;
    expect(overdue.map((i) => i.id)).toEqual([late.integrationId]);
  });

  it('the console and the API agree on the same integration', async () => {
    const { cookie } = await consoleSignIn(api.app, api.adminKey);
    const card = async (t: Tenancy) => {
      const res = await request(api.app).get(`/console/integrations/${t.integrationId}`).set('Cookie', cookie);
      expect(res.status).toBe(200);
      return res.text;
    };
    expect(await card(late)).toContain('Overdue (stage)');
    expect(await card(onTime)).not.toContain('Overdue');
  });

  it('a new integration enters its first stage at the clock', async () => {
    const res = await request(api.app)
      .post('/v1/integrations')
      .set(bearer(api.adminKey))
      .send({ organizationId: late.organizationId, name: 'Second line', baseUrl: 'https://127.0.0.1:1' });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    const created = bodyOf(IntegrationSchema, res);
    expect(created.stageEnteredAt).toBe(CLOCK.toISOString());
    expect(created.overdue).toEqual([]);
  });
});
