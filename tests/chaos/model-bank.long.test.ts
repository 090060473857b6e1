import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { createClientCredential, ensureDevPki } from '../../src/simulator/index.ts';
import { createTestApi, type TestApi } from '../helpers/api-app.ts';
import { LONG, QUEUED, scenarioArb } from '../helpers/model-arbitraries.ts';
import { ModelTally, runScenario, type ModelEnv } from '../helpers/model-bank.ts';
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

describe('model-based differential test, long run', () => {
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
