import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getRun, triggerSync, type RunningWorkers } from '../../src/scheduler/index.ts';
import { syncAccountWindow } from '../../src/sync/sync-account.ts';
import { startHarness, type Harness } from '../helpers/orchestration.ts';

/**
 * A bank page whose JSON repeats a name (the simulator's `repeated-name` fault: `"\u0064ata":[]` before the
 * real `"data":[…]`, which a parser keeping the first value reads as an empty page) is refused as malformed
 * JSON is: the window fails with jpm_malformed_response naming the repeated name, nothing of the page is
 * stored, and the run retries it; once the bank sends the page clean, the run stores it.
 */
const TODAY = '2025-03-12';

let h: Harness;
let worker: RunningWorkers;

beforeAll(async () => {
  h = await startHarness({ today: TODAY, accounts: 2, quirks: { latePostings: false } });
  worker = h.startWorker(h.bankWith());
});

afterAll(async () => {
  await worker.close();
  await h.stop();
});

const stored = async (accountId: string) =>
  (
    await h.t.db
      .selectFrom('transactions')
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .where('account_id', '=', accountId)
      .executeTakeFirstOrThrow()
  ).n;

describe('a bank page that repeats a name', () => {
  it('fails the window like malformed JSON, naming the name, and stores nothing', async () => {
    const a = h.accounts[0]!;
    h.sim.injectFaults([{ kind: 'repeated-name', path: '/tsapi/v3/transactions', accountId: a.jpmAccountId }]);
    try {
      const window = syncAccountWindow(h.syncDeps(h.bankWith()), {
        runId: null,
        accountId: a.id,
        mode: 'prior_day',
        kinds: ['transactions'],
      });
      await expect(window).rejects.toMatchObject({
        code: 'jpm_malformed_response',
        retryable: true,
        upstreamStatus: 200,
        message: expect.stringContaining('is refused: the JSON text repeats the name "data" in one object') as unknown,
      });
      expect(await stored(a.id)).toBe('0');
    } finally {
      h.sim.clearFaults();
    }
  });

  it('a run reports it on its window and stores nothing until the bank sends the page clean', async () => {
    const a = h.accounts[1]!;
    h.sim.injectFaults([{ kind: 'repeated-name', path: '/tsapi/v3/transactions', accountId: a.jpmAccountId }]);
    let cleared = false;
    try {
      const { runs } = await triggerSync(h.producer(), {
        accountId: a.id,
        request: { mode: 'prior_day' },
        trigger: 'manual',
      });
      const runId = runs[0]!.runId;
      // Every attempt gets the page with the repeated name while the fault is on: wait for the first one's error.
      let run = await getRun({ db: h.t.db }, runId, { windows: true });
      for (
        const deadline = Date.now() + 60_000;
        run.windows?.[0]?.error === undefined || run.windows[0].error === null;
      ) {
        expect(Date.now(), 'no window error recorded').toBeLessThan(deadline);
        await new Promise((r) => setTimeout(r, 100));
        run = await getRun({ db: h.t.db }, runId, { windows: true });
      }
      expect(run.finishedAt).toBeNull();
      expect(run.windows[0].error).toMatchObject({
        code: 'jpm_malformed_response',
        message: expect.stringContaining('repeats the name "data"') as unknown,
      });
      expect(await stored(a.id)).toBe('0');

      h.sim.clearFaults();
      cleared = true;
      run = await h.waitForRun(runId);
      expect(run.status).toBe('succeeded');
      expect(run.windows![0].attempts).toBeGreaterThanOrEqual(2);
      expect(Number(await stored(a.id))).toBeGreaterThan(0);
    } finally {
      if (!cleared) {
        h.sim.clearFaults();
      }
    }
  });
});
