import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uuidv7 } from '../../src/shared/ids.ts';
import { createTenancy, type Tenancy } from '../factories/tenancy.ts';
import { createTestApi, type TestApi } from '../helpers/api-app.ts';
import { obliterate } from '../helpers/orchestration.ts';

/**
 * The console's lists longer than one page of the API (500): an integration's accounts and the onboarding board's
 * integrations are read a page at a time with the API's cursor. Every item is reachable, none shown twice, and a page
 * that is part of the list says so and links on: never a silent cut presented as the whole list. Real app, Postgres
 * and Redis.
 */
const ACCOUNTS = 520;
const INTEGRATIONS = 1001;

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

/** Follows the pages from `first`: each page's item ids (by `pattern`) and text. */
async function walk(app: TestApi['app'], cookie: string, first: string, pattern: RegExp) {
  const pages: { ids: string[]; text: string }[] = [];
  let path: string | undefined = first;
  for (let n = 0; path && n < 10; n++) {
    const res: request.Response = await request(app).get(path).set('Cookie', cookie);
    expect(res.status, path).toBe(200);
    pages.push({ ids: [...res.text.matchAll(pattern)].map((m) => m[1]!), text: res.text });
    path = /<a rel="next" href="([^"]+)"/.exec(res.text)?.[1]?.replaceAll('&amp;', '&');
  }
  return pages;
}

describe('operator console: lists longer than one page of the API', () => {
  let api: TestApi;
  let many: Tenancy;
  let busy: Tenancy;
  let accountIds: string[];
  let integrationIds: string[];

  beforeAll(async () => {
    api = await createTestApi();
    many = await createTenancy(api.t.db, { name: 'Many Accounts Org' });
    accountIds = Array.from({ length: ACCOUNTS }, () => uuidv7());
    await api.t.db
      .insertInto('bank_accounts')
      .values(
        accountIds.map((id, i) => ({
          id,
          organization_id: many.organizationId,
          integration_id: many.integrationId,
          jpm_account_id: `0000${String(i).padStart(8, '0')}`,
          bank_id: '02100002',
          currency: 'USD',
          decimal_location: 2,
          time_zone: 'America/New_York',
        })),
      )
      .execute();
    busy = await createTenancy(api.t.db, { name: 'Many Integrations Org' });
    integrationIds = [busy.integrationId, ...Array.from({ length: INTEGRATIONS - 1 }, () => uuidv7())];
    await api.t.db
      .insertInto('integrations')
      .values(
        integrationIds.slice(1).map((id, i) => ({
          id,
          organization_id: busy.organizationId,
          name: `Integration ${i}`,
          environment: 'simulator',
          base_url: 'https://127.0.0.1:1',
        })),
      )
      .execute();
  });

  afterAll(async () => {
    if (api) {
      await obliterate(api.ctx.queues);
      await api.close();
    }
  });

  it("pages an integration's accounts: every one reachable, none twice, a part never counted as all", async () => {
    const cookie = await signIn(api.app, await api.key('viewer', many.organizationId));
    const pages = await walk(
      api.app,
      cookie,
      `/console/integrations/${many.integrationId}`,
      /data-account-id="([^"]+)"/g,
    );
    const seen = pages.flatMap((p) => p.ids);
    expect(seen.length).toBe(ACCOUNTS);
    expect(new Set(seen)).toEqual(new Set(accountIds));
    expect(pages.length).toBeGreaterThan(1);
    for (const p of pages) {
      expect(p.text).toContain(`Accounts (${p.ids.length} on this page`);
      expect(p.text).toContain('First page');
    }
    expect(pages[0]!.text).toContain(`Accounts (${pages[0]!.ids.length} on this page, more on the next)`);
  });

  it('pages the board: every integration reachable, none twice, a part never counted as all', async () => {
    const cookie = await signIn(api.app, await api.key('viewer', busy.organizationId));
    const pages = await walk(api.app, cookie, '/console/', /data-integration-id="([^"]+)"/g);
    const seen = pages.flatMap((p) => p.ids);
    expect(seen.length).toBe(INTEGRATIONS);
    expect(new Set(seen)).toEqual(new Set(integrationIds));
    expect(pages.length).toBeGreaterThan(1);
    for (const p of pages) {
      expect(p.ids.length).toBeLessThanOrEqual(500);
      expect(p.text).toContain(`${p.ids.length} integration(s) on this page`);
    }
    expect(pages[0]!.text).toContain('on this page, more on the next');
  });

  it('a list that fits one page is counted whole, with no pager', async () => {
    const lone = await createTenancy(api.t.db, { name: 'One Integration Org' });
    const cookie = await signIn(api.app, await api.key('viewer', lone.organizationId));
    const board = await request(api.app).get('/console/').set('Cookie', cookie);
    expect(board.text).toContain('1 integration(s).');
    expect(board.text).not.toContain('First page');
    const page = await request(api.app).get(`/console/integrations/${lone.integrationId}`).set('Cookie', cookie);
    expect(page.text).toContain('Accounts (0)');
    expect(page.text).not.toContain('First page');
  });
});
