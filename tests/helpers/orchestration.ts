import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { JpmClient } from '../../src/jpm/client.ts';
import type { TlsCredential } from '../../src/jpm/credential-agents.ts';
import {
  createQueues,
  getRun,
  startWorkers,
  type ProducerDeps,
  type Queues,
  type RunningWorkers,
  type RunView,
  type WorkerOptions,
} from '../../src/scheduler/index.ts';
import { createLogger } from '../../src/shared/logger.ts';
import type { IsoDate } from '../../src/shared/time.ts';
import type { BankClient } from '../../src/sync/bank-client.ts';
import type { SyncDeps } from '../../src/sync/sync-account.ts';
import {
  createClientCredential,
  startSimulator,
  type RunningSimulator,
  type SimulatorOptions,
} from '../../src/simulator/index.ts';
import { createAccount, createTenancy, type Tenancy } from '../factories/tenancy.ts';
import { createTestDb, testQueuePrefix, type TestDb } from './db.ts';
import { REDIS_URL } from './env.ts';
import { bankClientOf } from '../../src/sync/jpm-bank.ts';
import { TEST_STALL } from './recording-bank.ts';
import type { Database } from '../../src/storage/db.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export { recordingBank, type BankCall } from './recording-bank.ts';

export interface Harness {
  t: TestDb;
  sim: RunningSimulator;
  tenancy: Tenancy;
  accounts: { id: string; jpmAccountId: string; decimalLocation: number }[];
  prefix: string;
  queues: Queues;
  credential: TlsCredential;
  today: IsoDate;
  now(): Date;
  /** A J.P. Morgan client with `credential` (or another), adapted to the sync port. */
  bankWith(credential?: TlsCredential): BankClient;
  syncDeps(bank: BankClient | ((integrationId: string) => BankClient)): SyncDeps;
  producer(): ProducerDeps;
  /** Starts queue workers in this process against the harness's database, Redis prefix and `bank`. */
  startWorker(
    bank: BankClient | ((integrationId: string) => BankClient),
    options?: Partial<WorkerOptions>,
  ): RunningWorkers;
  /** Starts a worker in a child process (same database, prefix and simulator); resolves once it runs. */
  spawnWorker(opts?: { pageDelayMs?: number }): Promise<ChildProcess>;
  waitForRun(runId: string, timeoutMs?: number): Promise<RunView>;
  stop(): Promise<void>;
}

/** Polls the run until it has finished (with its windows), or throws after `timeoutMs` with its progress. */
export async function waitForRunIn(db: Database, runId: string, timeoutMs: number): Promise<RunView> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const run = await getRun({ db }, runId, { windows: true });
    if (run.finishedAt !== null) {
      return run;
    }
    if (Date.now() > deadline) {
      throw new Error(`run ${runId} still ${run.status} after ${timeoutMs} ms: ${JSON.stringify(run.progress)}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function startHarness(
  options: Partial<SimulatorOptions> & { today: IsoDate; accounts?: number },
): Promise<Harness> {
  const t = await createTestDb();
  const pkiDir = await mkdtemp(join(tmpdir(), 'orchestration-pki-'));
  const sim = await startSimulator({
    pkiDir,
    seed: 'orchestration',
    historyDays: 70,
    txPerDay: 6,
    ...options,
    accounts: options.accounts ?? 1,
  });
  const issued = await createClientCredential(sim.pki, { commonName: 'orchestration-test' });
  const credential: TlsCredential = {
    id: 'orchestration-cert',
    certPem: issued.certPem,
    keyPem: issued.keyPem,
    caPem: sim.caCertPem,
  };
  const credFile = join(pkiDir, 'client-credential.json');
  await writeFile(credFile, JSON.stringify(credential), { mode: 0o600 });
  const tenancy = await createTenancy(t.db, { baseUrl: sim.url });
  await t.db.updateTable('integrations').set({ stage: 'live' }).where('id', '=', tenancy.integrationId).execute();
  const accounts = [];
  for (const a of sim.accounts) {
    const row = await createAccount(t.db, tenancy, {
      jpmAccountId: a.accountId,
      currency: a.currency.code,
      decimalLocation: a.currency.decimalLocation,
    });
    accounts.push({ id: row.id, jpmAccountId: a.accountId, decimalLocation: a.currency.decimalLocation });
  }
  const prefix = testQueuePrefix();
  const queues = createQueues({ redisUrl: REDIS_URL, prefix });
  const clients: JpmClient[] = [];
  const workers: RunningWorkers[] = [];
  const children: ChildProcess[] = [];
  // The service's clock follows the bank's business date: 13:00 in New York.
  const now = () => new Date(`${options.today}T17:00:00Z`);
  const syncDeps = (bank: BankClient | ((integrationId: string) => BankClient)): SyncDeps => ({
    db: t.db,
    clientFor: (id) => Promise.resolve(typeof bank === 'function' ? bank(id) : bank),
    now,
    logger: createLogger('sync'),
    lookbackDays: 5,
  });
  const h: Harness = {
    t,
    sim,
    tenancy,
    accounts,
    prefix,
    queues,
    credential,
    today: options.today,
    now,
    bankWith(c = credential) {
      const client = new JpmClient({ baseUrl: sim.url, credentials: () => Promise.resolve(c), refusalProbeMs: 500 });
      clients.push(client);
      return bankClientOf(client);
    },
    syncDeps,
    producer: () => ({ db: t.db, queues, now, logger: createLogger('scheduler'), lookbackDays: 5 }),
    startWorker(bank, opts = {}) {
      const w = startWorkers(
        { queues, sync: syncDeps(bank), logger: createLogger('scheduler') },
        {
          redisUrl: REDIS_URL,
          database: { url: t.url, poolMax: 4 },
          concurrency: 4,
          stall: TEST_STALL,
          busyRetryMs: 200,
          ...opts,
        },
      );
      workers.push(w);
      return w;
    },
    async spawnWorker(opts = {}) {
      const child = spawn(
        join(ROOT, 'node_modules', '.bin', 'node'),
        [join(ROOT, 'tests', 'helpers', 'orchestration-worker.ts')],
        {
          cwd: ROOT,
          env: {
            ...process.env,
            NODE_ENV: 'test',
            TZ: 'UTC',
            ORCH_WORKER: JSON.stringify({
              dbUrl: t.url,
              redisUrl: REDIS_URL,
              prefix,
              simUrl: sim.url,
              credFile,
              today: options.today,
              pageDelayMs: opts.pageDelayMs ?? 0,
            }),
          },
          stdio: ['ignore', 'pipe', 'inherit'],
        },
      );
      children.push(child);
      await new Promise<void>((resolve, reject) => {
        const lines = createInterface({ input: child.stdout });
        lines.on('line', (l) => {
          if (l === 'ready') {
            resolve();
          }
        });
        child.once('exit', (code, signal) =>
          reject(new Error(`worker child exited before it was ready (${code ?? signal})`)),
        );
      });
      return child;
    },
    waitForRun(runId, timeoutMs = 90_000) {
      return waitForRunIn(t.db, runId, timeoutMs);
    },
    async stop() {
      for (const c of children) {
        if (c.exitCode === null && c.signalCode === null) {
          c.kill('SIGKILL');
        }
      }
      await Promise.allSettled(workers.map((w) => w.close()));
      await Promise.allSettled(clients.map((c) => c.close()));
      await obliterate(queues);
      await queues.close();
      await sim.stop();
      await rm(pkiDir, { recursive: true, force: true });
      await t.drop();
    },
  };
  return h;
}

/** Removes every key of the test's prefix (queues, schedulers, guard keys). */
export async function obliterate(queues: Queues): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await queues.redis.scan(cursor, 'MATCH', `${queues.prefix}:*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) {
      await queues.redis.del(...keys);
    }
  } while (cursor !== '0');
}
