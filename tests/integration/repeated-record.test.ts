import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addDays } from '../../src/shared/time.ts';
import { createValidationReport } from '../../src/validation/index.ts';
import type { TestDb } from '../helpers/db.ts';
import { startValidationDb, stopValidationDb, type ValidationSim } from '../helpers/validation-sim.ts';

/**
 * The bank lists one transaction twice in a walk: the same record, same `transactionId`, twice on one page, its
 * `totalRecords` counting both or the transaction once (the simulator's `repeated-record` faults, over mTLS, through the real sync). One id is
 * one transaction: it is stored once, and the day it belongs to must prove as any other (the bank's tally of the day
 * counts the transaction, not the copy), never be unproved for good as differing from the bank, which every re-fetch
 * would see again.
 */
const TODAY = '2025-03-12';
const YESTERDAY = addDays(TODAY, -1);

let t: TestDb;
let v: ValidationSim;
let first: string;

beforeAll(async () => {
  ({ t, v, first } = await startValidationDb({
    today: TODAY,
    accounts: 2,
    historyDays: 10,
    txPerDay: 6,
    quirks: { latePostings: false },
  }));
});

afterAll(() => stopValidationDb({ t, v }));

describe('one transaction listed twice on a page', () => {
  it.each([
    ['counted twice in totalRecords', 'repeated-record'],
    ['counted once in totalRecords', 'repeated-record-uncounted'],
  ] as const)('%s: is stored once, and its day proves', async (_name, kind) => {
    const a = v.accounts[kind === 'repeated-record' ? 0 : 1]!;
    v.sim.injectFaults([{ kind, path: '/tsapi/v3/transactions' }]);
    const fired = v.sim.stats().faultsInjected;
    try {
      await v.syncRange(a.id, first, YESTERDAY);
    } finally {
      v.sim.clearFaults();
    }
    expect(v.sim.stats().faultsInjected).toBeGreaterThan(fired);
    const rows = await t.db
      .selectFrom('transactions')
      .select(['jpm_transaction_id'])
      .where('account_id', '=', a.id)
      .where('status', '=', 'posted')
      .execute();
    const ids = rows.map((r) => r.jpm_transaction_id);
    expect(new Set(ids).size).toBe(ids.length);
    const doc = await createValidationReport(
      { db: t.db, now: v.now },
      { integrationId: v.tenancy.integrationId, from: first, to: YESTERDAY, requestedBy: 'test' },
    );
    const mine = doc.accounts.find((x) => x.accountId === a.id)!;
    expect(mine.calendar.filter((d) => d.state === 'broken' || d.state === 'unproved')).toEqual([]);
  });
});
