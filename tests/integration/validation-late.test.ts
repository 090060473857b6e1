import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatMinorUnits, toMinorUnits } from '../../src/shared/money.ts';
import { addDays, diffDays } from '../../src/shared/time.ts';
import { createValidationReport, daysOwed, healAccountDays, recomputeAccountDays } from '../../src/validation/index.ts';
import { createTestDb, type TestDb } from '../helpers/db.ts';
import { startValidationSim, type ValidationSim } from '../helpers/validation-sim.ts';

/**
 * J.P. Morgan's late postings (every simulator quirk on): the final balances include an item that
 * history only returns from its reveal date, so its day is `broken` by exactly that item until then.
 * Healing is bounded and spaced: an attempt before the reveal leaves the day open, the next one is
 * not due until the retry interval passed, and the attempt after the reveal heals it, with the diff
 * naming the late item as missing and the re-issued ids as changed.
 */
const TODAY = '2025-03-12';

let t: TestDb;
let v: ValidationSim;
let lateAccountId = '';

beforeAll(async () => {
  t = await createTestDb();
  v = await startValidationSim(t.db, {
    today: TODAY,
    seed: 'validation-late',
    historyDays: 14,
    txPerDay: 8,
    accounts: 3,
  });
});

afterAll(async () => {
  await v.stop();
  await t.drop();
});

describe('late postings', () => {
  it('break their day until revealed; healing is bounded, spaced, and records the diff', async () => {
    const truth = v.sim.groundTruth();
    const lastClosed = addDays(TODAY, -1);
    const candidates = truth.accounts
      .flatMap((acc) => acc.unrevealed.map((late) => ({ acc, late })))
      .filter(({ late }) => diffDays(late.asOfDate, lastClosed) >= 0);
    expect(candidates.length, 'the simulator holds an unrevealed late posting on a closed day').toBeGreaterThan(0);
    const { acc, late } = candidates[0]!;
    const account = v.accounts.find((a) => a.jpmAccountId === acc.accountId)!;
    lateAccountId = account.id;
    await v.syncRange(account.id, truth.firstDate, lastClosed);
    await recomputeAccountDays(
      t.db,
      account.id,
      await daysOwed(t.db, account.id, truth.firstDate, lastClosed),
      v.now(),
    );

    const lateDays = new Set(
      acc.unrevealed.filter((u) => diffDays(u.asOfDate, lastClosed) >= 0).map((u) => u.asOfDate),
    );
    const rows = await t.db
      .selectFrom('account_days')
      .select(['day', 'state', 'difference_minor'])
      .where('account_id', '=', account.id)
      .orderBy('day')
      .execute();
    for (const r of rows) {
      expect(r.state, r.day).toBe(lateDays.has(r.day) ? 'broken' : 'proved');
    }
    // Exactly the late item, signed: a missing credit is owed to us (+), a missing debit (−).
    const signed = (u: typeof late) =>
      (u.debitCreditCode === 'CREDIT' ? 1n : -1n) * toMinorUnits(u.amount, account.decimalLocation);
    const expected = acc.unrevealed.filter((u) => u.asOfDate === late.asOfDate).reduce((s, u) => s + signed(u), 0n);
    expect(BigInt(rows.find((r) => r.day === late.asOfDate)!.difference_minor!)).toBe(expected);

    const options = { maxAttempts: 3, retryAfterMinutes: 60 };
    const deps = { db: t.db, refetch: v.syncRange, now: v.now, options };
    const early = await healAccountDays(deps, { accountId: account.id });
    expect(early.windows.length).toBeGreaterThan(0);
    expect(early.windows.every((w) => w.outcome === 'still_open')).toBe(true);
    expect(early.windows.flatMap((w) => w.days).find((d) => d.day === late.asOfDate)).toMatchObject({
      attempt: 1,
      before: 'broken',
      after: 'broken',
    });
    // Not due again until the retry interval has passed.
    expect((await healAccountDays(deps, { accountId: account.id })).windows).toEqual([]);
    // The report names the cause: we hold exactly what the bank reported, its balance moved by more.
    const report = await createValidationReport(
      { db: t.db, now: v.now },
      { integrationId: v.tenancy.integrationId, from: truth.firstDate, to: lastClosed, requestedBy: 'test' },
    );
    const lateDay = report.accounts
      .find((x) => x.accountId === account.id)!
      .calendar.find((d) => d.day === late.asOfDate)!;
    expect(lateDay).toMatchObject({ state: 'broken', reason: 'unreported_posting' });
    expect(lateDay.explanation).toBe(
      `Late posting not reported yet: the bank's balance moved by ${formatMinorUnits(expected, account.decimalLocation)} ${account.currency} more than the transactions it reported for the day (we hold exactly those). The day heals when the bank reports it. Re-fetched 1 time so far.`,
    );
    expect(report.reasons.join('\n')).toContain(
      `${late.asOfDate} off by ${formatMinorUnits(expected, account.decimalLocation)} ${account.currency} (unreported posting)`,
    );
    // The report judged every account's days; the next test starts from the other accounts' days unjudged.
    await t.db.deleteFrom('account_days').where('account_id', '!=', account.id).execute();

    // The bank's date moves past the reveal: the next attempt heals the day.
    v.setToday(late.revealDate);
    const healed = await healAccountDays(deps, { accountId: account.id });
    const w = healed.windows.find((x) => x.days.some((d) => d.day === late.asOfDate))!;
    expect(w.days.find((d) => d.day === late.asOfDate)).toMatchObject({
      attempt: 2,
      before: 'broken',
      after: 'proved',
    });
    expect(w.diff.missing).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          bookingDate: late.asOfDate,
          amountMinor: toMinorUnits(late.amount, account.decimalLocation).toString(),
        }),
      ]),
    );
    // After a reveal J.P. Morgan re-issues every prior-day id of the day: same rows, new ids.
    expect(w.diff.changed.length).toBeGreaterThan(0);
    expect(
      w.diff.changed.every((c) => c.fields.includes('jpmTransactionId') && !c.fields.includes('amountMinor')),
    ).toBe(true);
    const day = await t.db
      .selectFrom('account_days')
      .select(['state', 'heal_attempts'])
      .where('account_id', '=', account.id)
      .where('day', '=', late.asOfDate)
      .executeTakeFirstOrThrow();
    expect(day).toEqual({ state: 'proved', heal_attempts: 0 });
  });

  it("stops after the attempt budget and leaves days beyond J.P. Morgan's reach to a person", async () => {
    // An account nothing was fetched for: its day is unproved and every re-fetch fails.
    const account = v.accounts.find((a) => a.id !== lateAccountId)!;
    const day = '2025-03-03';
    const deps = {
      db: t.db,
      refetch: () => Promise.reject(new Error('GCA-024 no balance')),
      now: v.now,
      options: { maxAttempts: 1, retryAfterMinutes: 0 },
    };
    await recomputeAccountDays(t.db, account.id, [day], v.now());
    const once = await healAccountDays(deps, { accountId: account.id });
    expect(once.windows.map((w) => [w.outcome, w.error])).toEqual([['refetch_failed', 'GCA-024 no balance']]);
    const again = await healAccountDays(deps, { accountId: account.id });
    expect(again).toMatchObject({ windows: [], exhausted: 1, outOfReach: 0 });
    const far = await healAccountDays(
      { ...deps, options: { maxAttempts: 5, retryAfterMinutes: 0, reachDays: 2 } },
      { accountId: account.id },
    );
    expect(far).toMatchObject({ windows: [], outOfReach: 1 });
  });
});
