import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { sql } from 'kysely';
import request from 'supertest';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { runWebhookDeliveries, type PassResult, type WebhookRunnerDeps } from '../../src/events/webhook-delivery.ts';
import { insertOutboxEvents } from '../../src/storage/outbox.repo.ts';
import { createTenancy, type Tenancy } from '../factories/tenancy.ts';
import { bearer, createTestApi, type TestApi } from '../helpers/api-app.ts';

interface Hit {
  delivery: string;
  attempt: string;
  status: number;
}

/**
 * A real receiver whose answers the test decides: `answer` gets each request and resolves to the status to send
 * (it may wait on a gate the test opens, as a slow receiver would).
 */
class ScriptedReceiver {
  readonly hits: Hit[] = [];
  /** Requests received and not answered yet. */
  inFlight = 0;
  answer: (req: IncomingMessage) => Promise<number> = () => Promise.resolve(200);
  private server: Server | undefined;
  url = '';

  async start(): Promise<void> {
    const server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        this.inFlight += 1;
        void this.answer(req).then((status) => {
          this.inFlight -= 1;
          this.hits.push({
            delivery: String(req.headers['jpm-sync-delivery-id']),
            attempt: String(req.headers['jpm-sync-delivery-attempt']),
            status,
          });
          res.statusCode = status;
          res.end('x');
        });
      });
    });
    this.server = server;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

/** Gates made by a test: afterEach opens those a failing test left shut, so no request hangs past it. */
const gates: (() => void)[] = [];

function gate(): { wait: Promise<void>; open: () => void } {
  let open = () => {};
  const wait = new Promise<void>((resolve) => (open = resolve));
  gates.push(open);
  return { wait, open };
}

async function until(what: string, check: () => Promise<boolean> | boolean): Promise<void> {
  for (const deadline = Date.now() + 15_000; !(await check());) {
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}`);
    }
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * Webhook claims: a delivery is held by one runner while it sends, and a runner whose hold ran out cannot undo what
 * the next holder did. Every worker process runs a delivery loop, so two runners are the normal case.
 */
describe('webhook delivery claims', () => {
  let api: TestApi;
  let org: Tenancy;
  const receiver = new ScriptedReceiver();
  let deps: WebhookRunnerDeps;

  beforeAll(async () => {
    api = await createTestApi();
    org = await createTenancy(api.t.db, { name: 'Claims' });
    await receiver.start();
    const admin = await api.key('admin', org.organizationId);
    const reg = await request(api.app)
      .post('/v1/webhooks')
      .set(bearer(admin))
      .send({ url: receiver.url, eventTypes: ['integration.*'] });
    expect(reg.status).toBe(201);
    // Retries far away: a failed attempt is not sent again within a test.
    deps = { db: api.ctx.db, keys: api.ctx.secrets, timeoutMs: 5_000, retry: { baseMs: 600_000, maxMs: 600_000 } };
  });
  afterAll(async () => {
    await receiver.stop();
    await api.close();
  });
  /** Passes started in the background; afterEach waits for them. */
  const background: Promise<unknown>[] = [];
  function inBackground(options: Partial<WebhookRunnerDeps>): Promise<PassResult> {
    const pass = runWebhookDeliveries({ ...deps, ...options });
    background.push(pass.catch(() => undefined));
    return pass;
  }
  afterEach(async () => {
    gates.splice(0).forEach((open) => open());
    await Promise.all(background.splice(0));
  });
  beforeEach(async () => {
    // Nothing left to deliver from an earlier test.
    await sql`update webhook_deliveries set status = 'failed' where status = 'pending'`.execute(api.t.db);
    receiver.hits.length = 0;
    receiver.answer = () => Promise.resolve(200);
  });

  /** `n` milestone events, turned into one pending delivery each by a pass that sends nothing (the receiver is shut). */
  async function pendingDeliveries(n: number): Promise<string[]> {
    await insertOutboxEvents(
      api.t.db,
      Array.from({ length: n }, (_, i) => ({
        organizationId: org.organizationId,
        integrationId: org.integrationId,
        type: 'integration.stage_changed',
        payload: { i },
      })),
    );
    // Produced once every older write transaction of the Postgres cluster has ended (the feed's rule): a few passes.
    const pending = () =>
      api.t.db.selectFrom('webhook_deliveries').select('id').where('status', '=', 'pending').orderBy('id').execute();
    await until(`${n} pending deliveries`, async () => {
      await runWebhookDeliveries({ ...deps, batchSize: 0 });
      return (await pending()).length === n;
    });
    const rows = await pending();
    return rows.map((r) => r.id);
  }

  async function delivery(id: string) {
    return api.t.db
      .selectFrom('webhook_deliveries')
      .select(['status', 'attempts', 'locked_until'])
      .where('id', '=', id)
      .executeTakeFirstOrThrow();
  }

  async function attempts(id: string) {
    return api.t.db
      .selectFrom('webhook_delivery_attempts')
      .select(['attempt', 'outcome', 'response_status'])
      .where('delivery_id', '=', id)
      .orderBy('attempt')
      .execute();
  }

  /** Ends a claim as if its holder had stalled past it (its hold ran out). */
  async function expireClaims(): Promise<void> {
    await sql`update webhook_deliveries set locked_until = now() - interval '1 second'
      where locked_until is not null`.execute(api.t.db);
  }

  it('a pass holds a claim only on the deliveries it is sending, not on those waiting behind a slow receiver', async () => {
    const ids = await pendingDeliveries(6);
    const slow = gate();
    receiver.answer = async () => {
      await slow.wait;
      return 200;
    };
    const pass = inBackground({ batchSize: 6, concurrency: 2 });
    await until('two requests at the receiver', () => receiver.inFlight === 2);
    const held = await api.t.db
      .selectFrom('webhook_deliveries')
      .select('id')
      .where('id', 'in', ids)
      .where(sql<boolean>`locked_until > now()`)
      .execute();
    slow.open();
    const result = await pass;

    // Another runner may take every delivery this one is not sending right now.
    expect(held).toHaveLength(2);
    expect(result).toMatchObject({ attempted: 6, succeeded: 6 });
    expect(new Set(receiver.hits.map((h) => h.delivery))).toEqual(new Set(ids));
  });

  it('a runner whose claim ran out does not put a delivery the receiver acknowledged back to pending', async () => {
    const [id] = await pendingDeliveries(1);
    const first = gate();
    let requests = 0;
    receiver.answer = async () => {
      requests += 1;
      if (requests === 1) {
        // The first runner's request: answered late, with an error.
        await first.wait;
        return 500;
      }
      return 200;
    };
    const stalled = inBackground({ batchSize: 1, concurrency: 1 });
    await until('the first request at the receiver', () => requests === 1);
    await expireClaims();
    // A second runner (another worker process) claims the delivery and the receiver acknowledges it.
    const second = await runWebhookDeliveries({ ...deps, batchSize: 1, concurrency: 1 });
    expect(second).toMatchObject({ attempted: 1, succeeded: 1 });
    first.open();
    await stalled;

    expect((await delivery(id!)).status).toBe('succeeded');
    // Each send has its own attempt number, in the header and in the log.
    expect(receiver.hits.map((h) => [h.attempt, h.status]).sort()).toEqual([
      ['1', 500],
      ['2', 200],
    ]);
    expect(await attempts(id!)).toEqual([
      { attempt: 1, outcome: 'failed', response_status: 500 },
      { attempt: 2, outcome: 'succeeded', response_status: 200 },
    ]);
    // Nothing is sent again.
    expect(await runWebhookDeliveries(deps)).toMatchObject({ attempted: 0 });
    expect(receiver.hits).toHaveLength(2);
  });

  it('a runner whose claim ran out does not reschedule a delivery another runner holds now', async () => {
    const [id] = await pendingDeliveries(1);
    const first = gate();
    const second = gate();
    let requests = 0;
    receiver.answer = async () => {
      requests += 1;
      await (requests === 1 ? first.wait : second.wait);
      return 500;
    };
    const stalled = inBackground({ batchSize: 1, concurrency: 1 });
    await until('the first request at the receiver', () => requests === 1);
    await expireClaims();
    const current = inBackground({ batchSize: 1, concurrency: 1 });
    await until('the second request at the receiver', () => requests === 2);
    // The first runner's late failure arrives while the second runner still holds the delivery.
    first.open();
    await stalled;
    const held = await delivery(id!);
    expect(held.status).toBe('pending');
    expect(held.locked_until!.getTime()).toBeGreaterThan(Date.now());
    // So no third runner takes it meanwhile.
    expect(await runWebhookDeliveries({ ...deps, batchSize: 1 })).toMatchObject({ attempted: 0 });
    second.open();
    await current;
    expect((await attempts(id!)).map((a) => a.attempt)).toEqual([1, 2]);
    expect(requests).toBe(2);
  });

  it('a success that arrives after the claim ran out still counts: the delivery is succeeded', async () => {
    const [id] = await pendingDeliveries(1);
    const first = gate();
    let requests = 0;
    receiver.answer = async () => {
      requests += 1;
      if (requests === 1) {
        await first.wait;
        return 200;
      }
      return 500;
    };
    const stalled = inBackground({ batchSize: 1, concurrency: 1 });
    await until('the first request at the receiver', () => requests === 1);
    await expireClaims();
    expect(await runWebhookDeliveries({ ...deps, batchSize: 1, concurrency: 1 })).toMatchObject({ retrying: 1 });
    first.open();
    await stalled;
    expect((await delivery(id!)).status).toBe('succeeded');
    expect(await runWebhookDeliveries(deps)).toMatchObject({ attempted: 0 });
  });

  it('a delivery claimed by a runner that crashed is sent after its claim expires, with the same delivery id', async () => {
    const [id] = await pendingDeliveries(1);
    // The crashed runner's claim: counted, never sent, never recorded.
    await sql`update webhook_deliveries set attempts = attempts + 1, locked_until = now() + interval '1 hour'
      where id = ${id}`.execute(api.t.db);
    expect(await runWebhookDeliveries(deps)).toMatchObject({ attempted: 0 });
    await expireClaims();
    expect(await runWebhookDeliveries(deps)).toMatchObject({ attempted: 1, succeeded: 1 });
    expect(receiver.hits).toEqual([{ delivery: id, attempt: '2', status: 200 }]);
    expect(await delivery(id!)).toMatchObject({ status: 'succeeded', attempts: 2 });
  });
});
