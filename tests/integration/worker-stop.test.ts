import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { triggerSync } from '../../src/scheduler/index.ts';
import { addDays } from '../../src/shared/time.ts';
import { startHarness, type Harness } from '../helpers/orchestration.ts';

/**
 * A worker told to stop (a deploy's SIGTERM) while a window waits for a slow bank: the bank call is aborted and the
 * window goes back to the queue with no attempt spent, instead of holding the stop until the window's calls end (a
 * bank call may take longer than the whole shutdown allows). Another worker then runs the run to its end, exactly.
 */
const TODAY = '2025-03-12'; // a Wednesday

let h: Harness;

beforeAll(async () => {
  h = await startHarness({ today: TODAY, accounts: 1, latencyMs: 1_500, quirks: { latePostings: false } });
});

afterAll(async () => {
  await h.stop();
});

describe('a worker stopping', () => {
  it('gives its windows in flight back to the queue without an attempt; the next worker finishes the run exactly', async () => {
    const a = h.accounts[0]!;
    const from = addDays(TODAY, -20);
    const to = addDays(TODAY, -1);
    const first = h.startWorker(h.bankWith());
    const { runs } = await triggerSync(h.producer(), {
      accountId: a.id,
      request: { mode: 'range', from, to },
      trigger: 'backfill',
    });
    const sync = h.queues.queue('sync');
    const inFlight = async () =>
      (await sync.getJobs(['active'])).filter((j) => j.name === 'sync-window').map((j) => j.id!);
    // A window holds a bank call (the bank answers 1.5 s after each call).
    await expect.poll(inFlight, { timeout: 30_000, interval: 50 }).not.toEqual([]);
    const held = await inFlight();
    await first.close();

    for (const id of held) {
      const job = (await sync.getJob(id))!;
      expect({ id, state: await job.getState(), attemptsMade: job.attemptsMade }).toEqual({
        id,
        state: expect.stringMatching(/^(delayed|wait|waiting|prioritized)$/) as unknown,
        attemptsMade: 0,
      });
    }
    // The bank did not count against the integration: its circuit stays closed.
    const integration = await h.t.db
      .selectFrom('integrations')
      .select('sync_status')
      .where('id', '=', h.tenancy.integrationId)
      .executeTakeFirstOrThrow();
    expect(integration.sync_status).toBe('ok');

    const second = h.startWorker(h.bankWith());
    try {
      const run = await h.waitForRun(runs[0]!.runId);
      expect(run.status).toBe('succeeded');
      expect(run.windows!.every((w) => w.status === 'succeeded')).toBe(true);
      const truth = h.sim.groundTruth().accounts.find((x) => x.accountId === a.jpmAccountId)!;
      const expected = truth.transactions.filter((x) => x.asOfDate >= from && x.asOfDate <= to);
      const stored = await h.t.db
        .selectFrom('transactions')
        .select('jpm_transaction_id')
        .where('account_id', '=', a.id)
        .execute();
      expect(expected.length).toBeGreaterThan(20);
      expect(stored.map((s) => s.jpm_transaction_id).sort()).toEqual(expected.map((x) => x.transactionId).sort());
      expect(run.counts.inserted).toBe(stored.length);
    } finally {
      await second.close();
    }
  });
});
