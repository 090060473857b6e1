import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dataQualityOf } from '../../src/jpm/records.ts';
import type { TransactionPageEvent } from '../../src/jpm/transactions.ts';
import { addDays } from '../../src/shared/time.ts';
import { collect, startWalkSim, type ClientSim } from '../helpers/jpm-client-sim.ts';

/**
 * Integer counts written as the same JSON number with a fraction of zero or an exponent (the simulator's
 * `fractional-integers` fault, over real mTLS: `decimalLocation: 2.0`, `currencySequence: 0.000`, `pageNumber: 1.0`,
 * `totalPages: 30e-1`, `totalRecords: 5.0`, `pageSize: null`), as a serializer holding every number as a double
 * writes them. JSON-wise they are the numbers the bank means: the walk and the balances read exactly as the plain
 * answer, no record refused or noted, amounts unchanged.
 */
const TODAY = '2025-03-12';
const FROM = addDays(TODAY, -8);
const TO = addDays(TODAY, -4);

describe('integer counts written with a fraction of zero', () => {
  let env: ClientSim;
  let accountId: string;
  beforeAll(async () => {
    ({ env, accountId } = await startWalkSim({ today: TODAY, accounts: 2, defaultPageSize: 3 }));
  });
  afterAll(() => env.stop());

  const walk = () => collect(env.client().transactionPages({ startDate: FROM, endDate: TO, accountIds: [accountId] }));
  const shape = (events: TransactionPageEvent[]) =>
    events.map((e) =>
      e.type === 'page'
        ? {
            pageNumber: e.pageNumber,
            totalPages: e.totalPages,
            totalRecords: e.totalRecords,
            records: JSON.stringify(e.records),
            notes: e.records.flatMap((r) => dataQualityOf(r)),
            rejects: e.rejects.map((r) => r.reason),
          }
        : e,
    );

  it('a v3 walk reads every page and record as the plain answer', async () => {
    env.sim.clearFaults();
    const clean = await walk();
    expect(clean.filter((e) => e.type === 'page').length).toBeGreaterThan(1);
    const fired = env.sim.stats().faultsInjected;
    env.sim.injectFaults([{ kind: 'fractional-integers', path: '/tsapi/v3/transactions' }]);
    const odd = await walk();
    env.sim.clearFaults();
    expect(env.sim.stats().faultsInjected - fired).toBe(clean.length);
    expect(shape(odd)).toEqual(shape(clean));
    for (const e of odd) {
      expect(e.type === 'page' && e.rejects).toEqual([]);
    }
  });

  it('a balance answer reads every account as the plain answer', async () => {
    env.sim.clearFaults();
    const clean = await env.client().getBalances({ startDate: FROM, endDate: TO });
    env.sim.injectFaults([{ kind: 'fractional-integers', path: '/accessapi/balance' }]);
    const odd = await env.client().getBalances({ startDate: FROM, endDate: TO });
    env.sim.clearFaults();
    expect(odd.accounts.length).toBe(env.sim.accounts.length);
    expect(JSON.stringify(odd.accounts)).toBe(JSON.stringify(clean.accounts));
    expect(odd.accountErrors).toEqual([]);
  });
});
