import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IsoDate } from '../../src/shared/time.ts';
import { isQuietDay } from '../../src/simulator/day.ts';
import { NO_QUIRKS } from '../../src/simulator/quirks.ts';
import { createSyncRun, getSyncRun } from '../../src/storage/sync-runs.repo.ts';
import { onPostedDays } from '../../src/validation/index.ts';
import { createTestDb, type TestDb } from '../helpers/db.ts';
import { startSimBank, type SimBank } from '../helpers/sim-bank.ts';

/**
 * The simulator's `quietDays` quirk (stranger than the bank): a business day on which an account has balances and no
 * transaction at all, the transactions never mentioning it. It is the bank's business day, not a holiday: stored as
 * fetched with nothing (`unexpectedly_empty`, the run warns `fetched_nothing`, as the account normally has activity),
 * its live set empty, its final balance stored to the minor unit (3 and 0 decimals) and proved with opening = closing.
 * Over real mTLS, into real Postgres.
 */
const QUIRKS = { ...NO_QUIRKS, quietDays: true };
const SEED = 'quiet-day';

describe('a business day the transactions never mention', () => {
  let t: TestDb;
  let env: SimBank;

  beforeAll(async () => {
    t = await createTestDb();
    env = await startSimBank(t.db, {
      today: '2026-11-02',
      historyDays: 30,
      txPerDay: 8,
      accounts: [{ currency: 'KWD' }, { currency: 'JPY' }],
      quirks: QUIRKS,
      seed: SEED,
    });
    env.deps.onPostedDays = (accountId, dates) => onPostedDays(t.db, accountId, dates, env.deps.now());
  });
  afterAll(async () => {
    await env.stop();
    await t.drop();
  });

  it.each([0, 1])('account %i: a fetched empty business day with a proved balance, never a holiday', async (index) => {
    const account = env.accounts[index]!;
    const calendar = env.sim.calendar;
    let quiet: IsoDate = '2026-11-02';
    while (!isQuietDay(SEED, account.jpmAccountId, quiet, QUIRKS) || !calendar.isBusinessDay(quiet)) {
      quiet = calendar.nextBusinessDay(quiet);
    }
    const next = calendar.nextBusinessDay(quiet);
    env.setToday(next, 0.5);
    const runId = await createSyncRun(t.db, {
      organizationId: env.tenancy.organizationId,
      integrationId: env.tenancy.integrationId,
      accountId: account.id,
      trigger: 'manual',
      mode: 'prior_day',
    });
    await env.sync(account.id, { mode: 'prior_day', runId });

    const view = env.sim.view(account.jpmAccountId, quiet);
    expect(view.state).toBe('closed');
    expect(view.records).toEqual([]);
    const { rows } = await sql<{ n: string }>`
      select count(*)::text as n from transactions where account_id = ${account.id} and booking_date = ${quiet}`.execute(
      t.db,
    );
    expect(rows[0]!.n).toBe('0');
    const fetched = await t.db
      .selectFrom('bank_day_fetches')
      .select(['state', 'record_count'])
      .where('account_id', '=', account.id)
      .where('booking_date', '=', quiet)
      .executeTakeFirstOrThrow();
    expect(fetched).toEqual({ state: 'unexpectedly_empty', record_count: 0 });
    expect((await getSyncRun(t.db, runId))?.warnings).toEqual([
      expect.objectContaining({ code: 'fetched_nothing', dates: [quiet] }),
    ]);
    const proof = await t.db
      .selectFrom('account_days')
      .select(['state', 'opening_ledger_minor', 'closing_ledger_minor', 'decimal_location'])
      .where('account_id', '=', account.id)
      .where('day', '=', quiet)
      .executeTakeFirstOrThrow();
    expect({ ...proof, opening_ledger_minor: String(proof.opening_ledger_minor) }).toEqual({
      state: 'proved',
      opening_ledger_minor: view.final!.openingLedgerMinor,
      closing_ledger_minor: view.final!.endingLedgerMinor,
      decimal_location: account.decimalLocation,
    });
    expect(view.final!.openingLedgerMinor).toBe(view.final!.endingLedgerMinor);
  });
});
