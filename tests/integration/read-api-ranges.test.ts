import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAccount, createTenancy } from '../factories/tenancy.ts';
import { ingestWire, wireTransaction } from '../factories/transactions.ts';
import { bearer, createTestApi, expectProblem, type TestApi } from '../helpers/api-app.ts';

/**
 * A range filter whose lower bound is above its upper bound is a client mistake (two parameters swapped): an empty
 * page would read as "no such data" to a reconciliation job. It is a 400 naming the parameter; equal bounds are a
 * range of one value and stay valid.
 */
let api: TestApi;
let accountId: string;
let integrationId: string;

beforeAll(async () => {
  api = await createTestApi();
  const tenancy = await createTenancy(api.t.db);
  const account = await createAccount(api.t.db, tenancy);
  accountId = account.id;
  integrationId = tenancy.integrationId;
  await ingestWire(api.t.db, { id: account.id, organizationId: tenancy.organizationId }, [
    wireTransaction({
      transactionId: 'R-1',
      jpmAccountId: account.jpmAccountId,
      amount: '5.00',
      asOfDate: '2026-11-02',
    }),
  ]);
});
afterAll(async () => {
  await api?.close();
});

describe('reversed range filters', () => {
  it('refuses a transaction filter whose from is after its to, or whose amountMin is above its amountMax (compared exactly)', async () => {
    const admin = bearer(api.adminKey);
    for (const [query, path] of [
      ['bookingDateFrom=2026-11-05&bookingDateTo=2026-11-01', 'query.bookingDateFrom'],
      ['valueDateFrom=2026-11-05&valueDateTo=2026-11-04', 'query.valueDateFrom'],
      ['amountMin=10&amountMax=9.99', 'query.amountMin'],
      ['amountMin=1.5&amountMax=1.499999999999999999', 'query.amountMin'],
    ] as const) {
      const problem = expectProblem(
        await request(api.app).get(`/v1/transactions?${query}`).set(admin),
        400,
        'validation_failed',
      );
      expect(
        problem.errors?.map((e) => e.path),
        query,
      ).toEqual([path]);
    }
    for (const query of [
      'bookingDateFrom=2026-11-02&bookingDateTo=2026-11-02',
      'amountMin=5&amountMax=5.00',
      'amountMin=1.499999999999999999&amountMax=1.5',
    ]) {
      const res = await request(api.app).get(`/v1/transactions?${query}`).set(admin);
      expect(res.status, query).toBe(200);
    }
    const one = await request(api.app).get('/v1/transactions?amountMin=5&amountMax=5.00').set(admin);
    expect((one.body as { data: unknown[] }).data).toHaveLength(1);
  });

  it('refuses a balance history, audit or duplicate-suspicion range that ends before it starts', async () => {
    const admin = bearer(api.adminKey);
    const balances = expectProblem(
      await request(api.app).get(`/v1/accounts/${accountId}/balances?from=2026-11-05&to=2026-11-01`).set(admin),
      400,
      'validation_failed',
    );
    expect(balances.errors?.map((e) => e.path)).toEqual(['query.from']);
    const audit = expectProblem(
      await request(api.app).get('/v1/audit?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z').set(admin),
      400,
      'validation_failed',
    );
    expect(audit.errors?.map((e) => e.path)).toEqual(['query.from']);
    const suspicions = expectProblem(
      await request(api.app)
        .get(`/v1/integrations/${integrationId}/duplicate-suspicions?from=2026-11-05&to=2026-11-01`)
        .set(admin),
      400,
      'validation_failed',
    );
    expect(suspicions.errors?.map((e) => e.path)).toEqual(['query.from']);
    expect(
      (await request(api.app).get(`/v1/accounts/${accountId}/balances?from=2026-11-01&to=2026-11-01`).set(admin))
        .status,
    ).toBe(200);
  });
});

describe('page size', () => {
  it('takes a limit written in digits and refuses any other spelling of a number, naming limit', async () => {
    const admin = bearer(api.adminKey);
    for (const path of ['/v1/organizations', '/v1/transactions', '/v1/changes']) {
      for (const limit of ['0x10', '1e2', '%205', '%2B5', '1.0', '-1', '0', '', 'ten', '99999999999']) {
        const problem = expectProblem(
          await request(api.app).get(`${path}?limit=${limit}`).set(admin),
          400,
          'validation_failed',
        );
        expect(
          problem.errors?.map((e) => e.path),
          `${path}?limit=${limit}`,
        ).toEqual(['query.limit']);
      }
      const res = await request(api.app).get(`${path}?limit=2`).set(admin);
      expect(res.status, path).toBe(200);
      expect((res.body as { data: unknown[] }).data.length).toBeLessThanOrEqual(2);
    }
  });
});
