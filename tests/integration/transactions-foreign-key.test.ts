import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OccurrenceCounter } from '../../src/normalization/identity.ts';
import { normalizeTransactions } from '../../src/normalization/transactions.ts';
import type { WireTransaction } from '../../src/jpm/wire.schemas.ts';
import { ingestTransactionPage } from '../../src/sync/ingest.ts';
import { createAccount, createTenancy } from '../factories/tenancy.ts';
import { createTestDb, type TestDb } from '../helpers/db.ts';

/**
 * A transaction's account and organization are checked by one foreign key, `(account_id, organization_id)` to
 * `bank_accounts (id, organization_id)`: a row naming an organization other than its account's is refused, even
 * when that organization exists (the two former single-column keys accepted it).
 */
const record = (accountId: string): WireTransaction => ({
  transactionId: 'TXN-FK-1',
  account: { accountId },
  currency: { code: 'USD', decimalLocation: '2' },
  asOfDate: '2026-03-02',
  valueDate: '2026-03-02',
  debitCreditCode: 'CREDIT',
  amount: '10.00',
  postCode: 'P',
  baiType: { typeCode: '195', summaryTypeCode: '190' },
});

describe('the account and organization of a transaction', () => {
  let t: TestDb;
  beforeAll(async () => {
    t = await createTestDb();
  });
  afterAll(async () => {
    await t.drop();
  });

  it("are stored when the organization is the account's, and refused when it is another one", async () => {
    const ours = await createTenancy(t.db);
    const other = await createTenancy(t.db, { name: 'Other Treasury' });
    const account = await createAccount(t.db, ours);
    const page = normalizeTransactions([record(account.jpmAccountId)], new OccurrenceCounter());
    const wrong = ingestTransactionPage(
      t.db,
      { id: account.id, organizationId: other.organizationId },
      { ...page, fetched: 1 },
      null,
    );
    await expect(wrong).rejects.toMatchObject({ code: '23503', constraint: 'transactions_account_organization_fkey' });
    expect(
      await ingestTransactionPage(
        t.db,
        { id: account.id, organizationId: ours.organizationId },
        { ...page, fetched: 1 },
        null,
      ),
    ).toMatchObject({ inserted: 1 });
    const stored = await t.db.selectFrom('transactions').select(['organization_id', 'account_id']).execute();
    expect(stored).toEqual([{ organization_id: ours.organizationId, account_id: account.id }]);
  });

  it('keep an account with transactions in its organization: moving it to another one is refused', async () => {
    const ours = await createTenancy(t.db, { name: 'Moving Treasury' });
    const other = await createTenancy(t.db, { name: 'Receiving Treasury' });
    const account = await createAccount(t.db, ours);
    const page = normalizeTransactions([record(account.jpmAccountId)], new OccurrenceCounter());
    await ingestTransactionPage(
      t.db,
      { id: account.id, organizationId: ours.organizationId },
      { ...page, fetched: 1 },
      null,
    );
    const move = t.db
      .updateTable('bank_accounts')
      .set({ organization_id: other.organizationId })
      .where('id', '=', account.id)
      .execute();
    await expect(move).rejects.toMatchObject({ code: '23503', constraint: 'transactions_account_organization_fkey' });
    const kept = await t.db
      .selectFrom('bank_accounts')
      .select('organization_id')
      .where('id', '=', account.id)
      .executeTakeFirstOrThrow();
    expect(kept.organization_id).toBe(ours.organizationId);
  });
});
