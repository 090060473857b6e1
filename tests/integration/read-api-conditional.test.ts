import { createHash } from 'node:crypto';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pageSchema } from '../../src/http/pagination.ts';
import { TransactionSchema } from '../../src/read-api/dto.ts';
import { createAccount, createTenancy } from '../factories/tenancy.ts';
import { ingestWire, wireTransaction } from '../factories/transactions.ts';
import { bearer, bodyOf, createTestApi, expectProblem, type TestApi } from '../helpers/api-app.ts';

const TxPage = pageSchema(TransactionSchema);

/** The weak ETag Express computes by default (etag@1: length in hex, then 27 characters of the body's SHA-1 in base64). */
function expressWeakEtag(body: Buffer): string {
  return `W/"${body.length.toString(16)}-${createHash('sha1').update(body).digest('base64').slice(0, 27)}"`;
}

describe('read API: ETag and conditional requests', () => {
  let api: TestApi;
  let auth: { Authorization: string };
  let account: Awaited<ReturnType<typeof createAccount>>;
  const PAGE = '/v1/transactions?limit=50';

  beforeAll(async () => {
    api = await createTestApi();
    auth = bearer(await api.key('viewer'));
    const org = await createTenancy(api.t.db, { name: 'Conditional Co' });
    account = await createAccount(api.t.db, org, { currency: 'USD', decimalLocation: 2 });
    await ingestWire(
      api.t.db,
      account,
      Array.from({ length: 30 }, (_, i) =>
        wireTransaction({
          transactionId: `ETAG-${i}`,
          jpmAccountId: account.jpmAccountId,
          amount: `${i + 1}.05`,
          remark: `naïve café ${i} \u2013 “quoted”`,
        }),
      ),
    );
  });
  afterAll(async () => {
    await api.close();
  });

  it('sends the page with a weak ETag of exactly the bytes sent, and its length and JSON type', async () => {
    const res = await request(api.app).get(PAGE).set(auth).buffer(true);
    expect(res.status).toBe(200);
    expect(bodyOf(TxPage, res).data).toHaveLength(30);
    const bytes = Buffer.from(res.text, 'utf8');
    expect(res.headers['etag']).toBe(expressWeakEtag(bytes));
    expect(res.headers['content-length']).toBe(String(bytes.length));
    expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
    // The security headers are still set on the page.
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['content-security-policy']).toContain("default-src 'self'");
  });

  it('answers If-None-Match with the current ETag by 304 and no body, and a stale one with the new page', async () => {
    const first = await request(api.app).get(PAGE).set(auth);
    const etag = first.headers['etag'] as string;
    const again = await request(api.app).get(PAGE).set(auth).set('If-None-Match', etag);
    expect(again.status).toBe(304);
    expect(again.text ?? '').toBe('');
    expect(again.headers['etag']).toBe(etag);
    expect(again.headers['content-length']).toBeUndefined();
    expect((await request(api.app).get(PAGE).set(auth).set('If-None-Match', `W/"1-x", ${etag}`)).status).toBe(304);
    // A client that asks not to be served from cache gets the body (Cache-Control: no-cache).
    expect(
      (await request(api.app).get(PAGE).set(auth).set('If-None-Match', etag).set('Cache-Control', 'no-cache')).status,
    ).toBe(200);

    await ingestWire(api.t.db, account, [
      wireTransaction({ transactionId: 'ETAG-NEW', jpmAccountId: account.jpmAccountId, amount: '99.00' }),
    ]);
    const changed = await request(api.app).get(PAGE).set(auth).set('If-None-Match', etag);
    expect(changed.status).toBe(200);
    expect(changed.headers['etag']).not.toBe(etag);
    expect(bodyOf(TxPage, changed).data).toHaveLength(31);
  });

  it('HEAD gets the headers without the body; errors stay problem+json', async () => {
    const get = await request(api.app).get(PAGE).set(auth);
    const head = await request(api.app).head(PAGE).set(auth);
    expect(head.status).toBe(200);
    expect(head.text ?? '').toBe('');
    expect(head.headers['etag']).toBe(get.headers['etag']);
    expect(head.headers['content-length']).toBe(get.headers['content-length']);
    const problem = expectProblem(
      await request(api.app).get('/v1/transactions?limit=0').set(auth),
      400,
      'validation_failed',
    );
    expect(problem.status).toBe(400);
    expectProblem(await request(api.app).get(PAGE), 401, 'unauthenticated');
  });
});
