import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { triggerSync } from '../../src/scheduler/index.ts';
import { addDays } from '../../src/shared/time.ts';
import { chaos, sleep } from './support/chaos.ts';
import { startChaosEnv, type ChaosChild, type ChaosEnv } from './support/harness.ts';
import { scanLogs } from './support/logs.ts';
import { compareWithTruth, duplicateKeys, windowsOf } from './support/truth.ts';
import { waitForAllRuns } from './support/runs.ts';

/**
 * Crash safety: a 60-day backfill of four accounts while worker processes are SIGKILLed at seeded
 * random moments (at least 20 kills), each replaced at once. BullMQ's stall check hands a dead
 * worker's window to another worker, which runs it again from the start; one page = one transaction
 * and natural-key upserts must make that neither duplicate nor lose anything. At the end the database
 * equals the simulator's ground truth to the minor unit.
 */
const TODAY = '2025-03-12';
const FROM = addDays(TODAY, -60);
const TO = addDays(TODAY, -1);
const c = chaos('crash');
let env: ChaosEnv;

beforeAll(async () => {
  env = await startChaosEnv({ name: 'crash', today: TODAY, accounts: 4, historyDays: 62, txPerDay: 8 });
});

afterAll(async () => {
  await env.stop();
  c.flush();
});

describe('workers SIGKILLed during a backfill', () => {
  it('lose nothing and duplicate nothing after at least 20 kills', async () => {
    const minKills = 20 + c.rng.int(0, 5);
    const live: ChaosChild[] = [];
    // A slow bank (each page takes most of a second) keeps windows in flight for the kills to hit.
    const spawn = async () => live.push(await env.spawnWorker({ pageDelayMs: 500 + c.rng.int(0, 400) }));
    await Promise.all([spawn(), spawn()]);

    const runIds: string[] = [];
    for (const a of env.accounts) {
      const { runs } = await triggerSync(env.producer(), {
        accountId: a.id,
        request: { mode: 'range', from: FROM, to: TO },
        trigger: 'backfill',
      });
      runIds.push(runs[0]!.runId);
    }

    // Kill a random worker at a random moment, replace it, repeat; keep going until the minimum is
    // reached even if the backfill is over by then (a dead worker must never take data with it).
    let kills = 0;
    const deadline = Date.now() + 150_000;
    while (kills < minKills && Date.now() < deadline) {
      await sleep(250 + c.rng.int(0, 1_250));
      // At a random moment while work is in flight (once the backfill is over, any moment).
      await waitForWorkInFlight(3_000);
      const victim = live.splice(c.rng.int(0, live.length - 1), 1)[0]!;
      victim.proc.kill('SIGKILL');
      await victim.exited;
      kills++;
      await spawn();
    }
    expect(kills).toBeGreaterThanOrEqual(minKills);
    c.count('kills', kills);

    // The survivors finish the work (stalled windows come back after their lock expires).
    await waitForAllRuns(env.t.db, c, 120_000);
    for (const child of live) {
      child.proc.kill('SIGTERM');
      await child.exited;
    }

    const runs = await env.t.db
      .selectFrom('sync_runs')
      .select(['id', 'status', 'error_code', 'windows_done', 'windows_total'])
      .where('id', 'in', runIds)
      .execute();
    c.count('runsChecked', runs.length);
    const windows = await windowsOf(env.t.db, runIds);
    // The kills hit work in flight: windows had to run again after their worker died. How many depends on
    // where the seeded kill moments fall against the backfill (3 to 12 of 56 seen), so the floor is one.
    const rerun = windows.filter((w) => w.attempts > 1).length;
    console.log(
      `[chaos] crash: ${kills} kills, ${rerun} of ${windows.length} windows ran again after a kill, ${env.childLogs.length} worker log lines`,
    );
    expect(rerun).toBeGreaterThanOrEqual(1);
    // A window BullMQ gave up on after repeated stalls (maxStalledCount) is reported, never counted as done.
    const givenUp = windows.filter((w) => w.status !== 'succeeded');
    for (const w of givenUp) {
      expect(w.status).toBe('failed');
      expect(w.error_code).toBeTruthy();
    }
    for (const r of runs) {
      const mine = windows.filter((w) => w.parent_run_id === r.id);
      expect(r.windows_done).toBe(r.windows_total);
      expect(r.status).toBe(mine.every((w) => w.status === 'succeeded') ? 'succeeded' : 'partial');
    }
    // Every window that says succeeded holds exactly the bank's data for its days.
    const claimed = await compareWithTruth(
      env.t.db,
      env.sim,
      windows
        .filter((w) => w.status === 'succeeded')
        .map((w) => ({
          ...scopeOf(w.account_id!),
          from: w.window_from!,
          to: w.window_to!,
          kinds: w.kind === 'all' ? undefined : [w.kind as 'transactions' | 'balances'],
        })),
    );
    expect(claimed.problems).toEqual([]);

    // An operator re-runs what was given up (no kills now); then the whole range must be exact.
    c.count('stallGiveUps', givenUp.length);
    if (givenUp.length > 0) {
      console.log(
        `[chaos] crash: ${givenUp.length} window(s) given up after repeated stalls; re-running their accounts`,
      );
      const w = env.startWorker(env.bank());
      for (const r of runs.filter((x) => x.status !== 'succeeded')) {
        const accountId = windows.find((x) => x.parent_run_id === r.id)!.account_id!;
        await triggerSync(env.producer(), {
          accountId,
          request: { mode: 'range', from: FROM, to: TO },
          trigger: 'manual',
        });
      }
      await waitForAllRuns(env.t.db, c, 60_000);
      await w.close();
    }

    const result = await compareWithTruth(
      env.t.db,
      env.sim,
      env.accounts.map((a) => ({ ...scopeOf(a.id), from: FROM, to: TO })),
    );
    c.count('rowsCompared', result.rowsCompared);
    c.count('duplicates', result.duplicates + (await duplicateKeys(env.t.db)));
    c.count('missing', result.missing);
    c.count('mismatched', result.mismatched);
    expect(result.problems).toEqual([]);
    expect(result.rowsCompared).toBeGreaterThan(500);
    expect(await duplicateKeys(env.t.db)).toBe(0);

    const logs = scanLogs(env.childLogs, { accountNumbers: env.accounts.map((a) => a.jpmAccountId) });
    c.count('deadlocks', logs.deadlocks);
    c.count('secretsLeaked', logs.leaks.length);
    expect(logs.leaks).toEqual([]);
    expect(logs.deadlocks).toBe(0);
  });
});

async function waitForWorkInFlight(ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const r = await env.t.db
      .selectFrom('sync_runs')
      .select(['id'])
      .where('parent_run_id', 'is not', null)
      .where('status', '=', 'running')
      .limit(1)
      .execute();
    if (r.length > 0) {
      return;
    }
    await sleep(50);
  }
}

function scopeOf(accountId: string) {
  const a = env.accounts.find((x) => x.id === accountId)!;
  return { accountId: a.id, jpmAccountId: a.jpmAccountId, decimalLocation: a.decimalLocation };
}
