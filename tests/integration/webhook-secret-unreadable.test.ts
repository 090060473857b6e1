import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyId } from '../../src/config/index.ts';
import { runWebhookDeliveries, SECRET_UNREADABLE } from '../../src/events/webhook-delivery.ts';
import { sealSecret } from '../../src/events/webhook-signing.ts';
import { createTenancy } from '../factories/tenancy.ts';
import { bearer, createTestApi, type TestApi } from '../helpers/api-app.ts';
import { captureLogLines } from '../helpers/log-capture.ts';

/**
 * An endpoint whose signing secret this deployment's master key cannot open (the key that sealed it was dropped from
 * CREDENTIALS_PREVIOUS_MASTER_KEYS too early, or the row was tampered with): its delivery is an attempt that failed,
 * shown to the owner and retried on the usual schedule (so it is sent once the operator restores the key), never a
 * pass that throws, holds the delivery unrecorded and comes back to it forever, or stops other endpoints' deliveries.
 */
let api: TestApi;
let server: Server;
let url = '';
const received: string[] = [];
const logs = captureLogLines('info');

beforeAll(async () => {
  api = await createTestApi();
  server = createServer((req, res) => {
    received.push(req.url ?? '');
    req.resume();
    req.on('end', () => res.end('ok'));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await api?.close();
});

describe('a webhook secret the master key cannot open', () => {
  it('fails that attempt with a message for the owner, retries it later, and still sends the other endpoints', async () => {
    const admin = bearer(api.adminKey);
    const t = await createTenancy(api.t.db);
    const endpoint = async (path: string) => {
      const res = await request(api.app)
        .post('/v1/webhooks')
        .set(admin)
        .send({ organizationId: t.organizationId, url: `${url}${path}`, eventTypes: ['*'] });
      expect(res.status, res.text).toBe(201);
      return (res.body as { id: string }).id;
    };
    const lost = await endpoint('/lost');
    const fine = await endpoint('/fine');
    // The lost endpoint's secret as another master key sealed it, one this deployment no longer has.
    const gone = randomBytes(32);
    const sealed = sealSecret(
      'whsec_sealedunderadroppedkey',
      { masterKey: { id: keyId(gone), key: gone }, previousMasterKeys: [] },
      lost,
      1,
    );
    await api.t.db
      .updateTable('webhook_endpoints')
      .set({
        secret_ciphertext: sealed.ciphertext,
        secret_iv: sealed.iv,
        secret_auth_tag: sealed.authTag,
        secret_key_id: sealed.keyId,
        secret_version: 1,
      })
      .where('id', '=', lost)
      .execute();
    const ping = async (id: string) => {
      const res = await request(api.app).post(`/v1/webhooks/${id}/ping`).set(admin).send();
      expect(res.status, res.text).toBe(202);
      return (res.body as { id: string }).id;
    };
    const lostDelivery = await ping(lost);
    await ping(fine);

    const pass = await runWebhookDeliveries({ db: api.ctx.db, keys: api.ctx.secrets, concurrency: 1 });
    expect(pass).toMatchObject({ attempted: 2, succeeded: 1, retrying: 1, failed: 0 });
    expect(received).toEqual(['/fine']);

    const row = await api.t.db
      .selectFrom('webhook_deliveries')
      .select(['status', 'attempts', 'last_error', 'next_attempt_at', 'locked_until'])
      .where('id', '=', lostDelivery)
      .executeTakeFirstOrThrow();
    expect(row).toMatchObject({ status: 'pending', attempts: 1, last_error: SECRET_UNREADABLE });
    expect(row.next_attempt_at.getTime()).toBeGreaterThan(Date.now());
    // The owner sees the attempt and why it was not sent.
    const detail = await request(api.app).get(`/v1/webhooks/${lost}/deliveries/${lostDelivery}`).set(admin);
    expect(detail.status).toBe(200);
    expect(JSON.stringify(detail.body)).toContain(SECRET_UNREADABLE);
    // The operator gets the cause (which key is missing), never key material or the secret.
    const line = logs.find((l) => l.includes('webhook secret unreadable'));
    expect(line).toContain('master_key_unavailable');
    expect(line).toContain(keyId(gone));
    expect(logs.join('\n')).not.toContain('sealedunderadroppedkey');
    expect(logs.join('\n')).not.toContain(gone.toString('base64'));
  });
});
