import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { sql } from 'kysely';
import request from 'supertest';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { runWebhookDeliveries } from '../../src/events/webhook-delivery.ts';
import { createOutboundPolicy } from '../../src/shared/outbound-policy.ts';
import { createTenancy, type Tenancy } from '../factories/tenancy.ts';
import { bearer, createTestApi, type TestApi } from '../helpers/api-app.ts';

/** A real receiver that counts the requests it gets, in the order things happened (`log`, shared with the test). */
class CountingReceiver {
  readonly log: string[] = [];
  requests = 0;
  private server: Server | undefined;
  port = 0;

  async start(): Promise<void> {
    const server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        this.requests += 1;
        this.log.push('request');
        res.end('ok');
      });
    });
    this.server = server;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    this.port = (server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

async function until(what: string, check: () => Promise<boolean> | boolean): Promise<void> {
  for (const deadline = Date.now() + 15_000; !(await check());) {
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}`);
    }
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Deleting a webhook endpoint: once the DELETE has answered, its receiver gets no further request. */
describe('deleting a webhook endpoint', () => {
  let api: TestApi;
  let org: Tenancy;
  let admin: string;
  const receiver = new CountingReceiver();

  beforeAll(async () => {
    api = await createTestApi();
    org = await createTenancy(api.t.db, { name: 'Delete Co' });
    admin = await api.key('admin', org.organizationId);
    await receiver.start();
  });
  afterAll(async () => {
    await receiver.stop();
    await api.close();
  });
  beforeEach(() => {
    receiver.requests = 0;
    receiver.log.length = 0;
  });

  async function endpointWithPings(url: string, pings: number): Promise<{ id: string; deliveries: string[] }> {
    const created = await request(api.app)
      .post('/v1/webhooks')
      .set(bearer(admin))
      .send({ url, eventTypes: ['webhook.ping'] })
      .expect(201);
    const id = (created.body as { id: string }).id;
    const deliveries: string[] = [];
    for (let i = 0; i < pings; i++) {
      const ping = await request(api.app).post(`/v1/webhooks/${id}/ping`).set(bearer(admin)).expect(202);
      deliveries.push((ping.body as { id: string }).id);
    }
    return { id, deliveries };
  }

  const deliveryRows = async (endpointId: string) =>
    (
      await sql<{ status: string; last_error: string | null }>`
        select status, last_error from webhook_deliveries where endpoint_id = ${endpointId}`.execute(api.t.db)
    ).rows;

  it('ends its queued deliveries at the deletion, with the reason, and none is sent afterwards', async () => {
    const { id } = await endpointWithPings(`http://127.0.0.1:${receiver.port}/hooks`, 3);
    await request(api.app).delete(`/v1/webhooks/${id}`).set(bearer(admin)).expect(200);
    // Ended by the deletion itself: nothing stays pending for a runner to pick up.
    expect(await deliveryRows(id)).toEqual(Array(3).fill({ status: 'failed', last_error: 'endpoint deleted' }));

    const r = await runWebhookDeliveries({ db: api.ctx.db, keys: api.ctx.secrets, timeoutMs: 5_000 });
    expect(r.attempted).toBe(0);
    expect(receiver.requests).toBe(0);
  });

  it('a send that read the endpoint as active just before the deletion ends before the DELETE answers', async () => {
    // The runner has read the endpoint (active) and is resolving its host name when the DELETE comes in.
    let resolverCalled = false;
    let answer: () => void = () => {};
    const answered = new Promise<void>((resolve) => (answer = resolve));
    const outbound = createOutboundPolicy({
      allow: ['127.0.0.1'],
      resolver: async () => {
        resolverCalled = true;
        await answered;
        return [{ address: '127.0.0.1', family: 4 }];
      },
    });
    const { id, deliveries } = await endpointWithPings(`http://127.0.0.1:${receiver.port}/hooks`, 1);
    // Receivers are registered by host name; this one's is resolved by the resolver above (registration resolves
    // names with the system's, which does not know it, so the name is set here).
    await sql`update webhook_endpoints set url = ${`http://hooks.delete-co.test:${receiver.port}/hooks`}
      where id = ${id}`.execute(api.t.db);
    const pass = runWebhookDeliveries({ db: api.ctx.db, keys: api.ctx.secrets, timeoutMs: 5_000, outbound });
    try {
      await until('the runner to resolve the host', () => resolverCalled);
      const deleted = request(api.app)
        .delete(`/v1/webhooks/${id}`)
        .set(bearer(admin))
        .then((res) => {
          receiver.log.push('delete answered');
          return res;
        });
      await until('the deletion to commit', async () => {
        const row = await api.t.db
          .selectFrom('webhook_endpoints')
          .select('status')
          .where('id', '=', id)
          .executeTakeFirstOrThrow();
        return row.status === 'deleted';
      });
      answer();
      expect((await deleted).status).toBe(200);
      await pass;
    } finally {
      answer();
      await pass.catch(() => undefined);
    }
    // Whatever the runner sent, it sent before the DELETE answered; nothing reaches the receiver after it.
    expect(receiver.log.at(-1)).toBe('delete answered');
    const after = receiver.requests;
    await runWebhookDeliveries({ db: api.ctx.db, keys: api.ctx.secrets, timeoutMs: 5_000, outbound });
    expect(receiver.requests).toBe(after);
    expect(await deliveryRows(id)).toHaveLength(deliveries.length);
    for (const row of await deliveryRows(id)) {
      expect(row.status).not.toBe('pending');
    }
  });
});
