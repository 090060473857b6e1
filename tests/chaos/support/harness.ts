import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { JpmClient } from '../../../src/jpm/client.ts';
import type { TlsCredential } from '../../../src/jpm/credential-agents.ts';
import {
  createQueues,
  startWorkers,
  type ProducerDeps,
  type Queues,
  type RunningWorkers,
  type WorkerOptions,
} from '../../../src/scheduler/index.ts';
import { createLogger } from '../../../src/shared/logger.ts';
import type { IsoDate } from '../../../src/shared/time.ts';
import {
  createClientCredential,
  startSimulator,
  type RunningSimulator,
  type SimulatorOptions,
} from '../../../src/simulator/index.ts';
import type { BankClient } from '../../../src/sync/bank-client.ts';
import { bankClientOf } from '../../../src/sync/jpm-bank.ts';
import type { SyncDeps } from '../../../src/sync/sync-account.ts';
import { createAccount, createTenancy, type Tenancy } from '../../factories/tenancy.ts';
import { createTestDb, testQueuePrefix, type TestDb } from '../../helpers/db.ts';
import { REDIS_URL } from '../../helpers/env.ts';
import { obliterate } from '../../helpers/orchestration.ts';
import { CHAOS_STALL, CHAOS_TIMEOUTS, slowBank, type ChildConfig } from './slow-bank.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

export interface ChaosAccount {
  id: string;
  jpmAccountId: string;
  decimalLocation: number;
}

export interface ChaosChild {
  proc: ChildProcess;
  /** Resolves when the process has exited (however). */
  exited: Promise<void>;
}

export interface ChaosEnv {
  t: TestDb;
  sim: RunningSimulator;
  tenancy: Tenancy;
  accounts: ChaosAccount[];
  prefix: string;
  redisUrl: string;
  queues: Queues;
  today: IsoDate;
  now(): Date;
  /** Log lines of every child worker (JSON), for the deadlock and secret scans. */
  childLogs: string[];
  /** A J.P. Morgan client over mTLS with short timeouts, adapted to the sync port, optionally slowed down. */
  bank(opts?: { pageDelayMs?: number }): BankClient;
  producer(): ProducerDeps;
  syncDeps(bank: BankClient): SyncDeps;
  /** Queue workers in this process. */
  startWorker(bank: BankClient, options?: Partial<WorkerOptions>): RunningWorkers;
  /** A queue worker in a child process; resolves once it is connected. */
  spawnWorker(opts?: { pageDelayMs?: number; logLevel?: string; concurrency?: number }): Promise<ChaosChild>;
  stop(): Promise<void>;
}

export interface ChaosEnvOptions extends Partial<SimulatorOptions> {
  today: IsoDate;
  name: string;
  redisUrl?: string;
}

export async function startChaosEnv(options: ChaosEnvOptions): Promise<ChaosEnv> {
  const t = await createTestDb();
  const pkiDir = await mkdtemp(join(tmpdir(), `chaos-${options.name}-`));
  const { name: _name, redisUrl: redisOpt, ...simOptions } = options;
  const sim = await startSimulator({
    pkiDir,
    seed: `chaos-${options.name}`,
    historyDays: 40,
    txPerDay: 8,
    accounts: 2,
    ...simOptions,
  });
  const issued = await createClientCredential(sim.pki, { commonName: `chaos-${options.name}` });
  const credential: TlsCredential = {
    id: `chaos-${options.name}-cert`,
    certPem: issued.certPem,
    keyPem: issued.keyPem,
    caPem: sim.caCertPem,
  };
  const credFile = join(pkiDir, 'client-credential.json');
  await writeFile(credFile, JSON.stringify(credential), { mode: 0o600 });
  const tenancy = await createTenancy(t.db, { baseUrl: sim.url, name: `Chaos ${options.name}` });
  await t.db.updateTable('integrations').set({ stage: 'live' }).where('id', '=', tenancy.integrationId).execute();
  const accounts: ChaosAccount[] = [];
  for (const a of sim.accounts) {
    const row = await createAccount(t.db, tenancy, {
      jpmAccountId: a.accountId,
      currency: a.currency.code,
      decimalLocation: a.currency.decimalLocation,
    });
    accounts.push({ id: row.id, jpmAccountId: a.accountId, decimalLocation: a.currency.decimalLocation });
  }
  const redisUrl = redisOpt ?? REDIS_URL;
  const prefix = testQueuePrefix();
  const queues = createQueues({ redisUrl, prefix });
  const clients: JpmClient[] = [];
  const workers: RunningWorkers[] = [];
  const children: ChaosChild[] = [];
  const childLogs: string[] = [];
  const now = () => new Date(`${options.today}T17:00:00Z`);
  const syncDeps = (bank: BankClient): SyncDeps => ({
    db: t.db,
    clientFor: () => Promise.resolve(bank),
    now,
    logger: createLogger('sync'),
    lookbackDays: 5,
  });
  return {
    t,
    sim,
    tenancy,
    accounts,
    prefix,
    redisUrl,
    queues,
    today: options.today,
    now,
    childLogs,
    bank(opts = {}) {
      const client = new JpmClient({
        baseUrl: sim.url,
        credentials: () => Promise.resolve(credential),
        refusalProbeMs: 500,
        timeouts: CHAOS_TIMEOUTS,
      });
      clients.push(client);
      return slowBank(bankClientOf(client), opts.pageDelayMs ?? 0);
    },
    producer: () => ({ db: t.db, queues, now, logger: createLogger('scheduler'), lookbackDays: 5 }),
    syncDeps,
    startWorker(bank, opts = {}) {
      const w = startWorkers(
        { queues, sync: syncDeps(bank), logger: createLogger('scheduler') },
        {
          redisUrl,
          database: { url: t.url, poolMax: 4 },
          concurrency: 4,
          stall: CHAOS_STALL,
          busyRetryMs: 200,
          ...opts,
        },
      );
      workers.push(w);
      return w;
    },
    async spawnWorker(opts = {}) {
      const cfg: ChildConfig = {
        dbUrl: t.url,
        redisUrl,
        prefix,
        simUrl: sim.url,
        credFile,
        today: options.today,
        pageDelayMs: opts.pageDelayMs ?? 0,
        logLevel: opts.logLevel ?? 'info',
        concurrency: opts.concurrency ?? 4,
        stall: CHAOS_STALL,
        timeouts: CHAOS_TIMEOUTS,
      };
      const proc = spawn(
        join(ROOT, 'node_modules', '.bin', 'node'),
        [join(ROOT, 'tests', 'chaos', 'support', 'worker-child.ts')],
        {
          cwd: ROOT,
          env: { ...process.env, NODE_ENV: 'test', TZ: 'UTC', CHAOS_WORKER: JSON.stringify(cfg) },
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
      const child = { proc, exited };
      children.push(child);
      proc.stderr.on('data', (d: Buffer) => childLogs.push(d.toString('utf8')));
      await new Promise<void>((resolve, reject) => {
        const lines = createInterface({ input: proc.stdout });
        lines.on('line', (l) => {
          if (l === 'ready') {
            resolve();
          } else {
            childLogs.push(l);
          }
        });
        proc.once('exit', (code, signal) =>
          reject(new Error(`worker child exited before it was ready (${code ?? signal})`)),
        );
      });
      return child;
    },
    async stop() {
      for (const c of children) {
        if (c.proc.exitCode === null && c.proc.signalCode === null) {
          c.proc.kill('SIGKILL');
        }
      }
      await Promise.all(children.map((c) => c.exited));
      await Promise.allSettled(workers.map((w) => w.close()));
      await Promise.allSettled(clients.map((c) => c.close()));
      await obliterate(queues).catch(() => undefined);
      await queues.close().catch(() => undefined);
      await sim.stop();
      await rm(pkiDir, { recursive: true, force: true });
      await t.drop();
    },
  };
}
