import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAccount, createTenancy, type Tenancy } from '../factories/tenancy.ts';
import { createTestApi, type TestApi } from '../helpers/api-app.ts';
import { consoleSignIn } from '../helpers/console-session.ts';
import { obliterate } from '../helpers/orchestration.ts';

/**
 * The console's dates are the bank's business days, not the machine's UTC date. At 21:30 in New York (02:30 UTC the
 * next day) a New York account's business day is still the bank's, so the day page offers no "next" day the bank has
 * not begun, and the re-sync form's default range ends on the last day the bank has closed.
 */
const CLOCK = new Date('2026-11-04T02:30:00Z');
const BANK_DAY = '2026-11-03';

describe('operator console: business days', () => {
  let api: TestApi;
  let tenancy: Tenancy;
  let accountId: string;
  let cookie: string;
  let csrf: string;

  beforeAll(async () => {
    api = await createTestApi({ now: () => CLOCK });
    tenancy = await createTenancy(api.t.db);
    accountId = (await createAccount(api.t.db, tenancy, { timeZone: 'America/New_York' })).id;
    // The bank said 2026-11-03 was the current business day that morning (New York).
    await api.t.db
      .updateTable('bank_accounts')
      .set({ bank_business_day: BANK_DAY, bank_calendar_at: new Date('2026-11-03T14:00:00Z') })
      .where('id', '=', accountId)
      .execute();
    ({ cookie, csrf } = await consoleSignIn(api.app, await api.key('operator', tenancy.organizationId)));
  });

  afterAll(async () => {
    if (api) {
      await obliterate(api.ctx.queues);
      await api.close();
    }
  });

  it("the day page of the bank's current business day links to no later day", async () => {
    const res = await request(api.app).get(`/console/accounts/${accountId}/days/${BANK_DAY}`).set('Cookie', cookie);
    expect(res.status).toBe(200);
    expect(res.text).toContain('2026-11-02</a>');
    expect(res.text).not.toContain('2026-11-04');
    // Not "not validated yet": a day the bank has not closed has no final data to prove.
    expect(res.text).toContain(
      `No proof yet: the bank has not closed this day (it is the account's current business day, ${BANK_DAY}).`,
    );
  });

  it("the account page's period ends on the bank's business day when no day is proved yet", async () => {
    const res = await request(api.app).get(`/console/accounts/${accountId}`).set('Cookie', cookie);
    expect(res.status).toBe(200);
    expect(res.text).toContain(`to ${BANK_DAY}</h2>`);
  });

  it("the re-sync form's default range ends on the last day the bank closed", async () => {
    const res = await request(api.app).get(`/console/integrations/${tenancy.integrationId}`).set('Cookie', cookie);
    expect(res.status).toBe(200);
    expect(res.text).toMatch(/id="rs-from" name="from" type="date" required value="2026-10-27"/);
    expect(res.text).toMatch(/id="rs-to" name="to" type="date" required value="2026-11-02"/);
  });

  it('a re-sync says which days it queued: none the bank has not closed, and a run joined as joined', async () => {
    const resync = async () => {
      const res = await request(api.app)
        .post(`/console/integrations/${tenancy.integrationId}/resync`)
        .set('Cookie', cookie)
        .type('form')
        .send({ _csrf: csrf, accountId, from: '2026-10-30', to: BANK_DAY });
      expect(res.status).toBe(303);
      const page = await request(api.app).get(res.headers.location!).set('Cookie', cookie);
      return /<div class="flash [^"]*"[^>]*>\s*<p>([^<]*)/.exec(page.text)?.[1];
    };
    expect(await resync()).toBe(
      `Re-sync queued: 1 run(s), 2026-10-30 to 2026-11-02. ${BANK_DAY} is not included: the bank has not closed it yet. Progress below.`,
    );
    expect(await resync()).toBe(
      `Re-sync queued: 1 run(s), 2026-10-30 to 2026-11-02, of which 1 already under way for these dates (joined, not queued again). ${BANK_DAY} is not included: the bank has not closed it yet. Progress below.`,
    );
  });
});
