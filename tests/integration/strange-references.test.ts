import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodePgText } from '../../src/shared/pg-text.ts';
import { addDays } from '../../src/shared/time.ts';
import { strangeReference } from '../../src/simulator/index.ts';
import type { TestDb } from '../helpers/db.ts';
import { startValidationDb, stopValidationDb, type ValidationSim } from '../helpers/validation-sim.ts';

/**
 * References as no bank sample holds them (the simulator's `strange-references` fault, over mTLS, through the real
 * sync): a no-break space, an emoji family joined by ZWJ, a combining accent, Hebrew under a right-to-left override,
 * and 2,000 astral characters (8,000 bytes of UTF-8, past a B-tree index entry). Every reference is kept exactly as
 * the bank sent it, each transaction stored once, and the same answer again changes nothing.
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
    historyDays: 8,
    txPerDay: 6,
    quirks: { latePostings: false },
  }));
});

afterAll(() => stopValidationDb({ t, v }));

describe('very long, unicode-heavy references', () => {
  it('are kept exactly, each transaction once; the same answer again changes nothing', async () => {
    const a = v.accounts[0]!;
    v.sim.injectFaults([{ kind: 'strange-references', path: '/tsapi/v3/transactions' }]);
    const rows = () =>
      t.db
        .selectFrom('transactions')
        .select(['id', 'jpm_transaction_id', 'bank_reference', 'customer_reference', 'content_hash', 'version'])
        .where('account_id', '=', a.id)
        .where('status', '=', 'posted')
        .orderBy('id')
        .execute();
    try {
      await v.syncRange(a.id, first, YESTERDAY);
      const stored = await rows();
      const truth = v.sim
        .groundTruth()
        .accounts[0]!.transactions.filter((x) => x.asOfDate >= first && x.asOfDate <= YESTERDAY);
      expect(truth.length).toBeGreaterThan(5);
      expect(stored.length).toBe(truth.length);
      const byId = new Map(stored.map((r) => [r.jpm_transaction_id, r]));
      for (const x of truth) {
        const r = byId.get(x.transactionId)!;
        expect(decodePgText(r.bank_reference)).toBe(strangeReference(x.bankReference));
        expect(decodePgText(r.customer_reference)).toBe(strangeReference(x.customerReference));
      }
      await v.syncRange(a.id, first, YESTERDAY);
      expect(await rows()).toEqual(stored);
    } finally {
      v.sim.clearFaults();
    }
  });
});
