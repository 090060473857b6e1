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
    ({ cookie } = await consoleSignIn(api.app, await api.key('operator', tenancy.organizationId)));
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
});
