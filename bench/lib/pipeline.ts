/**
 * The backfill through the real pipeline: a simulator child process with pre-rendered pages, our
 * accounts for its accounts, `triggerSync` (the producer the API and CLI use) enqueueing BullMQ flows,
 * and worker child processes (`startWorkers`, JpmClient over mTLS, normalization, storage) draining
 * them into the benchmark's database.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { JpmClient } from '../../src/jpm/client.ts';
import {
  createQueues,
  MAX_RANGE_DAYS,
  planRun,
  triggerSync,
  type ProducerDeps,
  type Queues,
} from '../../src/scheduler/index.ts';
import type { SyncRequest } from '../../src/domain/types.ts';
import { createLogger } from '../../src/shared/logger.ts';
import { uuidv7 } from '../../src/shared/ids.ts';
import { addDays, splitRange } from '../../src/shared/time.ts';
import type { Database } from '../../src/storage/db.ts';
import { bankClientOf } from '../../src/sync/jpm-bank.ts';
import { spawnReady, spawnSimulator, type Child, type SimChild } from './children.ts';
import {
  benchPrefix,
  deletePrefix,
  machineCpuSeconds,
  memoryOf,
  postgresCpu,
  postgresCpuBetween,
  processCpuSeconds,
  REDIS_URL,
  round,
  SEARCH_STEP_APPLICATION_NAME,
  SEED,
  sleep,
  type BenchDb,
} from './env.ts';

export const BANK_ID = '02100002';
/**
 * V8 heap settings of the worker role (docker/compose.yml sets the same NODE_OPTIONS): a young generation
 * that holds a bank page's objects (a 1000-record page is ~2 MB of JSON and several times that in objects)
 * and a capped old space. With 4 MB semi-spaces the records of every page in flight survived two scavenges
 * and were copied into the old space: garbage collection was a fifth of the worker's CPU, and 16 MB cut the
 * CPU per page by ~20 % (same page, same code). Without the old-space cap V8 lets a busy worker's heap grow
 * to ~500 MB of mostly garbage.
 */
export const WORKER_NODE_ARGS = ['--max-semi-space-size=16', '--max-old-space-size=192'];
const TODAY = '2026-11-25';

/** N accounts × D calendar days × T transactions per business day; scale shrinks D. */
export interface Dataset {
  accounts: number;
  txPerDay: number;
  historyDays: number;
  today: string;
  from: string;
  to: string;
}

/** Default ≈ 1M posted transactions: 20 accounts × 175 days (125 business days) × 400 a day. */
export function datasetFor(scale: number): Dataset {
  const historyDays = Math.max(7, Math.round(175 * scale));
  return {
    accounts: 20,
    txPerDay: 400,
    historyDays,
    today: TODAY,
    from: addDays(TODAY, -historyDays),
    to: addDays(TODAY, -1),
  };
}

/**
 * The dataset's history as the range runs an operator would ask for: one run covers at most MAX_RANGE_DAYS
 * (the producer refuses longer ones), so the `--scale 6` history (1,050 days) is two runs per account.
 */
export function rangesOf(ds: Dataset): { from: string; to: string }[] {
  return splitRange(ds.from, ds.to, MAX_RANGE_DAYS);
}

export interface Bank {
  sim: SimChild;
  credFile: string;
  dir: string;
  prewalk: { seconds: number; requests: number; cachedBytes: number };
  stop(): Promise<void>;
}

/**
 * Starts the simulator and walks every page and balance window the backfill will ask for, once, with
 * the real client, so its pre-render cache holds every body: during the measured run the fake bank
 * only looks bodies up and writes them to the socket.
 */
export async function startBank(ds: Dataset): Promise<Bank> {
  const sim = await spawnSimulator({
    seed: SEED,
    today: ds.today,
    accounts: ds.accounts,
    txPerDay: ds.txPerDay,
    historyDays: ds.historyDays,
    prerenderMaxBytes: 8 * 2 ** 30,
  });
  const dir = await mkdtemp(join(tmpdir(), 'jpm-sync-bench-'));
  const credFile = join(dir, 'credential.json');
  const credential = {
    id: 'bench-cert',
    certPem: sim.info.certPem,
    keyPem: sim.info.keyPem,
    caPem: sim.info.caCertPem,
  };
  await writeFile(credFile, JSON.stringify(credential), { mode: 0o600 });
  const started = performance.now();
  const client = new JpmClient({ baseUrl: sim.info.url, credentials: () => Promise.resolve(credential) });
  const bank = bankClientOf(client);
  const windows = rangesOf(ds).flatMap((r) => planRun({ mode: 'range', ...r }, ds.today, 5).windows);
  const work = sim.info.accounts.flatMap((a) => windows.map((w) => ({ a, w })));
  let next = 0;
  const walkWindow = async ({ a, w }: (typeof work)[number]) => {
    const window = { startDate: w.from ?? w.shownFrom, endDate: w.to ?? w.shownTo };
    const accounts = [{ accountId: a.accountId, bankId: BANK_ID }];
    if (w.kinds.includes('transactions')) {
      for await (const page of bank.transactionPages({ ...window, accounts })) {
        void page;
      }
    }
    if (w.kinds.includes('balances')) {
      await bank.getBalances({ ...window, accounts });
    }
  };
  const walker = async () => {
    for (let i = next++; i < work.length; i = next++) {
      // A retryable failure (a kept-alive connection reset under load, seen at load 10+) walks the window
      // again, as the worker's retries would: the pre-walk only fills the simulator's cache.
      for (let attempt = 1; ; attempt++) {
        try {
          await walkWindow(work[i]!);
          break;
        } catch (err) {
          if (attempt >= 3 || (err as { retryable?: unknown }).retryable !== true) {
            throw err;
          }
        }
      }
    }
  };
  await Promise.all([walker(), walker(), walker()]);
  await client.close();
  const stats = await sim.stats();
  return {
    sim,
    credFile,
    dir,
    prewalk: {
      seconds: round((performance.now() - started) / 1000, 1),
      requests: stats.requests,
      cachedBytes: stats.cachedBytes,
    },
    async stop() {
      await sim.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export interface BenchAccount {
  id: string;
  jpmAccountId: string;
}

/** One organization, one live integration pointing at the simulator, our accounts for its accounts. */
export async function seedTenancy(
  db: Database,
  bank: Bank,
): Promise<{ organizationId: string; integrationId: string; accounts: BenchAccount[] }> {
  const organizationId = uuidv7();
  const integrationId = uuidv7();
  await db.insertInto('organizations').values({ id: organizationId, name: 'Bench Treasury' }).execute();
  await db
    .insertInto('integrations')
    .values({
      id: integrationId,
      organization_id: organizationId,
      name: 'Bench J.P. Morgan',
      environment: 'simulator',
      base_url: bank.sim.info.url,
      stage: 'live',
    })
    .execute();
  const accounts = bank.sim.info.accounts.map((a) => ({
    id: uuidv7(),
    jpmAccountId: a.accountId,
    currency: a.currency,
    decimalLocation: a.decimalLocation,
  }));
  await db
    .insertInto('bank_accounts')
    .values(
      accounts.map((a) => ({
        id: a.id,
        organization_id: organizationId,
        integration_id: integrationId,
        jpm_account_id: a.jpmAccountId,
        bank_id: BANK_ID,
        currency: a.currency,
        decimal_location: a.decimalLocation,
        time_zone: 'America/New_York',
      })),
    )
    .execute();
  return { organizationId, integrationId, accounts: accounts.map((a) => ({ id: a.id, jpmAccountId: a.jpmAccountId })) };
}

export interface MemorySample {
  t: number;
  rssMB: number;
}

export interface RunMeasure {
  seconds: number;
  runs: number;
  failedRuns: number;
  memory: MemorySample[];
  peakHwmMB: number;
  cpu: {
    simulatorSeconds: number;
    workerSeconds: number;
    /** Every backend of the database, the search step's included. */
    postgresSeconds: number;
    /** The search step's backends (its own pool in the bench worker). */
    postgresSearchStepSeconds: number;
    /** The benchmark's own backends (progress polling, the search lag sampler). Ingestion's: the total minus these two. */
    postgresBenchSeconds: number;
    benchSeconds: number;
    machineBusySeconds: number;
    machineTotalSeconds: number;
  };
  simHandlerCpuSeconds: number;
  simRequests: number;
  simCacheHits: number;
}

export interface Pipeline {
  queues: Queues;
  prefix: string;
  /**
   * Starts the worker children kept for every following run until releaseWorker() (warm processes: no start-up,
   * JIT warm-up or new connections in what those runs measure).
   */
  holdWorker(): Promise<void>;
  releaseWorker(): Promise<void>;
  /**
   * Starts the worker children (or uses the held ones), triggers the range for every account (or `requests`, each for
   * every account), waits for every run to end, stops the workers (unless held).
   */
  run(label: string, requests?: readonly SyncRequest[]): Promise<RunMeasure>;
  close(): Promise<void>;
}

export function createPipeline(
  bdb: BenchDb,
  bank: Bank,
  ds: Dataset,
  accounts: readonly BenchAccount[],
  options: {
    concurrency: number;
    poolMax: number;
    /** Worker processes draining the queues (default 1), each with `concurrency` jobs and a pool of `poolMax`. */
    processes?: number;
    nodeArgs?: string[];
    redisUrl?: string;
  },
): Pipeline {
  const processes = options.processes ?? 1;
  const prefix = benchPrefix('pipeline');
  const redisUrl = options.redisUrl ?? REDIS_URL;
  const queues = createQueues({ redisUrl, prefix });
  const producer: ProducerDeps = {
    db: bdb.db,
    queues,
    now: () => new Date(`${ds.today}T17:00:00Z`),
    logger: createLogger('scheduler'),
    lookbackDays: 5,
  };
  let held: Child[] | undefined;
  const spawnWorker = (): Promise<Child> =>
    spawnReady(
      'worker-child.ts',
      {
        BENCH_WORKER: JSON.stringify({
          dbUrl: bdb.url,
          redisUrl,
          prefix,
          simUrl: bank.sim.info.url,
          credFile: bank.credFile,
          today: ds.today,
          concurrency: options.concurrency,
          poolMax: options.poolMax,
        }),
      },
      (line) => {
        if (process.env.BENCH_DEBUG) {
          console.log(`  worker: ${line}`);
        }
      },
      [
        ...(options.nodeArgs ?? WORKER_NODE_ARGS),
        ...(process.env.BENCH_WORKER_NODE_ARGS?.split(' ').filter(Boolean) ?? []),
        ...(process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : []),
      ],
    );
  // Started one after another: each loads the service's modules, which on two cores is quicker than all at once.
  const spawnWorkers = async (): Promise<Child[]> => {
    const started: Child[] = [];
    try {
      for (let i = 0; i < processes; i++) {
        started.push(await spawnWorker());
      }
    } catch (error) {
      await Promise.all(started.map((w) => w.stop()));
      throw error;
    }
    return started;
  };
  return {
    queues,
    prefix,
    async holdWorker() {
      held ??= await spawnWorkers();
    },
    async releaseWorker() {
      const ws = held ?? [];
      held = undefined;
      await Promise.all(ws.map((w) => w.stop()));
    },
    async run(label, requests) {
      const workers: Child[] = held ?? (await spawnWorkers());
      const workersCpu = () => workers.reduce((sum, w) => sum + processCpuSeconds(w.pid), 0);
      const memory: MemorySample[] = [];
      let peakHwmMB = 0;
      const simBefore = await bank.sim.stats();
      const cpu0 = {
        sim: processCpuSeconds(bank.sim.pid),
        worker: workersCpu(),
        pg: await postgresCpu(bdb.name),
        pgSearch: await postgresCpu(bdb.name, SEARCH_STEP_APPLICATION_NAME),
        pgBench: await postgresCpu(bdb.name, bdb.applicationName),
        bench: process.cpuUsage(),
        machine: machineCpuSeconds(),
      };
      const started = performance.now();
      // With several worker processes, each sample is the largest of them (the limit is per process).
      const sampler = setInterval(() => {
        const ms = workers.flatMap((w) => memoryOf(w.pid) ?? []);
        if (ms.length > 0) {
          const rssMB = Math.max(...ms.map((m) => m.rssMB));
          memory.push({ t: round((performance.now() - started) / 1000, 2), rssMB: round(rssMB, 1) });
          peakHwmMB = Math.max(peakHwmMB, ...ms.map((m) => m.hwmMB));
        }
      }, 100);
      const runIds: string[] = [];
      for (const a of accounts) {
        for (const request of requests ?? rangesOf(ds).map((r) => ({ mode: 'range' as const, ...r }))) {
          const { runs } = await triggerSync(producer, {
            accountId: a.id,
            request,
            trigger: 'backfill',
          });
          runIds.push(...runs.map((r) => r.runId));
        }
      }
      let state = { open: runIds.length, failed: 0 };
      let lastPrint = 0;
      while (state.open > 0) {
        await sleep(200);
        const row = await bdb.db
          .selectFrom('sync_runs')
          .select((eb) => [
            eb.fn.countAll<string>().filterWhere('finished_at', 'is', null).as('open'),
            eb.fn
              .countAll<string>()
              .filterWhere('status', '<>', 'succeeded')
              .filterWhere('finished_at', 'is not', null)
              .as('failed'),
            eb.fn.sum<string>('inserted').as('inserted'),
          ])
          .where('id', 'in', runIds)
          .executeTakeFirstOrThrow();
        state = { open: Number(row.open), failed: Number(row.failed) };
        const now = performance.now();
        if (now - lastPrint > 5_000) {
          lastPrint = now;
          process.stdout.write(
            `  ${label}: ${round((now - started) / 1000)} s, runs open ${state.open}/${runIds.length}, rss ${memory.at(-1)?.rssMB ?? '?'} MB\n`,
          );
        }
      }
      const seconds = (performance.now() - started) / 1000;
      clearInterval(sampler);
      const simAfter = await bank.sim.stats();
      const bench = process.cpuUsage(cpu0.bench);
      const machine = machineCpuSeconds();
      const cpu = {
        simulatorSeconds: round(processCpuSeconds(bank.sim.pid) - cpu0.sim, 2),
        workerSeconds: round(workersCpu() - cpu0.worker, 2),
        postgresSeconds: round(postgresCpuBetween(cpu0.pg, await postgresCpu(bdb.name)), 2),
        postgresSearchStepSeconds: round(
          postgresCpuBetween(cpu0.pgSearch, await postgresCpu(bdb.name, SEARCH_STEP_APPLICATION_NAME)),
          2,
        ),
        postgresBenchSeconds: round(
          postgresCpuBetween(cpu0.pgBench, await postgresCpu(bdb.name, bdb.applicationName)),
          2,
        ),
        benchSeconds: round((bench.user + bench.system) / 1e6, 2),
        machineBusySeconds: round(machine.busy - cpu0.machine.busy, 2),
        machineTotalSeconds: round(machine.total - cpu0.machine.total, 2),
      };
      if (workers.some((w) => w.process.exitCode !== null || w.process.signalCode !== null)) {
        throw new Error(`${label}: a worker child exited during the run; its CPU figures would be wrong`);
      }
      if (workers !== held) {
        await Promise.all(workers.map((w) => w.stop()));
      }
      return {
        seconds,
        runs: runIds.length,
        failedRuns: state.failed,
        memory,
        peakHwmMB: round(peakHwmMB, 1),
        cpu,
        simHandlerCpuSeconds: round((simAfter.cpuMicros - simBefore.cpuMicros) / 1e6, 2),
        simRequests: simAfter.requests - simBefore.requests,
        simCacheHits: simAfter.cacheHits - simBefore.cacheHits,
      };
    },
    async close() {
      await Promise.all((held ?? []).map((w) => w.stop()));
      held = undefined;
      const redis = new Redis(redisUrl, { maxRetriesPerRequest: 3 });
      try {
        await deletePrefix(redis, prefix);
      } finally {
        redis.disconnect();
      }
      await queues.close();
    },
  };
}
