import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importStatementFile } from '../../src/main/statement-import.ts';
import type { IsoDate } from '../../src/shared/time.ts';
import { accountDayView } from '../../src/simulator/index.ts';
import { renderCamt053 } from '../../src/simulator/statements.ts';
import { syncAccountWindow } from '../../src/sync/sync-account.ts';
import { onPostedDays } from '../../src/validation/index.ts';
import { createTestDb, type TestDb } from '../helpers/db.ts';
import { startValidationSim, type ValidationSim } from '../helpers/validation-sim.ts';

/**
 * A transaction the bank gives in another currency code or decimal location than its account's (one window of a long
 * range answering so, or one entry of a statement file in another currency): the account's balance proof counts in
 * its own currency and scale, so such a record is a reject naming both, never stored and summed as the account's; its
 * day is unproved as `rejected_record`. Through the real sync (simulator over mTLS) and the real statement import.
 */
const TODAY: IsoDate = '2026-11-20'; // a Friday
const EUR_DAY: IsoDate = '2026-11-17';
const SCALE_DAY: IsoDate = '2026-11-18';
const FILE_DAY: IsoDate = '2026-11-16';

let t: TestDb;
let v: ValidationSim;

beforeAll(async () => {
  t = await createTestDb();
  v = await startValidationSim(t.db, {
    today: TODAY,
    seed: 'foreign-currency',
    accounts: 2,
    historyDays: 10,
    txPerDay: 4,
    quirks: { latePostings: false },
  });
});

afterAll(async () => {
  await v.stop();
  await t.drop();
});

const stored = (accountId: string, day: IsoDate) =>
  t.db
    .selectFrom('transactions')
    .select(['currency', 'amount_minor'])
    .where('account_id', '=', accountId)
    .where('booking_date', '=', day)
    .execute();
const openRejects = (accountId: string, day: IsoDate) =>
  t.db
    .selectFrom('sync_rejects')
    .select(['record_type', 'reason', 'booking_date', 'fields'])
    .where('account_id', '=', accountId)
    .where('booking_date', '=', day)
    .where('resolved_at', 'is', null)
    .execute();
const proof = (accountId: string, day: IsoDate) =>
  t.db
    .selectFrom('account_days')
    .select(['state', 'reason'])
    .where('account_id', '=', accountId)
    .where('day', '=', day)
    .executeTakeFirst();

/** Syncs the day's transactions while the bank reports the account in `currency`, then its balances as usual. */
async function syncDayIn(account: ValidationSim['accounts'][number], day: IsoDate, currency: object) {
  const sim = v.sim.ledger.account(account.jpmAccountId)!;
  const own = sim.currency;
  sim.currency = { ...own, ...currency };
  try {
    await syncWindow(account.id, day, ['transactions']);
  } finally {
    sim.currency = own;
  }
  await syncWindow(account.id, day, ['balances']);
  await onPostedDays(t.db, account.id, [day], v.now());
}

async function syncWindow(accountId: string, day: IsoDate, kinds: ('transactions' | 'balances')[]) {
  await syncAccountWindow(v.syncDeps, { runId: null, accountId, mode: 'range', from: day, to: day, kinds });
}

describe('a transaction in another currency or scale than its account', () => {
  it('from the API, in another currency code: a reject naming both, not stored, its day unproved as rejected_record', async () => {
    const account = v.accounts[0]!;
    const other = account.currency === 'EUR' ? 'USD' : 'EUR';
    const bank = accountDayView(v.sim.ledger, v.sim.clock(), account.jpmAccountId, EUR_DAY).records;
    expect(bank.length).toBeGreaterThan(0);
    await syncDayIn(account, EUR_DAY, { code: other });
    expect(await stored(account.id, EUR_DAY)).toEqual([]);
    const rejects = await openRejects(account.id, EUR_DAY);
    expect(rejects).toHaveLength(bank.length);
    for (const r of rejects) {
      expect(r).toMatchObject({ record_type: 'transaction', fields: ['currency'] });
      expect(r.reason).toContain(
        `in ${other} with ${account.decimalLocation} decimal places, the account is in ${account.currency} with ${account.decimalLocation}`,
      );
    }
    expect(await proof(account.id, EUR_DAY)).toEqual({ state: 'unproved', reason: 'rejected_record' });
  });

  it('from the API, at another decimal location: a reject naming both, never summed at the wrong scale', async () => {
    const account = v.accounts[0]!;
    await syncDayIn(account, SCALE_DAY, { decimalLocation: account.decimalLocation + 1 });
    expect(await stored(account.id, SCALE_DAY)).toEqual([]);
    const rejects = await openRejects(account.id, SCALE_DAY);
    expect(rejects.length).toBeGreaterThan(0);
    const named = `in ${account.currency} with ${account.decimalLocation + 1} decimal places, the account is in ${account.currency} with ${account.decimalLocation}`;
    expect(rejects.filter((r) => !r.reason.includes(named))).toEqual([]);
    expect(await proof(account.id, SCALE_DAY)).toEqual({ state: 'unproved', reason: 'rejected_record' });
  });

  it('from a statement file, one entry in another currency: that entry a reject with its line, the rest stored', async () => {
    const account = v.accounts[1]!;
    const other = account.currency === 'EUR' ? 'USD' : 'EUR';
    const camt = renderCamt053(v.sim.ledger, {
      accountIds: [account.jpmAccountId],
      from: FILE_DAY,
      to: FILE_DAY,
      clock: v.sim.clock(),
    });
    const entry = `<Ntry><Amt Ccy="${account.currency}">`;
    expect(camt).toContain(entry);
    const file = camt.replace(entry, `<Ntry><Amt Ccy="${other}">`);
    const result = await importStatementFile(t.db, {
      accountId: account.id,
      text: file,
      trigger: 'manual',
      now: v.now,
    });
    expect(result.status).toBe('partial');
    const bank = accountDayView(v.sim.ledger, v.sim.clock(), account.jpmAccountId, FILE_DAY).records;
    const rows = await stored(account.id, FILE_DAY);
    expect(rows).toHaveLength(bank.length - 1);
    expect(rows.every((r) => r.currency === account.currency)).toBe(true);
    const rejects = await openRejects(account.id, FILE_DAY);
    expect(rejects).toEqual([
      {
        record_type: 'transaction',
        booking_date: FILE_DAY,
        fields: ['currency'],
        reason: expect.stringContaining(
          `in ${other} with 2 decimal places, the account is in ${account.currency} with ${account.decimalLocation}`,
        ) as string,
      },
    ]);
    await onPostedDays(t.db, account.id, [FILE_DAY], v.now());
    expect(await proof(account.id, FILE_DAY)).toEqual({ state: 'unproved', reason: 'rejected_record' });
  });
});
