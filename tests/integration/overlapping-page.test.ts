import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addDays } from '../../src/shared/time.ts';
import { createValidationReport } from '../../src/validation/index.ts';
import type { TestDb } from '../helpers/db.ts';
import { startValidationDb, stopValidationDb, type ValidationSim } from '../helpers/validation-sim.ts';

/**
 * The bank's pages overlap: a v3 page past the first begins with the last record of the page before it again (same
 * `transactionId`, identical), then all of its own records, pagination unchanged (the simulator's `overlapping-page`
 * fault, over mTLS, through the real sync). Nothing is missing and one transaction comes twice in one walk, on two
 * pages: it is stored once, every record of the days is stored, and the days prove, whether the bank's pages overlap
 * now and then or always (a walk whose distinct records add up to totalRecords is complete; a shifted one misses one).
 */
const TODAY = '2025-03-12';
const YESTERDAY = addDays(TODAY, -1);

let t: TestDb;
let v: ValidationSim;
let first: string;

beforeAll(async () => {
  ({ t, v, first } = await startValidationDb({
    today: TODAY,
    accounts: [{ currency: 'KWD' }, { currency: 'JPY' }],
    historyDays: 6,
    txPerDay: 9,
    defaultPageSize: 4,
    quirks: { latePostings: false },
  }));
});

afterAll(() => stopValidationDb({ t, v }));

describe('pages that overlap by one record', () => {
  it.each([
    ['now and then', 0, 2],
    ['on every page past the first', 1, undefined],
  ] as const)('%s: store every transaction of the walk once, and its days prove', async (_name, index, count) => {
    const a = v.accounts[index]!;
    v.sim.injectFaults([
      { kind: 'overlapping-page', path: '/tsapi/v3/transactions', ...(count === undefined ? {} : { count }) },
    ]);
    const fired = v.sim.stats().faultsInjected;
    try {
      await v.syncRange(a.id, first, YESTERDAY);
    } finally {
      v.sim.clearFaults();
    }
    expect(v.sim.stats().faultsInjected).toBeGreaterThanOrEqual(fired + 2);
    const rows = await t.db
      .selectFrom('transactions')
      .select(['jpm_transaction_id', 'amount_minor'])
      .where('account_id', '=', a.id)
      .where('status', '=', 'posted')
      .execute();
    const stored = rows.map((r) => `${r.jpm_transaction_id} ${String(r.amount_minor)}`).sort();
    const truth = v.sim.groundTruth().accounts.find((x) => x.accountId === a.jpmAccountId)!;
    const bank = truth.transactions
      .filter((x) => x.asOfDate >= first && x.asOfDate <= YESTERDAY)
      .map((x) => `${x.transactionId} ${x.amount.replace('.', '').replace(/^(-?)0+(?=\d)/, '$1')}`)
      .sort();
    expect(stored).toEqual(bank);
    const doc = await createValidationReport(
      { db: t.db, now: v.now },
      { integrationId: v.tenancy.integrationId, from: first, to: YESTERDAY, requestedBy: 'test' },
    );
    const mine = doc.accounts.find((x) => x.accountId === a.id)!;
    expect(mine.calendar.filter((d) => d.state === 'broken' || d.state === 'unproved')).toEqual([]);
  });
});
