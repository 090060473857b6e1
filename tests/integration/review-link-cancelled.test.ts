import { sql } from 'kysely';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uuidv7 } from '../../src/shared/ids.ts';
import { createTenancy } from '../factories/tenancy.ts';
import { bearer, createTestApi, expectProblem, type TestApi } from '../helpers/api-app.ts';

/**
 * A cancelled integration is final: its controller is not mailed a fresh review link (for a report of an onboarding
 * that will not go live); 409 `integration_cancelled`, no link renewed and no mail queued. The current link, if any,
 * is left as it was.
 */
let api: TestApi;

beforeAll(async () => {
  api = await createTestApi({
    env: {
      SMTP_URL: 'smtp://127.0.0.1:9',
      SMTP_FROM: 'onboarding@jpm-sync.example',
      PUBLIC_BASE_URL: 'https://sync.jpm-sync.example',
    },
  });
});

afterAll(async () => {
  await api?.close();
});

describe('review links of a cancelled integration', () => {
  it('409 integration_cancelled, no link and no mail; the same request for an integration not cancelled sends one', async () => {
    const admin = bearer(api.adminKey);
    const send = async (cancel: boolean) => {
      const t = await createTenancy(api.t.db);
      const contact = await request(api.app)
        .post(`/v1/integrations/${t.integrationId}/contacts`)
        .set(admin)
        .send({ role: 'controller', name: 'Rita Reviewer', email: 'rita@acme.example' });
      expect(contact.status, contact.text).toBe(201);
      // A passed report to link to.
      await sql`insert into validation_reports
          (id, organization_id, integration_id, period_from, period_to, status, passed, requested_by, completed_at)
        values (${uuidv7()}, ${t.organizationId}, ${t.integrationId}, '2025-03-01', '2025-03-07', 'completed', true,
          'test', now())`.execute(api.t.db);
      if (cancel) {
        await sql`update integrations set stage = 'cancelled' where id = ${t.integrationId}`.execute(api.t.db);
      }
      const res = await request(api.app)
        .post(`/v1/integrations/${t.integrationId}/review-links`)
        .set(admin)
        .send({ contactId: (contact.body as { id: string }).id });
      const counts = await sql<{ links: number; mails: number }>`select
          (select count(*)::int from review_links where integration_id = ${t.integrationId}) as links,
          (select count(*)::int from notification_deliveries where integration_id = ${t.integrationId}
            and milestone = 'validation_report_ready') as mails`.execute(api.t.db);
      return { res, t, counts: counts.rows[0] };
    };
    const open = await send(false);
    expect(open.res.status, open.res.text).toBe(201);
    expect(open.counts).toEqual({ links: 1, mails: 1 });

    const cancelled = await send(true);
    expect(expectProblem(cancelled.res, 409, 'integration_cancelled').detail).toBe(
      `integration ${cancelled.t.integrationId} is cancelled, which is final; cannot send a review link for it`,
    );
    expect(cancelled.counts).toEqual({ links: 0, mails: 0 });
  });
});
