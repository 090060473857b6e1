import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/shared/errors.ts';
import { createValidationReport } from '../../src/validation/index.ts';
import { createAccount, createTenancy, type Tenancy } from '../factories/tenancy.ts';
import { ingestWire, wireTransaction } from '../factories/transactions.ts';
import { createTestDb, type TestDb } from '../helpers/db.ts';

/**
 * The report's totals per currency are exact: amounts of accounts of one currency kept at different scales (an
 * account registered with its own decimal location) are added at the finest scale, never minor units of one
 * scale added to another's; currencies of scale 0, 2 and 3 side by side.
 */
const DAY = '2026-11-03'; // a Tuesday
const now = () => new Date('2026-11-05T17:00:00Z');

let t: TestDb;
let tenancy: Tenancy;

async function account(jpmAccountId: string, currency: string, decimalLocation: number, amounts: string[]) {
  const a = await createAccount(t.db, tenancy, { jpmAccountId, currency, decimalLocation });
  await ingestWire(
    t.db,
    { id: a.id, organizationId: tenancy.organizationId },
    amounts.map((amount, i) =>
      wireTransaction({
        transactionId: `${jpmAccountId}-${i}`,
        jpmAccountId,
        asOfDate: DAY,
        amount,
        currency,
        decimalLocation,
      }),
    ),
  );
}

beforeAll(async () => {
  t = await createTestDb();
  tenancy = await createTenancy(t.db);
  await account('000000001001', 'USD', 2, ['1.00', '0.05']); // 1.05 USD
  await account('000000001002', 'USD', 3, ['1.001']); // 1.001 USD
  await account('000000001003', 'JPY', 0, ['1500']);
  await account('000000001004', 'KWD', 3, ['0.250', '12.005']);
});

afterAll(async () => {
  await t.drop();
});

describe('validation report: totals per currency', () => {
  it('adds each currency at its finest scale, exactly', async () => {
    const doc = await createValidationReport(
      { db: t.db, now },
      { integrationId: tenancy.integrationId, from: DAY, to: DAY, requestedBy: 'test' },
    );
    expect(doc.totalsByCurrency).toEqual([
      { currency: 'JPY', decimalLocation: 0, creditsMinor: '1500', debitsMinor: '0', creditCount: 1, debitCount: 0 },
      { currency: 'KWD', decimalLocation: 3, creditsMinor: '12255', debitsMinor: '0', creditCount: 2, debitCount: 0 },
      // 1.05 + 1.001 = 2.051 USD.
      { currency: 'USD', decimalLocation: 3, creditsMinor: '2051', debitsMinor: '0', creditCount: 3, debitCount: 0 },
    ]);
  });
});

describe('validation report: its period', () => {
  it('refuses a period that starts after the last day whose final data can exist (nothing stored), naming from', async () => {
    const before = await t.db.selectFrom('validation_reports').select('id').execute();
    const err = await createValidationReport(
      { db: t.db, now },
      { integrationId: tenancy.integrationId, from: '2026-11-10', to: '2026-11-12', requestedBy: 'test' },
    ).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).message).toMatch(/2026-11-10 .*2026-11-04/);
    expect((err as ValidationError).fields).toEqual([{ path: 'from', message: 'must be 2026-11-04 or before' }]);
    expect(await t.db.selectFrom('validation_reports').select('id').execute()).toEqual(before);
  });

  it('ends a period reaching past the last closed day at that day, in the stored period too', async () => {
    const doc = await createValidationReport(
      { db: t.db, now },
      { integrationId: tenancy.integrationId, from: DAY, to: '2026-12-31', requestedBy: 'test' },
    );
    expect(doc.period).toMatchObject({ from: DAY, to: '2026-11-04' });
    const row = await t.db
      .selectFrom('validation_reports')
      .select('period_to')
      .where('id', '=', doc.id)
      .executeTakeFirstOrThrow();
    expect(row.period_to).toBe('2026-11-04');
  });
});
