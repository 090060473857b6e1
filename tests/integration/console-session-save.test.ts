import express from 'express';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SessionStore } from '../../src/console/session.ts';
import { createTestApi, type TestApi } from '../helpers/api-app.ts';
import { consoleSignIn } from '../helpers/console-session.ts';
import { obliterate } from '../helpers/orchestration.ts';

/**
 * Signing out ends the session for good: a request of the same session still in flight (an action in another tab)
 * that saves the session's message when it ends must not bring the signed-out session back to life.
 */
describe('console sessions: a save after sign-out', () => {
  let api: TestApi;

  beforeAll(async () => {
    api = await createTestApi();
  });

  afterAll(async () => {
    if (api) {
      await obliterate(api.ctx.queues);
      await api.close();
    }
  });

  it('does not bring back a session signed out while a request of it was in flight', async () => {
    const { cookie, csrf } = await consoleSignIn(api.app, api.adminKey);
    const sessions = new SessionStore({
      redis: api.ctx.queues.redis,
      keyPrefix: api.ctx.queues.prefix,
      secure: false,
      apiKeys: api.ctx.apiKeys,
    });
    // A request of the session that loads it, then (after the gate) saves it with a message, as a console action does.
    let loaded!: () => void;
    const isLoaded = new Promise<void>((r) => (loaded = r));
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const slow = express();
    slow.get('/slow', async (req, res) => {
      const session = await sessions.load(req);
      loaded();
      await gate;
      session!.flash = { kind: 'ok', text: 'done' };
      await sessions.save(session!);
      res.status(204).end();
    });
    const inFlight = request(slow)
      .get('/slow')
      .set('Cookie', cookie)
      .then((r) => r);
    await isLoaded;
    const out = await request(api.app)
      .post('/console/sign-out')
      .set('Cookie', cookie)
      .type('form')
      .send({ _csrf: csrf });
    expect(out.status).toBe(303);
    release();
    expect((await inFlight).status).toBe(204);

    const after = await request(api.app).get('/console/').set('Cookie', cookie);
    expect(after.status).toBe(303);
    expect(after.headers.location).toBe('/console/sign-in');
  });
});
