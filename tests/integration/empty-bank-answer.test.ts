import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JpmUnavailableError } from '../../src/jpm/errors.ts';
import { triggerSync, type RunningWorkers } from '../../src/scheduler/index.ts';
import { classifyFailure } from '../../src/scheduler/retry-policy.ts';
import { NO_QUIRKS, type FaultRule } from '../../src/simulator/index.ts';
import { caught, startClientSim, type ClientSim } from '../helpers/jpm-client-sim.ts';
import { recordingBank, startHarness, type BankCall, type Harness } from '../helpers/orchestration.ts';

/**
 * A 200 whose body is `{}` or `[]` (a gateway answering for a back end that sent nothing) from Account Balances or
 * Transaction Details: a retryable `jpm_malformed_response`, not a permanent schema violation, so the window is
 * tried again and the integration keeps syncing. Simulator over real mTLS, the real client, and for the sync the
 * real worker on real Postgres and Redis.
 */
const TODAY = '2025-03-12';

describe('an empty 200 answer, through the client', () => {
  let env: ClientSim;
  beforeAll(async () => {
    env = await startClientSim({ today: TODAY, accounts: 2, historyDays: 5, quirks: NO_QUIRKS });
  });
  afterAll(() => env.stop());

  const once = (rule: FaultRule) => {
    env.sim.clearFaults();
    env.sim.injectFaults([{ count: 1, ...rule }]);
  };

  it.each([
    ['{}', 'empty-object'],
    ['[]', 'empty-array'],
  ] as const)('%s from Account Balances is a retryable jpm_malformed_response', async (_body, kind) => {
    once({ kind, path: '/accessapi/balance' });
    const err = await caught(() => env.client().getBalances({ relativeDateType: 'CURRENT_DAY' }));
    expect(err).toBeInstanceOf(JpmUnavailableError);
    expect(err).toMatchObject({ code: 'jpm_malformed_response', retryable: true, upstreamStatus: 200 });
    expect(classifyFailure(err)).toMatchObject({ kind: 'retryable', code: 'jpm_malformed_response', bank: true });
    // The answer after it is read as usual.
    const ok = await env.client().getBalances({ relativeDateType: 'CURRENT_DAY' });
    expect(ok.accounts.length).toBeGreaterThan(0);
  });

  it.each([
    ['{}', 'empty-object'],
    ['[]', 'empty-array'],
  ] as const)('%s from Transaction Details is a retryable jpm_malformed_response', async (_body, kind) => {
    once({ kind, path: '/tsapi/v3/transactions' });
    const accountIds = [env.sim.accounts[0]!.accountId];
    const err = await caught(() => env.client().transactionPages({ accountIds, relativeDateType: 'PRIOR_DAY' }).next());
    expect(err).toBeInstanceOf(JpmUnavailableError);
    expect(err).toMatchObject({ code: 'jpm_malformed_response', retryable: true, upstreamStatus: 200 });
  });
});

describe('an empty 200 answer during a sync', () => {
  let h: Harness;
  let worker: RunningWorkers;
  let calls: BankCall[];
  beforeAll(async () => {
    h = await startHarness({ today: TODAY, accounts: 1, quirks: NO_QUIRKS });
    const bank = recordingBank(h.bankWith());
    calls = bank.calls;
    worker = h.startWorker(bank.bank);
  });
  afterAll(async () => {
    await worker.close();
    await h.stop();
  });

  it('the window is tried again and succeeds; the integration is not stopped', async () => {
    const a = h.accounts[0]!;
    h.sim.injectFaults([{ kind: 'empty-object', path: '/accessapi/balance', accountId: a.jpmAccountId, count: 1 }]);
    const { runs } = await triggerSync(h.producer(), {
      accountId: a.id,
      request: { mode: 'intraday' },
      trigger: 'manual',
    });
    const run = await h.waitForRun(runs[0]!.runId);
    expect(calls.map((c) => c.error).filter(Boolean)).toEqual(['jpm_malformed_response']);
    expect(run.status).toBe('succeeded');
    expect(run.windows!.map((w) => w.attempts)).toEqual([2]);
    const integration = await h.t.db
      .selectFrom('integrations')
      .select(['sync_status', 'sync_status_reason'])
      .where('id', '=', h.tenancy.integrationId)
      .executeTakeFirstOrThrow();
    expect(integration).toEqual({ sync_status: 'ok', sync_status_reason: null });
  });
});
