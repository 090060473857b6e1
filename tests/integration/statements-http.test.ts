import { readFileSync } from 'node:fs';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { SyncRunSchema } from '../../src/admin-api/syncs.routes.ts';
import { buildAccounts } from '../../src/simulator/accounts.ts';
import { Ledger } from '../../src/simulator/ledger.ts';
import { DEFAULT_QUIRKS } from '../../src/simulator/quirks.ts';
import { renderBai2, renderCamt053 } from '../../src/simulator/statements.ts';
import { createAccount, createTenancy } from '../factories/tenancy.ts';
import { bearer, bodyOf, createTestApi, expectProblem, type TestApi } from '../helpers/api-app.ts';

const ImportSchema = z.object({
  run: SyncRunSchema, format: z.enum(['bai2', 'camt053', 'camt052']), fileId: z.string(), days: z.array(z.string()), otherAccounts: z.number(),
});

describe('POST /v1/accounts/{id}/statements', () => {
  let api: TestApi;
  let accountId: string;
  let otherOrgKey: string;
  let bai2: string;
  let camt: string;
  const seed = 'statements-http';
  const ledger = new Ledger({ seed, accounts: buildAccounts(seed, 2), firstDate: '2026-10-01', txPerDay: 15, quirks: DEFAULT_QUIRKS });

  beforeAll(async () => {
    api = await createTestApi();
    const tenancy = await createTenancy(api.t.db);
    const sim = ledger.accounts[0]!;
    accountId = (await createAccount(api.t.db, tenancy, { jpmAccountId: sim.accountId, currency: sim.currency.code, decimalLocation: sim.currency.decimalLocation })).id;
    const other = await createTenancy(api.t.db, { name: 'Other Org' });
    otherOrgKey = await api.key('admin', other.organizationId);
    const window = { accountIds: [sim.accountId, ledger.accounts[1]!.accountId], from: '2026-10-05', to: '2026-10-16', clock: { today: '2026-10-30', progress: 0.5 } };
    bai2 = renderBai2(ledger, window);
    camt = renderCamt053(ledger, window);
  });
  afterAll(async () => {
    await api.close();
  });

  const post = (body: string, type: string, key = api.adminKey) =>
    request(api.app).post(`/v1/accounts/${accountId}/statements`).set(bearer(key)).set('Content-Type', type).send(body);

  it('imports a BAI2 file as a sync run (201), then the camt.053 of the same days changes nothing', async () => {
    const first = bodyOf(ImportSchema, await post(bai2, 'text/plain').expect(201));
    expect(first.format).toBe('bai2');
    expect(first.run).toMatchObject({ accountId, status: 'succeeded', mode: 'range', source: 'bai2', window: { from: '2026-10-05', to: '2026-10-16' } });
    expect(first.run.counts.inserted).toBeGreaterThan(50);
    expect(first.days).toHaveLength(10);
    expect(first.otherAccounts).toBe(1);
    const second = bodyOf(ImportSchema, await post(camt, 'application/xml').expect(201));
    expect(second.format).toBe('camt053');
    expect(second.run.source).toBe('camt053');
    expect(second.run.counts).toMatchObject({ inserted: 0, updated: 0, unchanged: first.run.counts.inserted, rejected: 0, balances: 0 });
    const stored = await api.t.db.selectFrom('transactions').select((eb) => eb.fn.countAll<string>().as('n')).where('account_id', '=', accountId).executeTakeFirstOrThrow();
    expect(Number(stored.n)).toBe(first.run.counts.inserted);
    // The run is listed like any other.
    const run = await request(api.app).get(`/v1/sync-runs/${first.run.id}`).set(bearer(api.adminKey)).expect(200);
    expect(run.body).toMatchObject({ id: first.run.id, status: 'succeeded' });
  });

  it('refuses a tampered file with the line (400), another media type (415), an empty body, another organization', async () => {
    const lines = bai2.split('\r\n');
    const at = lines.findIndex((l) => l.startsWith('98,'));
    lines[at] = lines[at]!.replace(/^98,(-?\d+),/, (_m, n: string) => `98,${BigInt(n) - 1n},`);
    const refused = expectProblem(await post(lines.join('\r\n'), 'text/plain'), 400, 'statement_control_total');
    expect(refused.detail).toContain(`line ${at + 1}`);
    expectProblem(await post(JSON.stringify({ file: bai2 }), 'application/json'), 415, 'unsupported_media_type');
    expectProblem(await post('   ', 'text/plain'), 400, 'statement_empty');
    expectProblem(await request(api.app).post(`/v1/accounts/${accountId}/statements`).set(bearer(api.adminKey)), 400, 'statement_empty');
    // Without a body, another organization's account is not found before anything is said about the body.
    expectProblem(await request(api.app).post(`/v1/accounts/${accountId}/statements`).set(bearer(otherOrgKey)), 404, 'not_found');
    expectProblem(await post(bai2, 'text/plain', otherOrgKey), 404, 'not_found');
  });

  it('a file with a record that cannot be stored: the run ends partial, the record is a reject with its line, its day unproved', async () => {
    const tenancy = await createTenancy(api.t.db, { name: 'Ugly Org' });
    const acct = await createAccount(api.t.db, tenancy, { jpmAccountId: '000000123456789', currency: 'USD', decimalLocation: 2 });
    const res = await request(api.app).post(`/v1/accounts/${acct.id}/statements`).set(bearer(api.adminKey)).set('Content-Type', 'application/octet-stream')
      .send(readFileSync('tests/fixtures/statements/ugly.bai2'));
    expect(res.status).toBe(201);
    const body = bodyOf(ImportSchema, res);
    expect(body.run).toMatchObject({ status: 'partial', error: { code: 'records_rejected' }, counts: { inserted: 6, rejected: 1, balances: 1 } });
    expect(body.otherAccounts).toBe(1);
    const rejects = await request(api.app).get(`/v1/accounts/${acct.id}/rejects`).set(bearer(api.adminKey)).expect(200);
    expect((rejects.body as { data: unknown[] }).data).toEqual([expect.objectContaining({ recordIndex: 14, fields: ['typeCode'], bookingDate: '2026-11-30' })]);
    const day = await api.t.db.selectFrom('account_days').select(['state', 'reason']).where('account_id', '=', acct.id).execute();
    expect(day).toEqual([{ state: 'unproved', reason: 'rejected_record' }]);
  });

  it('refuses a body over the limit (413)', async () => {
    const res = await post(`${bai2}${' '.repeat(33 * 1024 * 1024)}`, 'text/plain');
    expect(res.status).toBe(413);
  });

  it('is in the OpenAPI document with its media types', async () => {
    const doc = (await request(api.app).get('/openapi.json').expect(200)).body as {
      paths: Record<string, { post: { requestBody: { content: Record<string, unknown> }; responses: Record<string, unknown> } }>;
    };
    const op = doc.paths['/v1/accounts/{id}/statements']!.post;
    expect(Object.keys(op.requestBody.content)).toEqual(['text/plain', 'application/octet-stream', 'application/xml', 'text/xml']);
    expect(Object.keys(op.responses)).toEqual(expect.arrayContaining(['201', '400', '404', '413', '415']));
  });
});
