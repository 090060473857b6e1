import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAccount, createTenancy, type Tenancy } from '../factories/tenancy.ts';
import { ingestWire, wireTransaction } from '../factories/transactions.ts';
import { createTestApi, type TestApi } from '../helpers/api-app.ts';
import { obliterate } from '../helpers/orchestration.ts';

/**
 * Console pages over data the bank controls, through the real app, Postgres and Redis: a busy day's
 * transactions are paged (never a silent cut presented as the whole day), and bank text is escaped.
 */
const DAY = '2026-11-03';
const BUSY = 620;

async function signIn(app: TestApi['app'], key: string): Promise<string> {
  const form = await request(app).get('/console/sign-in');
  const pre = ([] as string[])
    .concat(form.headers['set-cookie'] ?? [])
    .find((c) => c.startsWith('jpms_console_signin='));
  const token = /name="_csrf" value="([^"]+)"/.exec(form.text)![1]!;
  const res = await request(app)
    .post('/console/sign-in')
    .set('Cookie', pre!.split(';')[0]!)
    .type('form')
    .send({ _csrf: token, apiKey: key });
  const session = ([] as string[]).concat(res.headers['set-cookie'] ?? []).find((c) => c.startsWith('jpms_console='));
  return session!.split(';')[0]!;
}

const rows = (text: string) => [...text.matchAll(/<tr data-transaction-id="([^"]+)"/g)].map((m) => m[1]!);

describe('operator console: pages over bank data', () => {
  let api: TestApi;
  let tenancy: Tenancy;
  let accountId: string;
  let cookie: string;

  beforeAll(async () => {
    api = await createTestApi();
    tenancy = await createTenancy(api.t.db);
    const account = await createAccount(api.t.db, tenancy, { jpmAccountId: '000000012345' });
    accountId = account.id;
    const records = Array.from({ length: BUSY }, (_, i) =>
      wireTransaction({
        transactionId: `BUSY-${String(i).padStart(4, '0')}`,
        jpmAccountId: '000000012345',
        asOfDate: DAY,
        amount: `${i + 1}.00`,
        shortDescription: i === 0 ? '<script>alert("x")</script> PAYROLL' : `ITEM ${i}`,
        bankReference: i === 0 ? '"><img src=x>' : `BR-${i}`,
      }),
    );
    for (let i = 0; i < records.length; i += 200) {
      await ingestWire(api.t.db, { id: accountId, organizationId: tenancy.organizationId }, records.slice(i, i + 200));
    }
    cookie = await signIn(api.app, await api.key('viewer', tenancy.organizationId));
  });

  afterAll(async () => {
    if (api) {
      await obliterate(api.ctx.queues);
      await api.close();
    }
  });

  it("pages a busy day's transactions: every one reachable, none twice, the count never claimed for a part", async () => {
    const seen: string[] = [];
    let path: string | undefined = `/console/accounts/${accountId}/days/${DAY}`;
    for (let pages = 0; path && pages < 5; pages++) {
      const res: request.Response = await request(api.app).get(path).set('Cookie', cookie);
      expect(res.status).toBe(200);
      const shown = rows(res.text);
      seen.push(...shown);
      // A heading never presents part of the day as all of it.
      expect(res.text).not.toContain(`Transactions booked on ${DAY} (${shown.length})</h2>`);
      const next: string | undefined = /<a rel="next" href="([^"]+)"/.exec(res.text)?.[1];
      path = next?.replaceAll('&amp;', '&');
    }
    expect(seen.length).toBe(BUSY);
    expect(new Set(seen).size).toBe(BUSY);
    // A tampered position is the API's refusal on a console page, never a stack.
    const bad = await request(api.app)
      .get(`/console/accounts/${accountId}/days/${DAY}?cursor=not-a-cursor`)
      .set('Cookie', cookie);
    expect(bad.status).toBe(400);
    expect(bad.text).toContain('cursor');
    expect(bad.text).not.toMatch(/\.ts:\d+|\n\s+at /);
  });

  it('escapes bank text on the day page', async () => {
    const res = await request(api.app).get(`/console/accounts/${accountId}/days/${DAY}`).set('Cookie', cookie);
    expect(res.text).toContain('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; PAYROLL');
    expect(res.text).toContain('&quot;&gt;&lt;img src=x&gt;');
    expect(res.text).not.toContain('<script>alert');
    expect(res.text).not.toContain('<img src=x>');
  });
});
