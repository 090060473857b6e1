import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addDays } from '../../src/shared/time.ts';
import { insertRejects } from '../../src/storage/transactions.repo.ts';
import { createValidationReport } from '../../src/validation/index.ts';
import { createTestDb, type TestDb } from '../helpers/db.ts';
import { startValidationSim, type ValidationSim } from '../helpers/validation-sim.ts';

/**
 * A validation report never passes while a record the bank sent for its period is an open reject:
 * whatever day the record names (a weekend, a bank holiday) or when its date could not be read at all.
 * Data through the real sync path from the simulator over mTLS; the rejects as ingestion stores them.
 */
const TODAY = '2026-11-20'; // a Friday
const FROM = '2026-11-09'; // a Monday
const TO = addDays(TODAY, -1);
const SATURDAY = '2026-11-14';

let t: TestDb;
let v: ValidationSim;

beforeAll(async () => {
  t = await createTestDb();
  v = await startValidationSim(t.db, {
    today: TODAY,
    seed: 'report-rejects',
    accounts: 1,
    historyDays: 16,
    txPerDay: 6,
    quirks: { latePostings: false },
  });
  await v.syncRange(v.accounts[0]!.id, FROM, TO);
});

afterAll(async () => {
  await v.stop();
  await t.drop();
});

const report = () =>
  createValidationReport(
    { db: t.db, now: v.now },
    { integrationId: v.tenancy.integrationId, from: FROM, to: TO, requestedBy: 'test' },
  );

async function reject(bookingDate: string | null, recordClass: string | null, id: string) {
  const a = v.accounts[0]!;
  const raw = { transactionId: id, asOfDate: bookingDate ?? '2026-11-31', amount: null, postCode: recordClass };
  await insertRejects(t.db, [
    {
      organization_id: v.tenancy.organizationId,
      account_id: a.id,
      sync_run_id: null,
      record_type: 'transaction',
      reason: 'amount: expected string, got null',
      raw,
      record_hash: `hash-${id}`,
      record_index: 0,
      jpm_transaction_id: id,
      booking_date: bookingDate,
      record_class: recordClass,
      fields: ['amount'],
    },
  ]);
}

async function resolveAll() {
  await t.db
    .updateTable('sync_rejects')
    .set({ resolved_at: new Date().toISOString(), resolution: 'stored' })
    .where('resolved_at', 'is', null)
    .execute();
}

describe('validation report: open rejects', () => {
  it('passes on clean data (the baseline the other cases change)', async () => {
    const doc = await report();
    expect(doc.reasons).toEqual([]);
    expect(doc.passed).toBe(true);
  });

  it('fails while a posted record of a weekend day is an open reject, naming the day, and passes once it is resolved', async () => {
    await reject(SATURDAY, 'P', 'WEEKEND-1');
    const doc = await report();
    expect(doc.passed).toBe(false);
    const day = doc.accounts[0]!.calendar.find((d) => d.day === SATURDAY);
    expect(day).toMatchObject({ state: 'unproved', reason: 'rejected_record' });
    expect(doc.reasons.join('\n')).toContain(`${SATURDAY} (rejected record)`);
    await resolveAll();
    expect((await report()).passed).toBe(true);
  });

  it('fails while a posted record whose date could not be read is an open reject, and passes once it is resolved', async () => {
    await reject(null, 'P', 'UNDATED-1');
    const doc = await report();
    expect(doc.passed).toBe(false);
    expect(doc.accounts[0]).toMatchObject({ undatedRejects: 1 });
    expect(doc.reasons).toEqual([
      expect.stringMatching(/: 1 rejected record\(s\) with no readable booking date still open/),
    ]);
    await resolveAll();
    const after = await report();
    expect(after.passed).toBe(true);
    expect(after.accounts[0]!.undatedRejects).toBeUndefined();
  });

  it('a rejected intraday (pending) record of a weekend blocks nothing: the proof counts posted items only', async () => {
    await reject(SATURDAY, 'I', 'WEEKEND-I');
    const doc = await report();
    expect(doc.reasons).toEqual([]);
    expect(doc.accounts[0]!.calendar.some((d) => d.day === SATURDAY)).toBe(false);
    await resolveAll();
  });
});
