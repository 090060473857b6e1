import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConflictError } from '../../src/shared/errors.ts';
import { createValidationReport } from '../../src/validation/index.ts';
import { createAccount, createTenancy, recordApproval, type Tenancy } from '../factories/tenancy.ts';
import { bearer, createTestApi, expectProblem } from '../helpers/api-app.ts';
import { createTestDb, type TestDb } from '../helpers/db.ts';
import { obliterate } from '../helpers/orchestration.ts';

/**
 * A validation report for an integration with no accounts (none registered yet, or every one removed) has nothing to
 * prove: whatever its period, the operator's next move is to add accounts, so it is refused (409
 * `integration_has_no_accounts`, saying so) and nothing is stored; never a 400 that reads as the caller's mistake.
 * Real Postgres, the report as the API builds it.
 */
const NOW = new Date('2026-11-11T15:00:00Z');

let t: TestDb;

beforeAll(async () => {
  t = await createTestDb();
});

afterAll(async () => {
  await t.drop();
});

const report = (tenancy: Tenancy, period: { from?: string; to?: string } = {}) =>
  createValidationReport(
    { db: t.db, now: () => NOW },
    { integrationId: tenancy.integrationId, requestedBy: 'test', ...period },
  ).catch((err: unknown) => err);

async function storedReports(tenancy: Tenancy) {
  return t.db
    .selectFrom('validation_reports')
    .select('id')
    .where('integration_id', '=', tenancy.integrationId)
    .execute();
}

function expectNoAccounts(refused: unknown, tenancy: Tenancy) {
  expect(refused).toBeInstanceOf(ConflictError);
  expect(refused).toMatchObject({ httpStatus: 409, code: 'integration_has_no_accounts' });
  expect((refused as Error).message).toBe(
    `integration ${tenancy.integrationId} has no accounts to validate; add its accounts first ` +
      `(POST /v1/integrations/${tenancy.integrationId}/accounts/discover, or register each one), then ask again`,
  );
}

describe('validation report for an integration with no accounts', () => {
  it('approved today: 409 integration_has_no_accounts, not a 400 about the period; nothing stored', async () => {
    const tenancy = await createTenancy(t.db);
    await recordApproval(t.db, tenancy, new Date('2026-11-11T14:00:00Z'));
    expectNoAccounts(await report(tenancy), tenancy);
    expect(await storedReports(tenancy)).toEqual([]);
  });

  it('approved days ago, never approved, or every account removed: the same refusal', async () => {
    const approvedBefore = await createTenancy(t.db);
    await recordApproval(t.db, approvedBefore, new Date('2026-11-02T14:00:00Z'));
    expectNoAccounts(await report(approvedBefore), approvedBefore);

    const neverApproved = await createTenancy(t.db);
    expectNoAccounts(await report(neverApproved, { from: '2026-11-02', to: '2026-11-06' }), neverApproved);

    const removed = await createTenancy(t.db);
    const account = await createAccount(t.db, removed);
    await t.db.updateTable('bank_accounts').set({ status: 'removed' }).where('id', '=', account.id).execute();
    expectNoAccounts(await report(removed), removed);
    for (const tenancy of [approvedBefore, neverApproved, removed]) {
      expect(await storedReports(tenancy)).toEqual([]);
    }
  });

  it('over HTTP: 409 integration_has_no_accounts saying to add accounts first', async () => {
    const api = await createTestApi({ now: () => NOW });
    try {
      const tenancy = await createTenancy(api.t.db);
      await recordApproval(api.t.db, tenancy, new Date('2026-11-11T14:00:00Z'));
      const res = await request(api.app)
        .post(`/v1/integrations/${tenancy.integrationId}/validations`)
        .set(bearer(api.adminKey))
        .send({});
      const problem = expectProblem(res, 409, 'integration_has_no_accounts');
      expect(problem.detail).toContain('add its accounts first');
    } finally {
      await obliterate(api.ctx.queues);
      await api.close();
    }
  });
});
