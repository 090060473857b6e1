import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QUEUE_NAMES } from '../../src/scheduler/index.ts';
import { createTestApi, expectProblem, type TestApi } from '../helpers/api-app.ts';

/**
 * The queue board is opened in a browser with HTTP Basic (an admin key as the password), which the browser then sends
 * with any request to it, from whichever site. A form on another site posting to a board action (a simple request:
 * text/plain or form-encoded, no CORS preflight) must not be carried out; the board's own pages, and clients that are no
 * browser (no Sec-Fetch-Site, no Origin), keep working.
 */
let api: TestApi;
const queueName = QUEUE_NAMES[0];

beforeAll(async () => {
  api = await createTestApi();
});

afterAll(async () => {
  await api?.close();
});

const jobCount = async () =>
  (await api.ctx.queues.queue(queueName).getJobCounts('waiting', 'delayed', 'prioritized')) as Record<string, number>;
const total = (c: Record<string, number>) => Object.values(c).reduce((a, b) => a + b, 0);

describe('queue board actions from another site', () => {
  it('refuses a cross-site form post adding a job (403 cross_site_request), adds nothing', async () => {
    const before = total(await jobCount());
    for (const [headers, type, body] of [
      [{ 'Sec-Fetch-Site': 'cross-site', Origin: 'https://evil.example' }, 'text/plain', '{"name":"x"}'],
      [
        { 'Sec-Fetch-Site': 'same-site', Origin: 'https://other.jpm-sync.example' },
        'application/x-www-form-urlencoded',
        'name=x',
      ],
      // A browser without Sec-Fetch-Site still names the page's origin.
      [{ Origin: 'https://evil.example' }, 'text/plain', '{"name":"x"}'],
    ] as const) {
      const res = await request(api.app)
        .post(`/admin/queues/api/queues/${queueName}/add`)
        .auth('ops', api.adminKey)
        .set(headers)
        .set('Content-Type', type)
        .send(body);
      expectProblem(res, 403, 'cross_site_request');
    }
    expect(total(await jobCount())).toBe(before);
    const paused = await request(api.app)
      .put(`/admin/queues/api/queues/${queueName}/pause`)
      .auth('ops', api.adminKey)
      .set({ 'Sec-Fetch-Site': 'cross-site', Origin: 'https://evil.example' });
    expectProblem(paused, 403, 'cross_site_request');
    expect(await api.ctx.queues.queue(queueName).isPaused()).toBe(false);
  });

  it("carries out the board's own requests and those of a client that is no browser", async () => {
    const host = '127.0.0.1:3000';
    const own = await request(api.app)
      .put(`/admin/queues/api/queues/${queueName}/pause`)
      .auth('ops', api.adminKey)
      .set({ Host: host, 'Sec-Fetch-Site': 'same-origin', Origin: `http://${host}` });
    expect(own.status, own.text).toBe(200);
    expect(await api.ctx.queues.queue(queueName).isPaused()).toBe(true);
    const script = await request(api.app).put(`/admin/queues/api/queues/${queueName}/resume`).auth('ops', api.adminKey);
    expect(script.status, script.text).toBe(200);
    expect(await api.ctx.queues.queue(queueName).isPaused()).toBe(false);
    // An older browser without Sec-Fetch-Site, on the board's own origin.
    const older = await request(api.app)
      .put(`/admin/queues/api/queues/${queueName}/pause`)
      .auth('ops', api.adminKey)
      .set({ Host: host, Origin: `http://${host}` });
    expect(older.status, older.text).toBe(200);
    await request(api.app).put(`/admin/queues/api/queues/${queueName}/resume`).auth('ops', api.adminKey).expect(200);
  });
});
