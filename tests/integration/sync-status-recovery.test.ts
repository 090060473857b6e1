import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reconcileSchedules, scheduleId, triggerSync, type RunningWorkers } from '../../src/scheduler/index.ts';
import { createLogger } from '../../src/shared/logger.ts';
import { createClientCredential, ensureDevPki } from '../../src/simulator/index.ts';
import type { BankClient } from '../../src/sync/bank-client.ts';
import { startHarness, type Harness } from '../helpers/orchestration.ts';

/**
 * A permanent failure stops an integration's scheduled syncs (`sync_status = failed`) until a person fixes the cause
 * and tries the fix with a trigger. A trigger whose window the bank answers is that proof: the integration syncs on
 * schedule again, with its schedulers back, instead of staying stopped for good.
 */
const TODAY = '2025-03-12';
const log = createLogger('scheduler');

let h: Harness;
let worker: RunningWorkers;
let foreignDir: string;
let bank: BankClient;

beforeAll(async () => {
  h = await startHarness({ today: TODAY, accounts: 2, quirks: { latePostings: false } });
  foreignDir = await mkdtemp(join(tmpdir(), 'sync-status-foreign-'));
  const issued = await createClientCredential(await ensureDevPki(foreignDir), { commonName: 'not-the-bank-ca' });
  // First the integration's certificate is one the bank refuses; then the person's fix (the right certificate).
  bank = h.bankWith({ id: 'foreign-cert', certPem: issued.certPem, keyPem: issued.keyPem, caPem: h.sim.caCertPem });
  worker = h.startWorker({
    transactionPages: (q) => bank.transactionPages(q),
    getBalances: (q) => bank.getBalances(q),
  });
});

afterAll(async () => {
  for (const q of ['sync', 'maintenance'] as const) {
    for (const s of await h.queues.queue(q).getJobSchedulers(0, -1)) {
      await h.queues.queue(q).removeJobScheduler(s.key);
    }
  }
  await worker?.close();
  await h?.stop();
  await rm(foreignDir, { recursive: true, force: true });
});

async function syncStatus() {
  return h.t.db
    .selectFrom('integrations')
    .select(['sync_status', 'sync_status_reason'])
    .where('id', '=', h.tenancy.integrationId)
    .executeTakeFirstOrThrow();
}

async function schedulerIds() {
  return (await h.queues.queue('sync').getJobSchedulers(0, -1)).map((s) => s.key).sort();
}

describe('an integration stopped by a permanent failure', () => {
  it('syncs on schedule again once a triggered run after the fix was answered by the bank', async () => {
    const account = h.accounts[0]!.id;
    const request = { mode: 'range' as const, from: '2025-03-03', to: '2025-03-04' };
    const refused = await triggerSync(h.producer(), { accountId: account, request, trigger: 'manual' });
    expect((await h.waitForRun(refused.runs[0]!.runId)).status).toBe('failed');
    expect((await syncStatus()).sync_status).toBe('failed');
    await reconcileSchedules({ db: h.t.db, queues: h.queues, logger: log }, { integrationId: h.tenancy.integrationId });
    expect(await schedulerIds()).toEqual([]);

    // The person fixes the cause and tries it with a trigger.
    bank = h.bankWith();
    const retried = await triggerSync(h.producer(), { accountId: account, request, trigger: 'manual' });
    expect((await h.waitForRun(retried.runs[0]!.runId)).status).toBe('succeeded');

    expect(await syncStatus()).toEqual({ sync_status: 'ok', sync_status_reason: null });
    const expected = h.accounts.flatMap((a) => [scheduleId(a.id, 'intraday'), scheduleId(a.id, 'prior_day')]).sort();
    for (let i = 0; i < 300 && (await schedulerIds()).length < expected.length; i++) {
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(await schedulerIds()).toEqual(expected);
  });
});
