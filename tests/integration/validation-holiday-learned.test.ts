import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addDays } from '../../src/shared/time.ts';
import { createValidationReport, healAccountDays, refreshAccountDayMetrics } from '../../src/validation/index.ts';
import type { TestDb } from '../helpers/db.ts';
import { startValidationDb, stopValidationDb, type ValidationSim } from '../helpers/validation-sim.ts';

/**
 * A weekday judged before the bank said it was a holiday: the first report (nothing fetched yet) owes it, as every
 * weekday, and stores it unproved. Once a sync learns from the bank that it is no business day, nothing is owed for it:
 * its old proof must not live on as an open day (a "never fetched" coverage gap, re-fetched by every heal, counted
 * unproved by the metrics). Simulator over mTLS, real sync path.
 */
const TODAY = '2025-03-12'; // a Wednesday
const YESTERDAY = addDays(TODAY, -1);
const HOLIDAY = '2025-03-05'; // a Wednesday the bank is closed

let t: TestDb;
let v: ValidationSim;
let first: string;

beforeAll(async () => {
  ({ t, v, first } = await startValidationDb({
    today: TODAY,
    accounts: 1,
    historyDays: 20,
    txPerDay: 5,
    holidays: [HOLIDAY],
    quirks: { latePostings: false },
  }));
});

afterAll(() => stopValidationDb({ t, v }));

const report = () =>
  createValidationReport(
    { db: t.db, now: v.now },
    { integrationId: v.tenancy.integrationId, from: first, to: YESTERDAY, requestedBy: 'test' },
  );

describe('validation: a holiday learned after the day was judged', () => {
  it('leaves no open proof behind: not a coverage gap, not re-fetched, not counted', async () => {
    const a = v.accounts[0]!;
    // Before any sync: every weekday is owed and unproved, the holiday among them.
    const before = await report();
    expect(before.accounts[0]!.calendar.find((d) => d.day === HOLIDAY)).toMatchObject({ state: 'unproved' });

    await v.syncRange(a.id, first, YESTERDAY);
    const after = await report();
    expect(after.accounts[0]!.calendar.map((d) => d.day)).not.toContain(HOLIDAY);
    expect(after.accounts[0]!.noBusinessDays).toEqual([HOLIDAY]);
    expect(after.coverage.daysNotFetched).toEqual([]);
    expect(after.passed).toBe(true);

    const healed = await healAccountDays({ db: t.db, refetch: v.syncRange, now: v.now }, { accountId: a.id });
    expect(healed).toMatchObject({ windows: [], outOfReach: 0, exhausted: 0 });
    expect(await refreshAccountDayMetrics(t.db)).toMatchObject({ broken: 0, unproved: 0 });
  });
});
