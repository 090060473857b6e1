import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toMinorUnits } from '../../src/shared/money.ts';
import { addDays, eachDay, isWeekend } from '../../src/shared/time.ts';
import {
  daysOwed,
  detectDuplicateSuspicions,
  healAccountDays,
  recomputeAccountDays,
  refreshAccountDayMetrics,
  reviewSuspicion,
} from '../../src/validation/index.ts';
import { createTestDb, type TestDb } from '../helpers/db.ts';
import { startValidationSim, type ValidationSim } from '../helpers/validation-sim.ts';

/**
 * Balance proof, self-healing and duplicate suspicion on data that went through the real sync path
 * from the J.P. Morgan simulator over mTLS. Late postings are off here (validation-late.test.ts
 * covers them); every other quirk of the bank's data is on.
 */
const TODAY = '2025-03-12'; // a Wednesday
const YESTERDAY = addDays(TODAY, -1);

let t: TestDb;
let v: ValidationSim;
let first: string;

async function days(accountId: string) {
  return t.db
    .selectFrom('account_days')
    .select([
      'day',
      'state',
      'difference_minor',
      'reason',
      'credits_minor',
      'debits_minor',
      'credit_count',
      'debit_count',
      'heal_attempts',
    ])
    .where('account_id', '=', accountId)
    .orderBy('day')
    .execute();
}

async function prove(accountId: string) {
  return recomputeAccountDays(t.db, accountId, await daysOwed(t.db, accountId, first, YESTERDAY), v.now());
}

async function deleteBehindTheServicesBack(id: string) {
  await sql`delete from transaction_decisions where transaction_id = ${id} or related_transaction_id = ${id}`.execute(
    t.db,
  );
  await sql`delete from transaction_versions where transaction_id = ${id}`.execute(t.db);
  await sql`delete from transactions where id = ${id}`.execute(t.db);
}

beforeAll(async () => {
  t = await createTestDb();
  v = await startValidationSim(t.db, { today: TODAY, historyDays: 20, txPerDay: 10, quirks: { latePostings: false } });
  first = v.sim.groundTruth().firstDate;
  // Account 0: a full backfill. Account 1: balances only (its transactions were never fetched).
  await v.syncRange(v.accounts[0]!.id, first, YESTERDAY);
  await v.syncAccountBalancesOnly(v.accounts[1]!.id, first, YESTERDAY);
});

afterAll(async () => {
  await v.stop();
  await t.drop();
});

describe('balance proof', () => {
  it("a clean backfill proves every business day, with the bank's own totals", async () => {
    const a = v.accounts[0]!;
    await prove(a.id);
    const rows = await days(a.id);
    const business = eachDay(first, YESTERDAY).filter((d) => !isWeekend(d));
    expect(rows.map((r) => r.day)).toEqual(business);
    expect(rows.filter((r) => r.state !== 'proved')).toEqual([]);
    // Independent oracle: the simulator's ground truth, summed from its decimal text.
    const truth = v.sim.groundTruth().accounts.find((x) => x.accountId === a.jpmAccountId)!;
    for (const r of rows) {
      const items = truth.transactions.filter((x) => x.asOfDate === r.day);
      const sum = (dir: string) =>
        items
          .filter((x) => x.debitCreditCode === dir)
          .reduce((s, x) => s + toMinorUnits(x.amount, a.decimalLocation), 0n);
      expect(BigInt(r.credits_minor)).toBe(sum('CREDIT'));
      expect(BigInt(r.debits_minor)).toBe(sum('DEBIT'));
      expect(r.credit_count + r.debit_count).toBe(items.length);
    }
    // Recomputing unchanged data rewrites nothing.
    expect(await prove(a.id)).toEqual([]);
  });

  it("a transaction deleted behind the service's back breaks its day by exactly its amount, and the re-fetch heals it", async () => {
    const a = v.accounts[0]!;
    const day = '2025-03-05';
    const victim = await t.db
      .selectFrom('transactions')
      .select(['id', 'jpm_transaction_id', 'amount_minor', 'direction'])
      .where('account_id', '=', a.id)
      .where('booking_date', '=', day)
      .where('status', '=', 'posted')
      .where('direction', '=', 'credit')
      .orderBy('amount_minor', 'desc')
      .executeTakeFirstOrThrow();
    await deleteBehindTheServicesBack(victim.id);
    const changes = await recomputeAccountDays(t.db, a.id, [day], v.now());
    expect(changes).toEqual([{ day, state: 'broken', previousState: 'proved' }]);
    const broken = (await days(a.id)).find((r) => r.day === day)!;
    // A missing credit: the bank's closing is higher than ours by exactly that credit.
    expect(BigInt(broken.difference_minor!)).toBe(BigInt(victim.amount_minor));

    const summary = await healAccountDays({ db: t.db, refetch: v.syncRange, now: v.now }, { accountId: a.id });
    expect(summary.windows).toHaveLength(1);
    const w = summary.windows[0]!;
    expect(w).toMatchObject({
      from: day,
      to: day,
      outcome: 'healed',
      days: [{ day, attempt: 1, before: 'broken', after: 'proved' }],
    });
    expect(w.diff.missing).toEqual([
      expect.objectContaining({
        jpmTransactionId: victim.jpm_transaction_id,
        amountMinor: String(victim.amount_minor),
        direction: 'credit',
        bookingDate: day,
      }),
    ]);
    expect(w.diff.extra).toEqual([]);
    expect(w.diff.changed).toEqual([]);
    const healed = (await days(a.id)).find((r) => r.day === day)!;
    expect(healed).toMatchObject({ state: 'proved', difference_minor: null, heal_attempts: 0 });
    const stored = await t.db
      .selectFrom('account_day_heals')
      .select(['outcome', 'diff', 'states_before', 'states_after'])
      .where('id', '=', w.healId)
      .executeTakeFirstOrThrow();
    expect(stored).toMatchObject({
      outcome: 'healed',
      states_before: { [day]: 'broken' },
      states_after: { [day]: 'proved' },
    });
    expect((stored.diff as { missing: unknown[] }).missing).toHaveLength(1);
  });

  it('a day without its final balance is unproved, and a refetch restores it', async () => {
    const a = v.accounts[0]!;
    const day = '2025-03-06';
    await t.db
      .deleteFrom('balances')
      .where('account_id', '=', a.id)
      .where('as_of_date', '=', day)
      .where('kind', '=', 'final')
      .execute();
    await recomputeAccountDays(t.db, a.id, [day], v.now());
    expect((await days(a.id)).find((r) => r.day === day)).toMatchObject({
      state: 'unproved',
      reason: 'no_final_balance',
      difference_minor: null,
    });
    const summary = await healAccountDays({ db: t.db, refetch: v.syncRange, now: v.now }, { accountId: a.id });
    expect(summary.windows.map((w) => w.outcome)).toEqual(['healed']);
  });

  it('days whose transactions were never fetched are unproved, then healed by one windowed re-fetch', async () => {
    const b = v.accounts[1]!;
    await prove(b.id);
    const before = await days(b.id);
    expect(before.length).toBeGreaterThan(10);
    expect(new Set(before.map((r) => `${r.state}:${r.reason}`))).toEqual(
      new Set(['unproved:transactions_not_fetched']),
    );
    const summary = await healAccountDays(
      { db: t.db, refetch: v.syncRange, now: v.now, options: { maxGapDays: 5, maxWindowDays: 31 } },
      { accountId: b.id },
    );
    expect(summary.windows).toHaveLength(1);
    expect(summary.windows[0]).toMatchObject({ from: before[0]!.day, to: before.at(-1)!.day, outcome: 'healed' });
    expect(summary.windows[0]!.diff.missing.length).toBeGreaterThan(before.length);
    expect((await days(b.id)).every((r) => r.state === 'proved')).toBe(true);
    expect(await refreshAccountDayMetrics(t.db)).toMatchObject({ broken: 0, unproved: 0 });
  });
});

describe('duplicate suspicion', () => {
  async function identicalGroup(accountId: string) {
    const r = await sql<{ booking_date: string; fp: string; n: number }>`
      select booking_date::text, split_part(fingerprint_key, ':', 2) as fp, count(*)::int as n from transactions
      where account_id = ${accountId} and status = 'posted' group by 1, 2 having count(*) = 3 order by 1 limit 1`.execute(
      t.db,
    );
    return r.rows[0];
  }

  it('three legitimately identical fees are not suspected; a second copy of one item under another id is', async () => {
    const a = v.accounts[0]!;
    const fees = await identicalGroup(a.id);
    expect(fees, 'the simulator produced a day with three identical fees').toBeDefined();
    const fetched = await t.db
      .selectFrom('bank_day_fetches')
      .select('repeated_fingerprints')
      .where('account_id', '=', a.id)
      .where('booking_date', '=', fees!.booking_date)
      .executeTakeFirstOrThrow();
    expect(fetched.repeated_fingerprints).toMatchObject({ [fees!.fp]: 3 });
    expect(await detectDuplicateSuspicions(t.db, a.id, first, YESTERDAY, v.now())).toEqual({ active: 0, cleared: 0 });

    // The same wire transfer stored twice under two J.P. Morgan ids (as a bank-side id change could do).
    const day = '2025-03-07';
    const original = await t.db
      .selectFrom('transactions')
      .select(['id', 'amount_minor', 'direction'])
      .where('account_id', '=', a.id)
      .where('booking_date', '=', day)
      .where('status', '=', 'posted')
      .where('direction', '=', 'credit')
      .orderBy('amount_minor', 'desc')
      .executeTakeFirstOrThrow();
    const copyId = '01900000-0000-7000-8000-000000000001';
    await sql`
      insert into transactions (id, organization_id, account_id, status, direction, amount_minor, currency, decimal_location, booking_date,
        value_date, bai_type_code, bai_summary_code, bank_reference, customer_reference, description, jpm_transaction_id, post_code,
        fingerprint_key, content_hash, raw)
      select ${copyId}::uuid, organization_id, account_id, status, direction, amount_minor, currency, decimal_location, booking_date,
        value_date, bai_type_code, bai_summary_code, bank_reference, customer_reference, description, 'TXN-P-DUPLICATE-1', post_code,
        fingerprint_key, content_hash, raw
      from transactions where id = ${original.id}`.execute(t.db);

    expect(await detectDuplicateSuspicions(t.db, a.id, first, YESTERDAY, v.now())).toEqual({ active: 1, cleared: 0 });
    const s = await t.db
      .selectFrom('duplicate_suspicions')
      .selectAll()
      .where('account_id', '=', a.id)
      .executeTakeFirstOrThrow();
    expect(s).toMatchObject({
      booking_date: day,
      live_count: 2,
      bank_count: 1,
      status: 'open',
      active: true,
      direction: 'credit',
      amount_minor: original.amount_minor,
    });
    expect([...s.transaction_ids].sort()).toEqual([original.id, copyId].sort());
    expect(s.evidence).toMatchObject({ bankCountSource: 'latest_posted_fetch' });
    // Nothing merged: both rows are still live, and the day's proof shows the extra credit.
    expect(
      await t.db
        .selectFrom('transactions')
        .select('id')
        .where('id', 'in', [original.id, copyId])
        .where('status', '=', 'posted')
        .execute(),
    ).toHaveLength(2);
    await recomputeAccountDays(t.db, a.id, [day], v.now());
    expect(BigInt((await days(a.id)).find((r) => r.day === day)!.difference_minor!)).toBe(
      -BigInt(original.amount_minor),
    );

    // A person's review is recorded; running detection again keeps it.
    await reviewSuspicion(
      t.db,
      s.id,
      { status: 'confirmed_duplicate', reviewedBy: 'controller@acme.example', note: 'same wire twice' },
      v.now(),
    );
    await detectDuplicateSuspicions(t.db, a.id, first, YESTERDAY, v.now());
    expect(
      await t.db
        .selectFrom('duplicate_suspicions')
        .select(['status', 'reviewed_by', 'review_note'])
        .where('id', '=', s.id)
        .executeTakeFirstOrThrow(),
    ).toEqual({
      status: 'confirmed_duplicate',
      reviewed_by: 'controller@acme.example',
      review_note: 'same wire twice',
    });

    // Without the bank's fetch record, occurrence numbers still tell the two cases apart.
    await t.db
      .deleteFrom('bank_day_fetches')
      .where('account_id', '=', a.id)
      .where('booking_date', 'in', [day, fees!.booking_date])
      .execute();
    expect(await detectDuplicateSuspicions(t.db, a.id, first, YESTERDAY, v.now())).toEqual({ active: 1, cleared: 0 });
    expect(
      await t.db
        .selectFrom('duplicate_suspicions')
        .select(['evidence'])
        .where('id', '=', s.id)
        .executeTakeFirstOrThrow(),
    ).toMatchObject({ evidence: { bankCountSource: 'occurrence_numbers' } });

    // The extra row goes away (a person removed it): the suspicion stops being active, its record stays.
    await deleteBehindTheServicesBack(copyId);
    expect(await detectDuplicateSuspicions(t.db, a.id, first, YESTERDAY, v.now())).toEqual({ active: 0, cleared: 1 });
  });
});
