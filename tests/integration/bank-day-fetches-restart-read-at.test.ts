import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NO_QUIRKS } from '../../src/simulator/index.ts';
import { addDays } from '../../src/shared/time.ts';
import { syncAccountWindow } from '../../src/sync/sync-account.ts';
import { startHarness, type Harness } from '../helpers/orchestration.ts';

/**
 * `bank_day_fetches.read_at` dates a day's counts by when the walk that produced them began reading the bank: of two
 * overlapping readings the later one wins. A walk the client restarted (its pages did not add up: the simulator's
 * `short-page` fault, over real mTLS) gives the day's counts from its restarted walk, which began reading after every
 * page of the abandoned one was answered, so the reading must be dated no earlier than that; dated by the start of
 * the whole sync, it would lose to an overlapping reading that the restarted walk read after.
 */
const TODAY = '2025-03-12';
const FROM = addDays(TODAY, -8);
const TO = addDays(TODAY, -6);

let h: Harness;

beforeAll(async () => {
  h = await startHarness({
    today: TODAY,
    accounts: 1,
    quirks: NO_QUIRKS,
    txPerDay: 4,
    defaultPageSize: 2,
    recordRequests: true,
  });
});

afterAll(async () => {
  await h.stop();
});

describe('a restarted posted walk', () => {
  it("dates the day's counts by the restarted walk, not by the sync's start", async () => {
    const a = h.accounts[0]!;
    h.sim.injectFaults([{ kind: 'short-page', path: '/tsapi/v3/transactions', count: 1 }]);
    await syncAccountWindow(h.syncDeps(h.bankWith()), {
      runId: null,
      accountId: a.id,
      mode: 'range',
      from: FROM,
      to: TO,
      kinds: ['transactions'],
    });
    expect(h.sim.activeFaults()).toEqual([]);
    const pages = h.sim.requestLog().filter((r) => r.path === '/tsapi/v3/transactions');
    const firstPages = pages.flatMap((r, i) => (new URLSearchParams(r.query).get('pageNumber') === '1' ? [i] : []));
    // Two walks: the abandoned one and the restart.
    expect(firstPages).toHaveLength(2);
    const abandonedLast = pages[firstPages[1]! - 1]!;
    const rows = await h.t.db
      .selectFrom('bank_day_fetches')
      .select(['booking_date', 'read_at', 'record_count'])
      .where('account_id', '=', a.id)
      .orderBy('booking_date')
      .execute();
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.reduce((n, r) => n + r.record_count, 0)).toBeGreaterThan(0);
    for (const r of rows) {
      // Postgres and the simulator read the same machine clock; the restarted walk began after this answer.
      expect(new Date(r.read_at!).getTime(), String(r.booking_date)).toBeGreaterThanOrEqual(abandonedLast.at);
    }
  });
});
