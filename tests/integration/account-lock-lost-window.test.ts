import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { triggerSync } from '../../src/scheduler/index.ts';
import type { BankClient } from '../../src/sync/bank-client.ts';
import { startHarness, type Harness } from '../helpers/orchestration.ts';

/**
 * The queue worker's side of the write fence (account-lock-fencing.test.ts): a window whose account lock the server
 * ended while it ran (its machine frozen past the keepalives) is refused its next write. That is not the window's
 * failure: another worker may hold the lock and be running the same window. So the job is given back at once, no
 * attempt spent and nothing recorded on the window; it then runs to the end under a new lock. Real Postgres, Redis and
 * the simulator over mTLS; the first page is held at a gate while the lock session is ended.
 */
const TODAY = '2025-03-12';

let h: Harness;

beforeAll(async () => {
  h = await startHarness({ today: TODAY, accounts: 1, txPerDay: 6, quirks: { latePostings: false } });
});

afterAll(async () => {
  await h.stop();
});

describe('a window whose account lock was lost while it ran', () => {
  it('is given back without spending an attempt or recording an error, then runs to the end', async () => {
    const a = h.accounts[0]!;
    const real = h.bankWith();
    let fetched!: () => void;
    const atGate = new Promise<void>((resolve) => (fetched = resolve));
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    let walks = 0;
    const bank: BankClient = {
      getBalances: (q) => real.getBalances(q),
      transactionPages(q) {
        const pages = real.transactionPages(q);
        if (walks++ > 0) {
          return pages;
        }
        return (async function* () {
          let first = true;
          for await (const page of pages) {
            if (first) {
              first = false;
              fetched();
              await gate;
            }
            yield page;
          }
        })();
      },
    };
    const worker = h.startWorker(bank, { busyRetryMs: 50 });
    try {
      const { runs } = await triggerSync(h.producer(), {
        accountId: a.id,
        request: { mode: 'prior_day' },
        trigger: 'manual',
      });
      const runId = runs[0]!.runId;
      await atGate;
      // The server ends the lock session (what unanswered keepalives do to a frozen machine's session).
      await sql`select pg_terminate_backend(pid) from pg_stat_activity
        where datname = current_database() and application_name = 'jpm-sync-locks'`.execute(h.t.db);
      open();
      const run = await h.waitForRun(runId, 30_000);
      expect(run.status).toBe('succeeded');
      expect(run.windows!.map((w) => w.error)).toEqual([null]);
      const jobs = await h.queues.queue('sync').getJobs(['completed']);
      const windowJobs = jobs.filter((j) => j.name === 'sync-window');
      // One attempt counted: the one that succeeded (a job given back by `moveToDelayed` counts none).
      expect(windowJobs.map((j) => j.attemptsMade)).toEqual([1]);
      expect(walks).toBe(2);
    } finally {
      open();
      await worker.close();
    }
  }, 60_000);
});
