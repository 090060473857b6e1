import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { createClientCredential, ensureDevPki } from '../../src/simulator/index.ts';
import { createTestApi, type TestApi } from '../helpers/api-app.ts';
import { LONG, QUEUED, scenarioArb } from '../helpers/model-arbitraries.ts';
import { ModelTally, runScenario, type ModelEnv, type ModelScenario } from '../helpers/model-bank.ts';
import { modelRunOptions } from '../helpers/model-replay.ts';

/**
 * The long run of the model-based differential test (the bounded one is in
 * tests/integration/model-bank.property.test.ts): longer histories with timeouts on the
 * sync unit of work, and histories driven through BullMQ (triggerSync, run planner, flows, workers with
 * their backoff and single flight). MODEL_RUNS scales both; MODEL_SEED / MODEL_PATH replay a failure
 * (the message names which property it came from).
 */
let api: TestApi;
let pkiDir: string;
let env: ModelEnv;
const direct = new ModelTally();
const queued = new ModelTally();

beforeAll(async () => {
  api = await createTestApi();
  pkiDir = await mkdtemp(join(tmpdir(), 'model-bank-long-pki-'));
  const pki = await ensureDevPki(pkiDir);
  const issued = await createClientCredential(pki, { commonName: 'model-bank-long' });
  env = {
    db: api.t.db,
    dbUrl: api.t.url,
    api: { app: api.app, key: api.adminKey },
    pkiDir,
    credential: { id: 'model-bank-long-cert', certPem: issued.certPem, keyPem: issued.keyPem, caPem: pki.caCertPem },
  };
});

afterAll(async () => {
  console.log(direct.summary('long run, sync unit of work'));
  console.log(queued.summary('long run, through BullMQ'));
  await api.close();
  await rm(pkiDir, { recursive: true, force: true });
});

/**
 * A history the random search found: our clock a day behind the bank, which the service has never heard
 * from, then a range ending on the bank's last closed day. The run planner cut the range at the day
 * before our clock's date and reported success without that closed day.
 */
const CLOCK_BEHIND_THE_BANK: ModelScenario = {
  seed: 'model-ccbde',
  quirks: {
    growingSnapshot: true,
    newIdsOnPosting: true,
    amountChangesOnPosting: false,
    unpostedIntraday: false,
    latePostings: true,
    identicalTransactions: true,
    reissuedIds: true,
    shiftingPages: true,
    reversals: false,
    extremeAmounts: true,
    oddFields: true,
    oddReferences: true,
    hostileNarratives: true,
    withdrawals: false,
  },
  historyDays: 13,
  currencies: ['USD', 'EUR'],
  txPerDay: 7,
  pageSize: 3,
  steps: [
    { do: 'skew', days: -1 },
    { do: 'advance', days: 0, progress: 0.45 },
    { do: 'advance', days: 0, progress: 0.7 },
    {
      do: 'range',
      account: 0,
      back: 2,
      length: 2,
      faults: [
        { kind: 'unavailable', count: 2, after: 1, path: '/tsapi/v3/transactions', retryAfterSeconds: 1 },
        { kind: 'unavailable', count: 1, after: 2, retryAfterSeconds: 1 },
      ],
    },
    { do: 'sync', account: 0, mode: 'prior_day' },
    { do: 'sync', account: 1, mode: 'prior_day' },
  ],
  start: '2026-11-04',
  holidays: [],
};

describe('model-based differential test, long run', () => {
  it('a range run with our clock a day behind the bank stores the closed day the bank has (found by the search)', async () => {
    queued.add(await runScenario(env, CLOCK_BEHIND_THE_BANK, 'queue'));
  }, 300_000);

  it('holds for long random histories with timeouts (sync unit of work)', async () => {
    await fc.assert(
      fc.asyncProperty(scenarioArb(LONG), async (scenario) => {
        direct.add(await runScenario(env, scenario, 'direct'));
      }),
      modelRunOptions({ numRuns: 15, label: 'tests/chaos/model-bank.long.test.ts -t "long random"' }),
    );
  }, 600_000);

  it('holds for random histories driven through BullMQ (trigger, planner, flows, workers)', async () => {
    await fc.assert(
      fc.asyncProperty(scenarioArb(QUEUED), async (scenario) => {
        queued.add(await runScenario(env, scenario, 'queue'));
      }),
      modelRunOptions({ numRuns: 8, label: 'tests/chaos/model-bank.long.test.ts -t "through BullMQ"' }),
    );
  }, 600_000);
});
