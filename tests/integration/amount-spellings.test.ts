import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toMinorUnits } from '../../src/shared/money.ts';
import { addDays } from '../../src/shared/time.ts';
import { createValidationReport } from '../../src/validation/index.ts';
import type { TestDb } from '../helpers/db.ts';
import { startValidationDb, stopValidationDb, type ValidationSim } from '../helpers/validation-sim.ts';

/**
 * Every amount of the bank's answers written as another JSON spelling of the same number (the simulator's
 * `amount-spellings` fault, over mTLS, through the real sync: `375.5` as `3.755e2`, `0.1` as `0.100000000000000000000`,
 * a balance of `-12.50` as `-1.250e1`, a zero as `0e7`). Money is exact: every stored amount and balance is the bank's
 * to the minor unit, and every day proves. The same answers sent again in another spelling are the same records: no
 * new version, no `modified` event in the change feed.
 */
const TODAY = '2025-03-12';
const YESTERDAY = addDays(TODAY, -1);

let t: TestDb;
let v: ValidationSim;
let first: string;

beforeAll(async () => {
  ({ t, v, first } = await startValidationDb({
    today: TODAY,
    accounts: 1,
    historyDays: 10,
    txPerDay: 8,
    quirks: { latePostings: false },
  }));
});

afterAll(() => stopValidationDb({ t, v }));

describe('amounts written as other spellings of the same number', () => {
  it('are stored exactly, and every day proves', async () => {
    const a = v.accounts[0]!;
    v.sim.injectFaults([{ kind: 'amount-spellings' }]);
    const fired = v.sim.stats().faultsInjected;
    try {
      await v.syncRange(a.id, first, YESTERDAY);
    } finally {
      v.sim.clearFaults();
    }
    expect(v.sim.stats().faultsInjected).toBeGreaterThan(fired);
    const truth = v.sim.groundTruth().accounts[0]!;
    const dl = truth.decimalLocation;
    const rows = await t.db
      .selectFrom('transactions')
      .select(['jpm_transaction_id', 'amount_minor', 'direction'])
      .where('account_id', '=', a.id)
      .where('status', '=', 'posted')
      .execute();
    const stored = new Map(rows.map((r) => [r.jpm_transaction_id, `${r.direction} ${String(r.amount_minor)}`]));
    const expected = truth.transactions.filter((x) => x.asOfDate >= first && x.asOfDate <= YESTERDAY);
    expect(expected.length).toBeGreaterThan(10);
    expect(stored.size).toBe(expected.length);
    for (const x of expected) {
      expect(stored.get(x.transactionId), x.transactionId).toBe(
        `${x.debitCreditCode.toLowerCase()} ${toMinorUnits(x.amount, dl)}`,
      );
    }
    const balances = await t.db
      .selectFrom('balances')
      .select(['as_of_date', 'opening_ledger_minor', 'ending_ledger_minor'])
      .where('account_id', '=', a.id)
      .where('kind', '=', 'final')
      .execute();
    expect(balances.length).toBeGreaterThan(0);
    const byDay = new Map(truth.balances.map((b) => [b.asOfDate, b]));
    for (const b of balances) {
      const day = byDay.get(String(b.as_of_date))!;
      expect([String(b.opening_ledger_minor), String(b.ending_ledger_minor)]).toEqual([
        String(toMinorUnits(day.openingLedger, dl)),
        String(toMinorUnits(day.endingLedger, dl)),
      ]);
    }
    const doc = await createValidationReport(
      { db: t.db, now: v.now },
      { integrationId: v.tenancy.integrationId, from: first, to: YESTERDAY, requestedBy: 'test' },
    );
    expect(doc.reasons).toEqual([]);
  });

  it('sent again in the plain spelling, are no new version and no modified event, and no balance is rewritten', async () => {
    const a = v.accounts[0]!;
    const history = async () => ({
      versions: await t.db
        .selectFrom('transaction_versions as v')
        .innerJoin('transactions as x', 'x.id', 'v.transaction_id')
        .select(['v.transaction_id', 'v.changed_fields'])
        .where('x.account_id', '=', a.id)
        .execute(),
      events: await t.db
        .selectFrom('change_events')
        .select(['entity_id', 'kind'])
        .where('account_id', '=', a.id)
        .orderBy('id')
        .execute(),
      raw: await t.db
        .selectFrom('transactions')
        .select(['id', 'raw', 'version'])
        .where('account_id', '=', a.id)
        .orderBy('id')
        .execute(),
      // A balance sent again spelled another way is not rewritten either.
      balances: await t.db
        .selectFrom('balances')
        .select(['id', 'raw', 'updated_at'])
        .where('account_id', '=', a.id)
        .orderBy('id')
        .execute(),
    });
    const before = await history();
    // The account's amounts were stored spelled another way by the sync before; this one reads them plainly.
    expect(before.raw.some((r) => /e\d|0{18}/.test(String((r.raw as { amount: unknown }).amount)))).toBe(true);
    expect(before.balances.length).toBeGreaterThan(0);
    const fired = v.sim.stats().faultsInjected;
    await v.syncRange(a.id, first, YESTERDAY);
    expect(v.sim.stats().faultsInjected).toBe(fired);
    const after = await history();
    expect(after.events).toEqual(before.events);
    expect(after.versions).toEqual(before.versions);
    // The raw record kept is the text first stored, exactly.
    expect(after.raw).toEqual(before.raw);
    expect(after.balances).toEqual(before.balances);
    // And spelled another way again: still nothing.
    v.sim.injectFaults([{ kind: 'amount-spellings' }]);
    try {
      await v.syncRange(a.id, first, YESTERDAY);
    } finally {
      v.sim.clearFaults();
    }
    expect(v.sim.stats().faultsInjected).toBeGreaterThan(fired);
    expect(await history()).toEqual(before);
  });
});
