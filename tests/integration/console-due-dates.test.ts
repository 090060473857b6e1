import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTenancy, type Tenancy } from '../factories/tenancy.ts';
import { createTestApi, type TestApi } from '../helpers/api-app.ts';
import { consoleSignIn } from '../helpers/console-session.ts';
import { obliterate } from '../helpers/orchestration.ts';

/**
 * The board's due dates are instants, and "overdue" is the instant passing. At 21:30 in New York (02:30 UTC the next
 * day) a stage due at 01:00 UTC is overdue: the board must not say "due <tomorrow's date>" beside "Overdue" (an operator
 * reads that as due tomorrow). It shows the instant with its time and zone, as the console shows every other instant,
 * so "Overdue" is exactly the shown instant having passed. The app here runs on the machine's clock (the default), so
 * the due instants are a day either side of it.
 */
const DAY_MS = 86_400_000;
const shown = (d: Date) => `${d.toISOString().slice(0, 10)} ${d.toISOString().slice(11, 16)} UTC`;

describe('operator console: onboarding due dates', () => {
  let api: TestApi;
  let late: Tenancy;
  let onTime: Tenancy;
  let cookie: string;
  // Whole minutes, so the shown instant is the instant itself.
  const minute = (ms: number) => new Date(Math.floor(ms / 60_000) * 60_000);
  const lateDue = minute(Date.now() - DAY_MS);
  const onTimeDue = minute(Date.now() + DAY_MS);

  const card = (text: string, id: string) =>
    new RegExp(`data-integration-id="${id}"[\\s\\S]*?</article>`).exec(text)?.[0].replace(/\s+/g, ' ') ?? '';

  beforeAll(async () => {
    api = await createTestApi();
    late = await createTenancy(api.t.db, { name: 'Late Treasury' });
    onTime = await createTenancy(api.t.db, { name: 'On Time Treasury' });
    const set = (t: Tenancy, stageDue: Date, processDue: Date) =>
      api.t.db
        .updateTable('integrations')
        .set({
          stage: 'kickoff',
          stage_due_at: stageDue,
          process_due_at: processDue,
        })
        .where('id', '=', t.integrationId)
        .execute();
    const now = Date.now();
    await set(late, lateDue, new Date(now + 30 * DAY_MS));
    await set(onTime, onTimeDue, new Date(now + 30 * DAY_MS));
    ({ cookie } = await consoleSignIn(api.app, await api.key('admin')));
  });

  afterAll(async () => {
    if (api) {
      await obliterate(api.ctx.queues);
      await api.close();
    }
  });

  it('shows a due instant with its time and zone, overdue exactly when that instant has passed', async () => {
    const res = await request(api.app).get('/console/').set('Cookie', cookie);
    expect(res.status).toBe(200);
    const lateCard = card(res.text, late.integrationId);
    expect(lateCard).toContain(`· due ${shown(lateDue)}`);
    expect(lateCard).toMatch(/live due \d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC/);
    expect(lateCard).toContain('Overdue (stage)');
    const onTimeCard = card(res.text, onTime.integrationId);
    expect(onTimeCard).toContain(`· due ${shown(onTimeDue)}`);
    expect(onTimeCard).not.toContain('Overdue');
  });

  it("the integration's own page shows the same", async () => {
    const res = await request(api.app).get(`/console/integrations/${late.integrationId}`).set('Cookie', cookie);
    expect(res.status).toBe(200);
    const text = res.text.replace(/\s+/g, ' ');
    expect(text).toContain(`· due ${shown(lateDue)}`);
    expect(text).toContain('Overdue (stage)');
  });
});
