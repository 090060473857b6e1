import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseClock } from '../../src/storage/intraday.repo.ts';
import { reconcileIntraday } from '../../src/sync/supersede.ts';
import { createAccount, createTenancy } from '../factories/tenancy.ts';
import { ingestWire, wireTransaction } from '../factories/transactions.ts';
import { createTestDb, type TestDb } from '../helpers/db.ts';

/**
 * Intraday reconciliation with legitimately identical items (equal fees): fees withdrawn, returned and
 * added in any order leave the live intraday rows exactly the bank's snapshot, one row per fee.
 * Through the real ingest path and Postgres.
 */
describe('intraday reconciliation with identical items', () => {
  const DAY = '2026-11-02';
  let t: TestDb;
  let account: { id: string; organizationId: string; jpmAccountId: string };

  beforeAll(async () => {
    t = await createTestDb();
    account = await createAccount(t.db, await createTenancy(t.db));
  });
  afterAll(async () => {
    await t.drop();
  });

  const fee = (id: string) =>
    wireTransaction({
      transactionId: id,
      jpmAccountId: account.jpmAccountId,
      postCode: 'I',
      asOfDate: DAY,
      direction: 'DEBIT',
      amount: '25.00',
      baiTypeCode: '699',
      bankReference: 'FEE',
      customerReference: 'WIRE FEE',
      shortDescription: 'SERVICE CHARGE',
    });

  /** One complete current-day walk showing `ids`, as sync does it: clock, ingest, reconcile. */
  async function walk(ids: string[]) {
    const walkStartedAt = await databaseClock(t.db);
    await ingestWire(t.db, account, ids.map(fee));
    return reconcileIntraday(
      t.db,
      account,
      {
        day: DAY,
        ids: new Set(ids),
        provesAbsence: true,
        walkStartedAt,
        evidence: { totalRecords: ids.length, totalPages: 1, businessDaySource: 'test' },
      },
      null,
    );
  }

  async function pendingIds() {
    const rows = await t.db
      .selectFrom('transactions')
      .select('jpm_transaction_id')
      .where('account_id', '=', account.id)
      .where('status', '=', 'pending')
      .execute();
    return rows.map((r) => r.jpm_transaction_id).sort();
  }

  it('keeps the live intraday rows equal to the snapshot through withdrawals, returns and new identical fees', async () => {
    const snapshots = [
      ['C-1', 'C-2', 'C-3'],
      ['C-1', 'C-3'],
      ['C-1', 'C-3', 'C-4'],
      ['C-1', 'C-2', 'C-3', 'C-4'],
      ['C-4'],
      ['C-1', 'C-2', 'C-3', 'C-4', 'C-5'],
    ];
    for (const ids of snapshots) {
      await walk(ids);
      expect(await pendingIds()).toEqual([...ids].sort());
    }
    const all = await t.db.selectFrom('transactions').select('id').where('account_id', '=', account.id).execute();
    expect(all).toHaveLength(5);
    // Every status change is a decision: withdrawals and returns alternate per row.
    const decided = await t.db
      .selectFrom('transaction_decisions')
      .select(['transaction_id', 'decision'])
      .orderBy('id')
      .execute();
    const byRow = new Map<string, string[]>();
    for (const d of decided) {
      byRow.set(d.transaction_id, [...(byRow.get(d.transaction_id) ?? []), d.decision]);
    }
    expect([...byRow.values()].every((seq) => seq.every((d, i) => d === (i % 2 === 0 ? 'removed' : 'restored')))).toBe(
      true,
    );
    expect(decided.filter((d) => d.decision === 'restored').length).toBeGreaterThan(0);
  });
});
