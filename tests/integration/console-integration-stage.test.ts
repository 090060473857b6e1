import { sql } from 'kysely';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reconcileSchedules } from '../../src/scheduler/index.ts';
import { createLogger } from '../../src/shared/logger.ts';
import { createAccount, createTenancy } from '../factories/tenancy.ts';
import { createTestApi, type TestApi } from '../helpers/api-app.ts';
import { consoleSignIn } from '../helpers/console-session.ts';
import { obliterate } from '../helpers/orchestration.ts';

/**
 * The integration page offers only what the API would do: a cancelled integration (final) takes no new key pair,
 * no certificate and no sync, a paused one no sync until it is resumed, and the page says why instead of offering a
 * form whose every sending is refused.
 */
describe('operator console: actions a paused or cancelled integration takes', () => {
  let api: TestApi;
  let cookie: string;

  beforeAll(async () => {
    api = await createTestApi();
    ({ cookie } = await consoleSignIn(api.app, api.adminKey));
  });

  afterAll(async () => {
    if (api) {
      await obliterate(api.ctx.queues);
      await api.close();
    }
  });

  async function pageIn(stage: 'cancelled' | 'paused') {
    const t = await createTenancy(api.t.db);
    await createAccount(api.t.db, t);
    await sql`update integrations set stage = ${stage}, paused_from_stage = ${stage === 'paused' ? 'requested' : null}
      where id = ${t.integrationId}`.execute(api.t.db);
    const res = await request(api.app).get(`/console/integrations/${t.integrationId}`).set('Cookie', cookie);
    expect(res.status).toBe(200);
    return { id: t.integrationId, text: res.text };
  }

  it('a cancelled integration: no key pair, certificate or re-sync form, and the page says it is final', async () => {
    const { id, text } = await pageIn('cancelled');
    expect(text).not.toContain(`/console/integrations/${id}/resync`);
    expect(text).not.toContain(`/console/integrations/${id}/actions/key-pair`);
    expect(text).not.toContain(`/console/integrations/${id}/actions/certificate"`);
    expect(text).toContain('Cancelled, which is final: no syncs.');
  });

  it('a paused integration: no re-sync form until it is resumed; its credentials still managed', async () => {
    const { id, text } = await pageIn('paused');
    expect(text).not.toContain(`/console/integrations/${id}/resync`);
    expect(text).toContain('Paused: no syncs, scheduled or re-synced, until the integration is resumed.');
    expect(text).toContain(`/console/integrations/${id}/actions/key-pair`);
  });

  /** The "Next scheduled sync" cell of the account's row. */
  const nextSyncOf = (text: string, accountId: string) => {
    const row = text.slice(text.indexOf(`<tr data-account-id="${accountId}">`));
    return [...row.slice(0, row.indexOf('</tr>')).matchAll(/<td>([\s\S]*?)<\/td>/g)].map((m) => m[1]!)[5];
  };

  it('shows no next scheduled sync for an account that gets none, whatever Redis still holds', async () => {
    const t = await createTenancy(api.t.db);
    const paused = await createAccount(api.t.db, t);
    const active = await createAccount(api.t.db, t);
    await sql`update integrations set stage = 'live' where id = ${t.integrationId}`.execute(api.t.db);
    await reconcileSchedules({ db: api.t.db, queues: api.ctx.queues, logger: createLogger('scheduler') });
    const path = `/console/integrations/${t.integrationId}`;
    expect(nextSyncOf((await request(api.app).get(path).set('Cookie', cookie)).text, paused.id)).toMatch(/ UTC$/);
    // Paused (the schedulers are removed by a worker's reconcile a moment later: none runs here).
    await sql`update bank_accounts set status = 'paused' where id = ${paused.id}`.execute(api.t.db);
    let text = (await request(api.app).get(path).set('Cookie', cookie)).text;
    expect(nextSyncOf(text, paused.id)).toBe('none: the account is paused');
    expect(nextSyncOf(text, active.id)).toMatch(/ UTC$/);
    // Syncs stopped for the integration (its certificate expired): none for any account.
    await sql`update integrations set sync_status = 'certificate_expired' where id = ${t.integrationId}`.execute(
      api.t.db,
    );
    text = (await request(api.app).get(path).set('Cookie', cookie)).text;
    expect(nextSyncOf(text, active.id)).toBe('none: syncs are stopped (certificate_expired)');
  });

  it('cancels an integration (final) only when the move form confirms it', async () => {
    const t = await createTenancy(api.t.db);
    const path = `/console/integrations/${t.integrationId}`;
    const page = (await request(api.app).get(path).set('Cookie', cookie)).text;
    const form = page.slice(page.indexOf(`action="${path}/actions/stage"`));
    expect(form.slice(0, form.indexOf('</form>'))).toMatch(/type="checkbox" name="confirmFinal" value="yes"/);
    const csrf = /name="_csrf" value="([^"]+)"/.exec(page)![1]!;
    const move = async (extra: Record<string, string>) => {
      const res = await request(api.app)
        .post(`${path}/actions/stage`)
        .set('Cookie', cookie)
        .type('form')
        .send({ _csrf: csrf, _back: path, to: 'cancelled', ...extra });
      expect(res.status).toBe(303);
      const after = await request(api.app).get(path).set('Cookie', cookie);
      const stage = await api.t.db
        .selectFrom('integrations')
        .select('stage')
        .where('id', '=', t.integrationId)
        .executeTakeFirstOrThrow();
      return { stage: stage.stage, flash: /<div class="flash [^"]*"[^>]*>\s*<p>([^<]*)/.exec(after.text)?.[1] };
    };
    expect(await move({})).toEqual({
      stage: 'requested',
      flash: 'Not done: Cancelling an integration is final (it never syncs again): tick the confirmation to cancel it.',
    });
    expect(await move({ confirmFinal: 'yes' })).toEqual({ stage: 'cancelled', flash: 'Moved to cancelled.' });
  });
});
