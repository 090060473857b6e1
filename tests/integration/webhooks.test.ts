import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { sql } from 'kysely';
import request from 'supertest';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { runWebhookDeliveries, type PassResult } from '../../src/events/webhook-delivery.ts';
import { verifySignature } from '../../src/events/webhook-signing.ts';
import { pageSchema } from '../../src/http/pagination.ts';
import { ChangePageSchema } from '../../src/read-api/dto.ts';
import {
  CreatedWebhookSchema,
  DeliveryDetailSchema,
  DeliverySchema,
  WebhookEndpointSchema,
} from '../../src/read-api/webhooks.dto.ts';
import {
  changeWebhookEndpoint,
  deleteWebhookEndpoint,
  getWebhookEndpoint,
} from '../../src/events/webhook-endpoints.ts';
import { insertOutboxEvents } from '../../src/storage/outbox.repo.ts';
import { createOutboundPolicy } from '../../src/shared/outbound-policy.ts';
import { createAccount, createTenancy, type Tenancy } from '../factories/tenancy.ts';
import { ingestWire, wireTransaction } from '../factories/transactions.ts';
import { bearer, bodyOf, createTestApi, expectProblem, type TestApi } from '../helpers/api-app.ts';

/**
 * The receiver side, written as a customer would from the README recipe (node:crypto only, no code
 * of ours): HMAC-SHA256 over `${t}.${rawBody}`, any v1 may match, timestamp within 5 minutes.
 */
function receiverVerifies(header: string | undefined, rawBody: string, secret: string): boolean {
  if (!header) {
    return false;
  }
  const fields = header.split(',').map((kv) => kv.split('=') as [string, string]);
  const t = Number(fields.find(([k]) => k === 't')?.[1]);
  if (!Number.isInteger(t) || Math.abs(Date.now() / 1000 - t) > 300) {
    return false;
  }
  const expected = createHmac('sha256', secret).update(`${t}.${rawBody}`).digest();
  return fields.some(
    ([k, v]) =>
      k === 'v1' &&
      Buffer.from(v, 'hex').length === expected.length &&
      timingSafeEqual(Buffer.from(v, 'hex'), expected),
  );
}

interface Received {
  headers: IncomingHttpHeaders;
  body: string;
  status: number;
}

/** A real HTTP receiver: answers 500 to the first `failFirst` requests, then `status`. */
class Receiver {
  readonly received: Received[] = [];
  failFirst = 0;
  status = 200;
  private server: Server | undefined;
  url = '';

  async start(): Promise<void> {
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const status = this.failFirst > 0 ? 500 : this.status;
        this.failFirst = Math.max(0, this.failFirst - 1);
        this.received.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), status });
        res.statusCode = status;
        res.end(status === 200 ? 'ok' : 'nope');
      });
    });
    this.server = server;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`;
  }

  ok(): Received[] {
    return this.received.filter((r) => r.status === 200);
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.server?.close(() => resolve()));
  }
}

const Body = z.object({
  id: z.uuid(),
  type: z.string(),
  organizationId: z.uuid(),
  createdAt: z.string(),
  data: z.record(z.string(), z.unknown()),
});

describe('webhooks', () => {
  let api: TestApi;
  let orgA: Tenancy;
  let orgB: Tenancy;
  let adminA: string;
  let adminB: string;
  const receiverA = new Receiver();
  const receiverB = new Receiver();

  /** Runs delivery passes (fast retries) until `done` or a bound is reached. */
  async function deliverUntil(done: () => boolean, options: { maxAgeSeconds?: number } = {}): Promise<PassResult[]> {
    const passes: PassResult[] = [];
    for (let i = 0; i < 1_000 && !done(); i++) {
      const r = await runWebhookDeliveries({
        db: api.ctx.db,
        keys: api.ctx.secrets,
        retry: { baseMs: 10, maxMs: 40 },
        timeoutMs: 5_000,
        ...options,
      });
      passes.push(r);
      if (r.attempted === 0) {
        await new Promise((res) => setTimeout(res, 15));
      }
    }
    return passes;
  }

  async function register(key: string, body: object): Promise<z.output<typeof CreatedWebhookSchema>> {
    const res = await request(api.app).post('/v1/webhooks').set(bearer(key)).send(body);
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    return bodyOf(CreatedWebhookSchema, res);
  }

  beforeAll(async () => {
    api = await createTestApi();
    orgA = await createTenancy(api.t.db, { name: 'Org A' });
    orgB = await createTenancy(api.t.db, { name: 'Org B' });
    adminA = await api.key('admin', orgA.organizationId);
    adminB = await api.key('admin', orgB.organizationId);
    await receiverA.start();
    await receiverB.start();
  });
  afterAll(async () => {
    await receiverA.stop();
    await receiverB.stop();
    await api.close();
  });
  beforeEach(async () => {
    // Each test starts with nothing left to deliver from earlier tests.
    await sql`update webhook_endpoints set status = 'deleted'`.execute(api.t.db);
    await runWebhookDeliveries({ db: api.ctx.db, keys: api.ctx.secrets });
    receiverA.received.length = 0;
    receiverB.received.length = 0;
  });

  it('delivers signed transactions.changed and milestone events per organization, retrying after failures', async () => {
    const a = await register(adminA, { url: receiverA.url, eventTypes: ['transactions.changed', 'certificate.*'] });
    const b = await register(api.adminKey, {
      organizationId: orgB.organizationId,
      url: receiverB.url,
      eventTypes: ['*'],
    });
    expect(a.secret).toMatch(/^whsec_/);
    // The secret is shown once: reading the endpoint never returns it.
    const read = await request(api.app).get(`/v1/webhooks/${a.id}`).set(bearer(adminA));
    expect(JSON.stringify(read.body)).not.toContain(a.secret);
    expect(Object.keys(read.body as object)).not.toContain('secret');

    const accountA = await createAccount(api.t.db, orgA);
    const accountB = await createAccount(api.t.db, orgB);
    await ingestWire(
      api.t.db,
      accountA,
      [1, 2, 3].map((i) => wireTransaction({ transactionId: `A-${i}`, jpmAccountId: accountA.jpmAccountId })),
    );
    await ingestWire(api.t.db, accountA, [
      wireTransaction({ transactionId: 'A-1', jpmAccountId: accountA.jpmAccountId, amount: '5.00' }),
    ]);
    await ingestWire(api.t.db, accountB, [
      wireTransaction({ transactionId: 'B-1', jpmAccountId: accountB.jpmAccountId }),
    ]);
    await insertOutboxEvents(api.t.db, [
      {
        organizationId: orgA.organizationId,
        integrationId: orgA.integrationId,
        type: 'certificate.installed',
        payload: { certificateId: 'c-1' },
      },
      {
        organizationId: orgA.organizationId,
        integrationId: orgA.integrationId,
        type: 'integration.stage_changed',
        payload: { to: 'kickoff' },
      },
    ]);

    receiverA.failFirst = 2;
    // The changes may come in one transactions.changed or several: a batch ends at the feed's visible horizon, which a
    // transaction elsewhere in the cluster (another database's) can hold between two of the ingests above.
    const changedOf = (bodies: z.output<typeof Body>[]) =>
      bodies
        .filter((x) => x.type === 'transactions.changed')
        .map((x) => x.data as { changes: Record<'added' | 'modified' | 'removed' | 'total', number> } & typeof x.data);
    const sumChanges = (events: ReturnType<typeof changedOf>) =>
      events.reduce(
        (acc, e) => ({
          added: acc.added + e.changes.added,
          modified: acc.modified + e.changes.modified,
          removed: acc.removed + e.changes.removed,
          total: acc.total + e.changes.total,
        }),
        { added: 0, modified: 0, removed: 0, total: 0 },
      );
    const okBodiesA = () => receiverA.ok().map((r) => Body.parse(JSON.parse(r.body)));
    const wantA = () =>
      new Set(receiverA.ok().map((r) => r.headers['jpm-sync-event-type'])).size === 2 &&
      sumChanges(changedOf(okBodiesA())).total >= 4;
    const wantB = () => receiverB.ok().length >= 1;
    await deliverUntil(() => wantA() && wantB());

    // Every request verifies with the recipe, with our helper, and with the right secret only.
    for (const r of receiverA.received) {
      expect(receiverVerifies(r.headers['jpm-sync-signature'] as string, r.body, a.secret)).toBe(true);
      expect(verifySignature(r.headers['jpm-sync-signature'] as string, r.body, a.secret)).toBe(true);
      expect(receiverVerifies(r.headers['jpm-sync-signature'] as string, r.body, b.secret)).toBe(false);
      expect(receiverVerifies(r.headers['jpm-sync-signature'] as string, `${r.body} `, a.secret)).toBe(false);
    }
    // A saw the failures and then the same events again (retries carry the same event id and body).
    expect(receiverA.received.slice(0, 2).map((r) => r.status)).toEqual([500, 500]);
    const firstFailed = receiverA.received[0]!;
    const retried = receiverA
      .ok()
      .find((r) => r.headers['jpm-sync-event-id'] === firstFailed.headers['jpm-sync-event-id']);
    expect(retried?.body).toBe(firstFailed.body);
    expect(Number(retried?.headers['jpm-sync-delivery-attempt'])).toBeGreaterThan(1);

    // Only what A subscribed to, only A's data.
    const bodiesA = okBodiesA();
    expect([...new Set(bodiesA.map((x) => x.type))].sort()).toEqual(['certificate.installed', 'transactions.changed']);
    expect(bodiesA.filter((x) => x.type === 'certificate.installed')).toHaveLength(1);
    expect(bodiesA.every((x) => x.organizationId === orgA.organizationId)).toBe(true);
    const changedA = changedOf(bodiesA);
    expect(sumChanges(changedA)).toEqual({ added: 3, modified: 1, removed: 0, total: 4 });
    expect(changedA.every((c) => JSON.stringify(c.accountIds) === JSON.stringify([accountA.id]))).toBe(true);
    const bodiesB = receiverB.ok().map((r) => Body.parse(JSON.parse(r.body)));
    expect(bodiesB.map((x) => x.organizationId)).toEqual([orgB.organizationId]);
    expect(bodiesB[0]!.data).toMatchObject({ changes: { added: 1, total: 1 } });

    // The cursor ranges fetch exactly those changes from the feed, in feed order.
    const ranged: [string, string | null | undefined][][] = [];
    for (const c of changedA) {
      const range = c.cursor as { from: string; to: string };
      const feed = bodyOf(
        ChangePageSchema,
        await request(api.app).get(`/v1/changes?cursor=${range.from}`).set(bearer(adminA)),
      );
      const upTo = feed.data.findIndex((e) => e.cursor === range.to);
      ranged.push(feed.data.slice(0, upTo + 1).map((e) => [e.kind, e.transaction?.jpmTransactionId]));
    }
    expect(ranged.length === 1 ? ranged[0] : ranged.flat().sort()).toEqual([
      ['added', 'A-1'],
      ['added', 'A-2'],
      ['added', 'A-3'],
      ['modified', 'A-1'],
    ]);

    // The delivery log shows each attempt with its response code and duration.
    const log = bodyOf(
      pageSchema(DeliverySchema),
      await request(api.app).get(`/v1/webhooks/${a.id}/deliveries`).set(bearer(adminA)),
    );
    expect(log.data.every((d) => d.status === 'succeeded')).toBe(true);
    const failedOnce = log.data.find((d) => d.eventId === firstFailed.headers['jpm-sync-event-id'])!;
    const detail = bodyOf(
      DeliveryDetailSchema,
      await request(api.app).get(`/v1/webhooks/${a.id}/deliveries/${failedOnce.id}`).set(bearer(adminA)),
    );
    expect(detail.attemptLog.map((x) => [x.outcome, x.responseStatus])).toEqual([
      ...Array.from({ length: detail.attemptLog.length - 1 }, () => ['failed', 500]),
      ['succeeded', 200],
    ]);
    expect(detail.attemptLog.every((x) => x.durationMs >= 0)).toBe(true);
  });

  it('rotation: both secrets sign during the grace period, only the new one after', async () => {
    const created = await register(adminA, { url: receiverA.url, eventTypes: ['webhook.ping'] });
    const rotated = bodyOf(
      CreatedWebhookSchema,
      await request(api.app)
        .post(`/v1/webhooks/${created.id}/rotate-secret`)
        .set(bearer(adminA))
        .send({ gracePeriodHours: 1 }),
    );
    expect(rotated.secret).not.toBe(created.secret);
    expect(rotated.secretVersion).toBe(2);
    expect(rotated.previousSecretExpiresAt).not.toBeNull();
    await request(api.app).post(`/v1/webhooks/${created.id}/ping`).set(bearer(adminA)).expect(202);
    await deliverUntil(() => receiverA.ok().length === 1);
    const during = receiverA.ok()[0]!;
    expect((during.headers['jpm-sync-signature'] as string).match(/v1=/g)).toHaveLength(2);
    expect(receiverVerifies(during.headers['jpm-sync-signature'] as string, during.body, created.secret)).toBe(true);
    expect(receiverVerifies(during.headers['jpm-sync-signature'] as string, during.body, rotated.secret)).toBe(true);

    const again = bodyOf(
      CreatedWebhookSchema,
      await request(api.app)
        .post(`/v1/webhooks/${created.id}/rotate-secret`)
        .set(bearer(adminA))
        .send({ gracePeriodHours: 0 }),
    );
    await request(api.app).post(`/v1/webhooks/${created.id}/ping`).set(bearer(adminA)).expect(202);
    await deliverUntil(() => receiverA.ok().length === 2);
    const after = receiverA.ok()[1]!;
    expect((after.headers['jpm-sync-signature'] as string).match(/v1=/g)).toHaveLength(1);
    expect(receiverVerifies(after.headers['jpm-sync-signature'] as string, after.body, again.secret)).toBe(true);
    expect(receiverVerifies(after.headers['jpm-sync-signature'] as string, after.body, rotated.secret)).toBe(false);
  });

  it('rotation twice within the grace period: every secret still in its grace signs; a third is refused until one ends, or ends them all with grace 0', async () => {
    const created = await register(adminA, { url: receiverA.url, eventTypes: ['webhook.ping'] });
    const rotate = (gracePeriodHours: number) =>
      request(api.app).post(`/v1/webhooks/${created.id}/rotate-secret`).set(bearer(adminA)).send({ gracePeriodHours });
    const second = bodyOf(CreatedWebhookSchema, await rotate(2));
    const third = bodyOf(CreatedWebhookSchema, await rotate(1));
    expect(third.secretVersion).toBe(3);
    await request(api.app).post(`/v1/webhooks/${created.id}/ping`).set(bearer(adminA)).expect(202);
    await deliverUntil(() => receiverA.ok().length === 1);
    const during = receiverA.ok()[0]!;
    const header = during.headers['jpm-sync-signature'] as string;
    expect(header.match(/v1=/g)).toHaveLength(3);
    for (const secret of [created.secret, second.secret, third.secret]) {
      expect(receiverVerifies(header, during.body, secret)).toBe(true);
    }
    // The first secret's window (2 h) outlasts the second's (1 h): each keeps its own.
    expect(Date.parse(third.olderSecretExpiresAt ?? '')).toBeGreaterThan(
      Date.parse(third.previousSecretExpiresAt ?? ''),
    );

    // A third rotation would push out a secret still in its grace: refused, saying when it is allowed.
    const refused = expectProblem(await rotate(1), 409, 'secret_rotation_too_soon');
    expect(refused.detail).toContain(third.previousSecretExpiresAt);
    expect(refused.detail).toContain('gracePeriodHours 0');
    const unchanged = bodyOf(
      WebhookEndpointSchema,
      await request(api.app).get(`/v1/webhooks/${created.id}`).set(bearer(adminA)),
    );
    expect(unchanged.secretVersion).toBe(3);

    // Grace 0 ends every earlier secret at once (e.g. after a leak).
    const fourth = bodyOf(CreatedWebhookSchema, await rotate(0));
    expect(fourth).toMatchObject({ secretVersion: 4, olderSecretExpiresAt: null });
    await request(api.app).post(`/v1/webhooks/${created.id}/ping`).set(bearer(adminA)).expect(202);
    await deliverUntil(() => receiverA.ok().length === 2);
    const after = receiverA.ok()[1]!;
    expect((after.headers['jpm-sync-signature'] as string).match(/v1=/g)).toHaveLength(1);
    expect(receiverVerifies(after.headers['jpm-sync-signature'] as string, after.body, fourth.secret)).toBe(true);
  });

  it('a disabled endpoint gets no events for changes made meanwhile, also once enabled again; the change feed has them, as documented', async () => {
    const doc = (await request(api.app).get('/openapi.json')).body as {
      paths: Record<string, Record<string, { description?: string }>>;
    };
    expect(doc.paths['/v1/webhooks/{id}']?.patch?.description).toMatch(/disabled[^.]*no events[\s\S]*\/v1\/changes/);

    const endpoint = await register(adminA, {
      url: receiverA.url,
      eventTypes: ['transactions.changed', 'webhook.ping'],
    });
    const account = await createAccount(api.t.db, orgA);
    const cursor = (
      (await request(api.app).get('/v1/changes/cursor').set(bearer(adminA)).expect(200)).body as { cursor: string }
    ).cursor;
    const patch = (status: string) =>
      request(api.app).patch(`/v1/webhooks/${endpoint.id}`).set(bearer(adminA)).send({ status }).expect(200);
    await patch('disabled');
    await ingestWire(api.t.db, account, [
      wireTransaction({ transactionId: 'WHILE-DISABLED', jpmAccountId: account.jpmAccountId }),
    ]);
    // The producer passes the change while the endpoint is disabled.
    const produced = async () => {
      const r = await sql<{ done: boolean }>`
        select coalesce((select position_id from webhook_producer_state where source = 'change_events')
          >= (select max(id) from change_events), false) as done`.execute(api.t.db);
      return r.rows[0]?.done === true;
    };
    for (let i = 0; i < 200 && !(await produced()); i++) {
      await runWebhookDeliveries({ db: api.ctx.db, keys: api.ctx.secrets });
      await new Promise((res) => setTimeout(res, 15));
    }
    expect(await produced()).toBe(true);

    await patch('active');
    await request(api.app).post(`/v1/webhooks/${endpoint.id}/ping`).set(bearer(adminA)).expect(202);
    await deliverUntil(() => receiverA.ok().length >= 1);
    expect(receiverA.received.map((r) => r.headers['jpm-sync-event-type'])).toEqual(['webhook.ping']);
    // Catching up: the change feed from a cursor kept before disabling.
    const feed = bodyOf(
      ChangePageSchema,
      await request(api.app)
        .get(`/v1/changes?cursor=${encodeURIComponent(cursor)}`)
        .set(bearer(adminA)),
    );
    expect(JSON.stringify(feed.data)).toContain('WHILE-DISABLED');
  });

  it('gives up when the retry window ends, and a replay delivers the same event again', async () => {
    const created = await register(adminA, { url: receiverA.url, eventTypes: ['integration.*'] });
    await insertOutboxEvents(api.t.db, [
      { organizationId: orgA.organizationId, integrationId: orgA.integrationId, type: 'integration.live', payload: {} },
    ]);
    receiverA.status = 503;
    const log = async () =>
      bodyOf(
        pageSchema(DeliverySchema),
        await request(api.app).get(`/v1/webhooks/${created.id}/deliveries`).set(bearer(adminA)),
      ).data;
    let deliveries: z.output<typeof DeliverySchema>[] = [];
    // A retry window of one second stands in for the production day.
    for (let i = 0; i < 400 && deliveries[0]?.status !== 'failed'; i++) {
      await runWebhookDeliveries({
        db: api.ctx.db,
        keys: api.ctx.secrets,
        retry: { baseMs: 10, maxMs: 40 },
        maxAgeSeconds: 1,
      });
      deliveries = await log();
      await new Promise((res) => setTimeout(res, 10));
    }
    expect(deliveries).toHaveLength(1);
    expect(deliveries[0]).toMatchObject({ status: 'failed', lastResponseStatus: 503, nextAttemptAt: null });
    expect(deliveries[0]!.attempts).toBeGreaterThan(1);

    receiverA.status = 200;
    const replay = await request(api.app)
      .post(`/v1/webhooks/${created.id}/deliveries/${deliveries[0]!.id}/replay`)
      .set(bearer(adminA));
    expect(replay.status).toBe(202);
    // A queued delivery is answered as the delivery itself (deliveryId: its former answer, one release).
    const queued = replay.body as { id: string; deliveryId: string; replayOf: string; status: string; eventId: string };
    expect(queued).toMatchObject({
      id: queued.deliveryId,
      replayOf: deliveries[0]!.id,
      status: 'pending',
      eventId: deliveries[0]!.eventId,
    });
    await deliverUntil(() => receiverA.ok().length === 1);
    const replayed = receiverA.ok()[0]!;
    expect(replayed.headers['jpm-sync-event-id']).toBe(deliveries[0]!.eventId);
    expect(replayed.body).toBe(receiverA.received[0]!.body);
    const after = await log();
    expect(after.find((d) => d.id === (replay.body as { deliveryId: string }).deliveryId)).toMatchObject({
      status: 'succeeded',
      replayOf: deliveries[0]!.id,
    });
  });

  it("organization scope: another organization's endpoints and deliveries are 404, lists are empty", async () => {
    const a = await register(adminA, { url: receiverA.url, eventTypes: ['*'] });
    expectProblem(await request(api.app).get(`/v1/webhooks/${a.id}`).set(bearer(adminB)), 404, 'not_found');
    expectProblem(await request(api.app).get(`/v1/webhooks/${a.id}/deliveries`).set(bearer(adminB)), 404, 'not_found');
    expectProblem(
      await request(api.app).post(`/v1/webhooks/${a.id}/rotate-secret`).set(bearer(adminB)).send({}),
      404,
      'not_found',
    );
    expectProblem(
      await request(api.app).patch(`/v1/webhooks/${a.id}`).set(bearer(adminB)).send({ status: 'disabled' }),
      404,
      'not_found',
    );
    expectProblem(await request(api.app).delete(`/v1/webhooks/${a.id}`).set(bearer(adminB)), 404, 'not_found');
    expectProblem(
      await request(api.app)
        .post('/v1/webhooks')
        .set(bearer(adminB))
        .send({ organizationId: orgA.organizationId, url: receiverB.url, eventTypes: ['*'] }),
      404,
      'not_found',
    );
    const listB = bodyOf(
      pageSchema(WebhookEndpointSchema),
      await request(api.app).get('/v1/webhooks').set(bearer(adminB)),
    );
    expect(listB.data.some((e) => e.id === a.id)).toBe(false);
    // A viewer may look (src/domain/access.ts gives every role webhooks:read) but not change anything.
    const viewer = await api.key('viewer', orgA.organizationId);
    expect((await request(api.app).get('/v1/webhooks').set(bearer(viewer))).status).toBe(200);
    expectProblem(
      await request(api.app)
        .post('/v1/webhooks')
        .set(bearer(viewer))
        .send({ url: receiverA.url, eventTypes: ['*'] }),
      403,
      'forbidden',
    );
    expectProblem(
      await request(api.app).post(`/v1/webhooks/${a.id}/rotate-secret`).set(bearer(viewer)).send({}),
      403,
      'forbidden',
    );
  });

  it('a change that passed its scope check before a concurrent delete is a 404 and does not bring the endpoint back', async () => {
    const created = await register(adminA, { url: receiverA.url, eventTypes: ['transactions.changed'] });
    // The route checked the endpoint (not deleted, this organization's), then a DELETE committed.
    expect((await getWebhookEndpoint(api.ctx.db, created.id)).status).toBe('active');
    await deleteWebhookEndpoint(api.ctx.db, created.id);
    const deps = { db: api.ctx.db, keys: api.ctx.secrets, allowHttpEndpoints: true };
    await expect(changeWebhookEndpoint(deps, created.id, { status: 'active' })).rejects.toMatchObject({
      httpStatus: 404,
      code: 'not_found',
    });
    await expect(deleteWebhookEndpoint(api.ctx.db, created.id)).rejects.toMatchObject({ httpStatus: 404 });
    const row = await api.t.db
      .selectFrom('webhook_endpoints')
      .select(['status'])
      .where('id', '=', created.id)
      .executeTakeFirstOrThrow();
    expect(row.status).toBe('deleted');
    expectProblem(
      await request(api.app).patch(`/v1/webhooks/${created.id}`).set(bearer(adminA)).send({ status: 'active' }),
      404,
      'not_found',
    );
  });

  it('a receiver that redirects (here to an internal address) is a failed attempt: the redirect is never followed', async () => {
    let internalHits = 0;
    const internal = createServer((_req, res) => {
      internalHits++;
      res.end('metadata');
    });
    await new Promise<void>((resolve) => internal.listen(0, '127.0.0.2', resolve));
    const target = `http://127.0.0.2:${(internal.address() as AddressInfo).port}/latest/meta-data/`;
    const redirecting = createServer((_req, res) => {
      res.statusCode = 307;
      res.setHeader('location', target);
      res.end();
    });
    await new Promise<void>((resolve) => redirecting.listen(0, '127.0.0.1', resolve));
    try {
      const created = await register(adminA, {
        url: `http://127.0.0.1:${(redirecting.address() as AddressInfo).port}/hooks`,
        eventTypes: ['webhook.ping'],
      });
      const ping = await request(api.app).post(`/v1/webhooks/${created.id}/ping`).set(bearer(adminA)).expect(202);
      // The deployment's policy allows the receiver's address only, as a production policy would.
      const r = await runWebhookDeliveries({
        db: api.ctx.db,
        keys: api.ctx.secrets,
        timeoutMs: 5_000,
        outbound: createOutboundPolicy({ allow: ['127.0.0.1'] }),
      });
      expect(r).toMatchObject({ attempted: 1, succeeded: 0, retrying: 1 });
      const detail = bodyOf(
        DeliveryDetailSchema,
        await request(api.app)
          .get(`/v1/webhooks/${created.id}/deliveries/${(ping.body as { id: string }).id}`)
          .set(bearer(adminA)),
      );
      expect(detail).toMatchObject({
        status: 'pending',
        lastResponseStatus: 307,
        lastError: 'receiver answered HTTP 307',
      });
      expect(internalHits).toBe(0);
    } finally {
      await new Promise((resolve) => redirecting.close(resolve));
      await new Promise((resolve) => internal.close(resolve));
    }
  });

  it('a receiver that answers 410 Gone is not retried: the delivery fails at once and can be replayed', async () => {
    let hits = 0;
    const gone = createServer((_req, res) => {
      hits++;
      res.statusCode = 410;
      res.end('no such hook');
    });
    await new Promise<void>((resolve) => gone.listen(0, '127.0.0.1', resolve));
    try {
      const created = await register(adminA, {
        url: `http://127.0.0.1:${(gone.address() as AddressInfo).port}/hooks`,
        eventTypes: ['webhook.ping'],
      });
      const ping = await request(api.app).post(`/v1/webhooks/${created.id}/ping`).set(bearer(adminA)).expect(202);
      const r = await runWebhookDeliveries({ db: api.ctx.db, keys: api.ctx.secrets, timeoutMs: 5_000 });
      expect(r).toMatchObject({ attempted: 1, succeeded: 0, retrying: 0 });
      const detail = bodyOf(
        DeliveryDetailSchema,
        await request(api.app)
          .get(`/v1/webhooks/${created.id}/deliveries/${(ping.body as { id: string }).id}`)
          .set(bearer(adminA)),
      );
      expect(detail).toMatchObject({ status: 'failed', lastResponseStatus: 410 });
      expect(detail.lastError).toMatch(/410 Gone.*not retried/);
      expect(hits).toBe(1);
      // Once the receiver is back, a replay sends the event again.
      await request(api.app)
        .post(`/v1/webhooks/${created.id}/deliveries/${(ping.body as { id: string }).id}/replay`)
        .set(bearer(adminA))
        .expect(202);
      expect(await runWebhookDeliveries({ db: api.ctx.db, keys: api.ctx.secrets, timeoutMs: 5_000 })).toMatchObject({
        attempted: 1,
      });
      expect(hits).toBe(2);
    } finally {
      await new Promise((resolve) => gone.close(resolve));
    }
  });

  it('validates URLs and event types, and never stores a secret in clear', async () => {
    const bad = expectProblem(
      await request(api.app)
        .post('/v1/webhooks')
        .set(bearer(adminA))
        .send({ url: 'ftp://x', eventTypes: ['transactions.chnaged'] }),
      400,
      'validation_failed',
    );
    expect(bad.errors?.[0]?.path).toMatch(/body\.(url|eventTypes)/);
    const created = await register(adminA, { url: receiverA.url, eventTypes: ['transactions.changed'] });
    const rotated = bodyOf(
      CreatedWebhookSchema,
      await request(api.app).post(`/v1/webhooks/${created.id}/rotate-secret`).set(bearer(adminA)).send({}),
    );
    for (const secret of [created.secret, rotated.secret]) {
      for (const table of ['webhook_endpoints', 'idempotency_keys', 'audit_log', 'webhook_events']) {
        const r = await sql<{
          n: string;
        }>`select count(*)::text as n from ${sql.table(table)} x where x::text like ${`%${secret.slice(6)}%`}`.execute(
          api.t.db,
        );
        expect(r.rows[0]?.n, table).toBe('0');
      }
    }
  });
});
