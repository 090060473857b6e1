import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addDays } from '../../src/shared/time.ts';
import { createValidationReport, healAccountDays } from '../../src/validation/index.ts';
import type { TestDb } from '../helpers/db.ts';
import { startValidationDb, stopValidationDb, type ValidationSim } from '../helpers/validation-sim.ts';

/**
 * Rows that net to zero: a payment and its reversal booked the same day (same amount, opposite directions). When both
 * are missing from what we hold, the day's balances still add up (opening + credits − debits = closing), so the
 * equation alone cannot see them; the bank's own tally of the day (what its latest posted fetch reported) can.
 * Data from the simulator over mTLS through the real sync path.
 */
const TODAY = '2025-03-12'; // a Wednesday
const YESTERDAY = addDays(TODAY, -1);

let t: TestDb;
let v: ValidationSim;
let first: string;

beforeAll(async () => {
  ({ t, v, first } = await startValidationDb({
    today: TODAY,
    accounts: 1,
    historyDays: 20,
    txPerDay: 10,
    quirks: { latePostings: false },
  }));
  await v.syncRange(v.accounts[0]!.id, first, YESTERDAY);
});

afterAll(() => stopValidationDb({ t, v }));

async function deleteBehindTheServicesBack(id: string) {
  await sql`delete from transaction_decisions where transaction_id = ${id} or related_transaction_id = ${id}`.execute(
    t.db,
  );
  await sql`delete from transaction_versions where transaction_id = ${id}`.execute(t.db);
  await sql`delete from transactions where id = ${id}`.execute(t.db);
}

const report = () =>
  createValidationReport(
    { db: t.db, now: v.now },
    { integrationId: v.tenancy.integrationId, from: first, to: YESTERDAY, requestedBy: 'test' },
  );

describe('balance proof: missing rows that net to zero', () => {
  it("a day missing a credit and a debit of the same amount is not proved (the bank's tally differs), and the re-fetch heals it", async () => {
    const a = v.accounts[0]!;
    expect((await report()).passed).toBe(true);
    // A payment and its reversal on one day: a credit and a debit of the same amount.
    const pair = await sql<{ day: string; credit: string; debit: string; amount: string }>`
      select c.booking_date::text as day, c.id as credit, d.id as debit, c.amount_minor::text as amount
      from transactions c join transactions d on d.account_id = c.account_id and d.booking_date = c.booking_date
        and d.amount_minor = c.amount_minor and d.direction = 'debit' and d.status = 'posted'
      where c.account_id = ${a.id} and c.direction = 'credit' and c.status = 'posted'
        and extract(isodow from c.booking_date) < 6
      order by c.booking_date, c.id limit 1`.execute(t.db);
    const p = pair.rows[0]!;
    expect(p).toBeDefined();
    await deleteBehindTheServicesBack(p.credit);
    await deleteBehindTheServicesBack(p.debit);

    const doc = await report();
    const day = doc.accounts[0]!.calendar.find((d) => d.day === p.day)!;
    expect(day).toMatchObject({ state: 'unproved', reason: 'differs_from_bank', differenceMinor: null });
    expect(day.explanation).toMatch(/differ from what the bank reported/);
    expect(doc.passed).toBe(false);
    expect(doc.reasons.join('\n')).toContain(`${p.day} (differs from bank)`);

    const summary = await healAccountDays({ db: t.db, refetch: v.syncRange, now: v.now }, { accountId: a.id });
    expect(summary.windows).toHaveLength(1);
    expect(summary.windows[0]).toMatchObject({ from: p.day, to: p.day, outcome: 'healed' });
    expect(summary.windows[0]!.diff.missing).toHaveLength(2);
    expect((await report()).passed).toBe(true);
  });
});
