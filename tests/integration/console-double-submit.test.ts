import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTenancy, type Tenancy } from '../factories/tenancy.ts';
import { createTestApi, type TestApi } from '../helpers/api-app.ts';
import { consoleSignIn } from '../helpers/console-session.ts';
import { obliterate } from '../helpers/orchestration.ts';

/**
 * A form sent twice (a double click, a browser retrying the POST) is carried out once: each rendered form carries a
 * one-time token, and the second sending of it is answered with the first one's outcome, never done again (two key
 * pairs, two integrations) nor refused as if it had failed.
 */
const flashOf = (text: string) => /<div class="flash [^"]*"[^>]*>\s*<p>([^<]*)/.exec(text)?.[1];

describe('operator console: a form sent twice', () => {
  let api: TestApi;
  let tenancy: Tenancy;
  let cookie: string;

  beforeAll(async () => {
    api = await createTestApi();
    tenancy = await createTenancy(api.t.db);
    ({ cookie } = await consoleSignIn(api.app, await api.key('admin', tenancy.organizationId)));
  });

  afterAll(async () => {
    if (api) {
      await obliterate(api.ctx.queues);
      await api.close();
    }
  });

  /** The hidden fields of the first form on `path` posting to `action` (its CSRF and one-time tokens). */
  async function hiddenFields(path: string, action: string): Promise<Record<string, string>> {
    const page = await request(api.app).get(path).set('Cookie', cookie);
    const at = page.text.indexOf(`action="${action}"`);
    expect(at, `a form posting to ${action} on ${path}`).toBeGreaterThan(-1);
    const form = page.text.slice(at, page.text.indexOf('</form>', at));
    return Object.fromEntries(
      [...form.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)].map((m) => [m[1]!, m[2]!]),
    );
  }

  async function sendTwice(action: string, form: Record<string, string>) {
    const send = () => request(api.app).post(action).set('Cookie', cookie).type('form').send(form);
    const answers = await Promise.all([send(), send()]);
    const pages = [];
    for (const a of answers) {
      expect(a.status).toBe(303);
      pages.push(await request(api.app).get(a.headers.location!).set('Cookie', cookie));
    }
    return { answers, pages };
  }

  it('generates one key pair for a key-pair form sent twice', async () => {
    const path = `/console/integrations/${tenancy.integrationId}`;
    const action = `/console/integrations/${tenancy.integrationId}/actions/key-pair`;
    const hidden = await hiddenFields(path, action);
    const { answers } = await sendTwice(action, { ...hidden, country: 'US', organization: 'Acme Treasury' });
    const keyPairs = await api.t.db
      .selectFrom('key_pairs')
      .select('id')
      .where('integration_id', '=', tenancy.integrationId)
      .execute();
    expect(keyPairs).toHaveLength(1);
    expect(answers.map((a) => a.headers.location)).toEqual([path, path]);
  });

  it('creates one integration for a new-integration form sent twice, and the second sending answers as the first', async () => {
    const hidden = await hiddenFields('/console/', '/console/integrations');
    const name = 'Sent twice';
    const first = await request(api.app)
      .post('/console/integrations')
      .set('Cookie', cookie)
      .type('form')
      .send({ ...hidden, name, environment: 'cat' });
    const again = await request(api.app)
      .post('/console/integrations')
      .set('Cookie', cookie)
      .type('form')
      .send({ ...hidden, name, environment: 'cat' });
    const created = await api.t.db.selectFrom('integrations').select('id').where('name', '=', name).execute();
    expect(created).toHaveLength(1);
    expect(again.headers.location).toBe(first.headers.location);
    expect(again.headers.location).toBe(`/console/integrations/${created[0]!.id}`);
    const page = await request(api.app).get(again.headers.location!).set('Cookie', cookie);
    expect(flashOf(page.text)).toContain(`Integration ${name} requested`);
  });
});
