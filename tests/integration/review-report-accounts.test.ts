import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reviewPageData } from '../../src/review/service.ts';
import type { ReviewLinkRow } from '../../src/storage/reviews.repo.ts';
import { createValidationReport } from '../../src/validation/index.ts';
import { createAccount, createTenancy, type Tenancy } from '../factories/tenancy.ts';
import { ingestWire, wireTransaction } from '../factories/transactions.ts';
import { createTestDb, type TestDb } from '../helpers/db.ts';

/**
 * The customer's review page shows what the report saw: the transactions of the report's accounts. An account removed
 * from the integration before the report is not in it, so its transactions are not listed for the controller to sign
 * off as if the report had checked them.
 */
const DAY = '2026-11-03'; // a Tuesday

let t: TestDb;
let tenancy: Tenancy;

async function accountWith(jpmAccountId: string, transactionId: string) {
  const a = await createAccount(t.db, tenancy, { jpmAccountId });
  await ingestWire(t.db, { id: a.id, organizationId: tenancy.organizationId }, [
    wireTransaction({ transactionId, jpmAccountId, asOfDate: DAY, amount: '10.00' }),
  ]);
  return a;
}

beforeAll(async () => {
  t = await createTestDb();
  tenancy = await createTenancy(t.db);
  await accountWith('000000002001', 'KEPT-1');
  const removed = await accountWith('000000002002', 'GONE-1');
  await t.db.updateTable('bank_accounts').set({ status: 'removed' }).where('id', '=', removed.id).execute();
});

afterAll(async () => {
  await t.drop();
});

describe('review page: transactions of the report', () => {
  it("lists only the transactions of the report's accounts", async () => {
    const doc = await createValidationReport(
      { db: t.db, now: () => new Date('2026-11-05T17:00:00Z') },
      { integrationId: tenancy.integrationId, from: DAY, to: DAY, requestedBy: 'test' },
    );
    expect(doc.accounts.map((a) => a.accountMasked)).toEqual(['****2001']);
    const link = {
      report_id: doc.id,
      organization_id: tenancy.organizationId,
      integration_id: tenancy.integrationId,
    } as ReviewLinkRow;
    const page = await reviewPageData(t.db, link, '');
    expect(page.transactions.map((x) => x.accountLast4)).toEqual(['2001']);
  });
});
