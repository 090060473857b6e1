import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validationRefetch, withValidationHook } from '../../src/main/validation-wiring.ts';
import { addDays, diffDays } from '../../src/shared/time.ts';
import { syncAccountWindow } from '../../src/sync/sync-account.ts';
import { refreshAccountDayMetrics, validateRecentDays } from '../../src/validation/index.ts';
import { metricsRegistry } from '../../src/shared/metrics.ts';
import { createTestDb, type TestDb } from '../helpers/db.ts';
import { startValidationSim, type ValidationSim } from '../helpers/validation-sim.ts';

/**
 * The wiring the running service uses: sync's posted-days hook recomputes proofs as data arrives
 * (no explicit recompute call), and the worker's daily sweep heals what is open through a recorded
 * `validation` sync run. Data from the simulator with every quirk on (late postings included).
 */
const TODAY = '2025-03-12';

let t: TestDb;
let v: ValidationSim;

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

describe('continuous validation wiring', () => {
  it('proofs follow the data as sync stores it; the daily sweep heals late days through a recorded validation run', async () => {
    const truth = v.sim.groundTruth();
    const lastClosed = addDays(TODAY, -1);
    const acc = truth.accounts.find((a) => a.unrevealed.some((u) => diffDays(u.asOfDate, lastClosed) >= 0))!;
    const account = v.accounts.find((a) => a.jpmAccountId === acc.accountId)!;
    const sync = withValidationHook(v.syncDeps);
    // A backfill through sync only: the hook computes every day's proof as its window lands.
    await syncAccountWindow(sync, {
      runId: null,
      accountId: account.id,
      mode: 'range',
      from: truth.firstDate,
      to: lastClosed,
      kinds: ['transactions', 'balances'],
    });
    const lateDays = [
      ...new Set(acc.unrevealed.filter((u) => diffDays(u.asOfDate, lastClosed) >= 0).map((u) => u.asOfDate)),
    ].sort();
    const broken = await t.db
      .selectFrom('account_days')
      .select('day')
      .where('account_id', '=', account.id)
      .where('state', '=', 'broken')
      .orderBy('day')
      .execute();
    expect(broken.map((r) => r.day)).toEqual(lateDays);
    expect(
      await t.db
        .selectFrom('account_days')
        .select('day')
        .where('account_id', '=', account.id)
        .where('state', '=', 'proved')
        .execute(),
    ).not.toHaveLength(0);

    // After every reveal date, the sweep heals them all.
    const lastReveal = acc.unrevealed
      .map((u) => u.revealDate)
      .sort()
      .at(-1)!;
    v.setToday(lastReveal);
    const result = await validateRecentDays({
      db: t.db,
      refetch: validationRefetch(t.db, sync),
      now: v.now,
      heal: { retryAfterMinutes: 0 },
    });
    expect(result).toMatchObject({ accounts: 1, failedAccounts: [] });
    // Newly closed days may carry late postings of their own (still open); the old ones are healed.
    expect(result.healedWindows + result.stillOpenWindows).toBeGreaterThan(0);
    const heals = await t.db
      .selectFrom('account_day_heals')
      .select(['states_before', 'states_after'])
      .where('account_id', '=', account.id)
      .execute();
    for (const day of lateDays) {
      expect(
        heals.some(
          (h) =>
            (h.states_before as Record<string, string>)[day] === 'broken' &&
            (h.states_after as Record<string, string>)[day] === 'proved',
        ),
        day,
      ).toBe(true);
    }
    const open = await t.db
      .selectFrom('account_days')
      .select(['day', 'state', 'reason'])
      .where('account_id', '=', account.id)
      .where('state', '<>', 'proved')
      .where('day', '<=', lateDays.at(-1)!)
      .execute();
    expect(open).toEqual([]);
    const runs = await t.db
      .selectFrom('sync_runs')
      .select(['trigger', 'mode', 'status', 'window_from', 'window_to'])
      .where('account_id', '=', account.id)
      .execute();
    expect(runs.length).toBeGreaterThan(0);
    expect(runs.every((r) => r.trigger === 'validation' && r.mode === 'range' && r.status === 'succeeded')).toBe(true);

    const counts = await refreshAccountDayMetrics(t.db);
    const text = await metricsRegistry.getSingleMetricAsString('jpm_account_days');
    expect(text).toContain(`jpm_account_days{state="proved"} ${counts.proved}`);
    expect(text).toContain('jpm_account_days{state="broken"}');
  });
});
