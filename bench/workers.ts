/**
 * Throughput of a backfill of many accounts with 1 and with 3 worker processes when every bank call takes ~1 s and
 * each process has 2 windows in flight (WORKER_CONCURRENCY 2): latency-bound, so the three workers need well under a
 * core of CPU and what is measured is how far more processes buy throughput against the bank's latency:
 * the service's own entry point (`node src/main/start.ts`, ROLES=worker, production settings, the worker role's
 * V8 flags) against a fresh database and a queue prefix of its own per configuration. The bank is the simulator
 * behind a latency proxy (bench/lib/latency-proxy.ts); each integration has its own key pair and certificate, made
 * and installed as onboarding does (CSR, the simulator's CA signs it), so the workers read credentials from the
 * database as in production.
 *
 * Configurations: 1 worker and 3 workers with the accounts spread over many integrations (the per-integration rate
 * limit, 5 windows/s each, far above what the workers ask for), then 3 workers with every account in ONE integration,
 * where that limit caps the rate.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { loadConfig } from '../src/config/index.ts';
import { generateCsr, installCertificate } from '../src/credentials/index.ts';
import { createQueues, planRun, triggerSync, type ProducerDeps } from '../src/scheduler/index.ts';
import { DEFAULT_GUARD_SETTINGS } from '../src/scheduler/integration-guard.ts';
import { uuidv7 } from '../src/shared/ids.ts';
import { createLogger } from '../src/shared/logger.ts';
import { addDays, diffDays, isWeekend, localDate, type IsoDate } from '../src/shared/time.ts';
import { ensureDevPki, signCsr } from '../src/simulator/index.ts';
import { spawnNode, spawnSimulator, type Child, type SimChild } from './lib/children.ts';
import { startResult, type RunContext } from './lib/context.ts';
import {
  benchPrefix,
  commitOf,
  createBenchDb,
  liveProcessCpuSeconds,
  deletePrefix,
  newRedis,
  postgresCpu,
  postgresCpuBetween,
  REDIS_URL,
  round,
  SEED,
  sleep,
  target,
  type BenchResult,
} from './lib/env.ts';
import { startLatencyProxy, type LatencyProxy } from './lib/latency-proxy.ts';
import { BANK_ID, WORKER_NODE_ARGS } from './lib/pipeline.ts';

const LATENCY_MS = Number(process.env.BENCH_BANK_LATENCY_MS ?? 1000);
/** Windows in flight per worker process: with the latency above, 3 processes ask for ~6 windows/s (< 0.5 core). */
const WORKER_CONCURRENCY = 2;
/** Latency-bound, 3 processes should come close to 3 × one; 2.4 × leaves room for the shared queue and Postgres. */
const SPEEDUP_TARGET = 2.4;
const ACCOUNTS = 30;
/** A small daily volume: the pages are small, so the bank's latency (not our CPU) is what a worker waits on. */
const TX_PER_DAY = 20;
/** The backfilled range: 35 calendar days ending 5 days before the bank's current day. */
const RANGE_DAYS = 35;
const MANY_INTEGRATIONS = 20;
const ZONE = 'America/New_York';
const SUBJECT = { country: 'US', state: 'New York', locality: 'New York', organization: 'Bench Treasury' };

interface Config {
  label: string;
  workers: number;
  integrations: number;
}

const CONFIGS: Config[] = [
  { label: '1 worker', workers: 1, integrations: MANY_INTEGRATIONS },
  { label: '3 workers', workers: 3, integrations: MANY_INTEGRATIONS },
  { label: '3 workers, one integration', workers: 3, integrations: 1 },
];

/** The bank's current business day: today in New York, or the business day before a weekend. */
function bankToday(): IsoDate {
  let d = localDate(new Date(), ZONE);
  while (isWeekend(d)) {
    d = addDays(d, -1);
  }
  return d;
}

interface Measured {
  label: string;
  workers: number;
  integrations: number;
  rateLimitWindowsPerSecond: number;
  transactions: number;
  accountDays: number;
  windows: number;
  runs: number;
  failedRuns: number;
  seconds: number;
  txPerSecond: number;
  accountDaysPerSecond: number;
  windowsPerSecond: number;
  bankCalls: number;
  bankCallsPerSecond: number;
  cpuSeconds: { workers: number; postgres: number };
  /** CPU seconds (workers + Postgres) per wall second: how much of the machine the configuration used. */
  coresUsed: number;
  cpuMsPer1kTransactions: number;
  /** New connections the workers opened to the bank (through the proxy). */
  bankConnections: number;
  /** The delay the proxy really added per client chunk (measured), mean in this configuration. */
  proxyHeldMsMean: number;
  /** Window slots × wall seconds / windows: how long a window held a slot, measured (bank latency + our work). */
  slotSecondsPerWindow: number;
}

async function measure(
  cfg: Config,
  proxy: LatencyProxy,
  sim: SimChild,
  bankUrl: string,
  pkiDir: string,
  range: { from: IsoDate; to: IsoDate },
): Promise<Measured> {
  const tag = cfg.label.replace(/[^a-z0-9]+/gi, '').toLowerCase();
  const bdb = await createBenchDb(`workers_${tag}`, 4);
  const prefix = benchPrefix(`workers-${tag}`);
  const masterKey = randomBytes(32).toString('base64');
  const env = {
    NODE_ENV: 'production',
    DATABASE_URL: bdb.url,
    REDIS_URL,
    QUEUE_PREFIX: prefix,
    ROLES: 'worker',
    LOG_LEVEL: 'info',
    LOG_FORMAT: 'json',
    WORKER_CONCURRENCY: String(WORKER_CONCURRENCY),
    CREDENTIALS_MASTER_KEY: masterKey,
    // The simulator (and the proxy in front of it) listens on loopback, which the outbound policy refuses by default.
    OUTBOUND_ALLOW: '127.0.0.1',
  };
  const { config, secrets } = loadConfig({ ...process.env, ...env });
  const queues = createQueues({ redisUrl: REDIS_URL, prefix });
  const workers: Child[] = [];
  try {
    const pki = await ensureDevPki(pkiDir);
    const integrationIds: string[] = [];
    for (let i = 0; i < cfg.integrations; i++) {
      const organizationId = uuidv7();
      const integrationId = uuidv7();
      await bdb.db
        .insertInto('organizations')
        .values({ id: organizationId, name: `Bench customer ${i + 1}` })
        .execute();
      await bdb.db
        .insertInto('integrations')
        .values({
          id: integrationId,
          organization_id: organizationId,
          name: `Bench J.P. Morgan ${i + 1}`,
          environment: 'simulator',
          base_url: bankUrl,
          server_ca_pem: sim.info.caCertPem,
          stage: 'live',
        })
        .execute();
      const keyPair = await generateCsr(bdb.db, secrets, {
        integrationId,
        subject: SUBJECT,
        algorithm: 'EC-P256',
        actor: 'bench',
      });
      await installCertificate(bdb.db, {
        integrationId,
        certificatePem: await signCsr(pki, keyPair.csrPem),
        chainPem: sim.info.caCertPem,
        actor: 'bench',
      });
      integrationIds.push(integrationId);
    }
    const orgOf = new Map(
      (await bdb.db.selectFrom('integrations').select(['id', 'organization_id']).execute()).map((r) => [
        r.id,
        r.organization_id,
      ]),
    );
    const accounts = sim.info.accounts.map((a, i) => {
      const integrationId = integrationIds[i % integrationIds.length]!;
      return {
        id: uuidv7(),
        organization_id: orgOf.get(integrationId)!,
        integration_id: integrationId,
        jpm_account_id: a.accountId,
        bank_id: BANK_ID,
        currency: a.currency,
        decimal_location: a.decimalLocation,
        time_zone: ZONE,
      };
    });
    await bdb.db.insertInto('bank_accounts').values(accounts).execute();
    await sql`analyze`.execute(bdb.db);

    for (let i = 0; i < cfg.workers; i++) {
      workers.push(
        await spawnNode([...WORKER_NODE_ARGS, 'src/main/start.ts'], env, (l) => l.includes('"msg":"jpm-sync started"')),
      );
    }
    // Give the BullMQ workers a moment to connect (the process reports started once they are created).
    await sleep(1_000);
    const producer: ProducerDeps = {
      db: bdb.db,
      queues,
      now: () => new Date(),
      logger: createLogger('scheduler'),
      lookbackDays: config.sync.lookbackDays,
    };
    const sim0 = await sim.stats();
    const cpu0 = {
      workers: workers.map((w) => liveProcessCpuSeconds(w.pid)),
      pg: await postgresCpu(bdb.name),
    };
    const conn0 = proxy.connections();
    const held0 = proxy.held();
    const started = performance.now();
    const runIds: string[] = [];
    for (const a of accounts) {
      const { runs } = await triggerSync(producer, {
        accountId: a.id,
        request: { mode: 'range', ...range },
        trigger: 'backfill',
      });
      runIds.push(...runs.map((r) => r.runId));
    }
    let state = { open: runIds.length, failed: 0 };
    let lastPrint = 0;
    while (state.open > 0) {
      await sleep(250);
      const row = await bdb.db
        .selectFrom('sync_runs')
        .select((eb) => [
          eb.fn.countAll<string>().filterWhere('finished_at', 'is', null).as('open'),
          eb.fn
            .countAll<string>()
            .filterWhere('status', '<>', 'succeeded')
            .filterWhere('finished_at', 'is not', null)
            .as('failed'),
        ])
        .where('id', 'in', runIds)
        .executeTakeFirstOrThrow();
      state = { open: Number(row.open), failed: Number(row.failed) };
      const now = performance.now();
      if (now - lastPrint > 10_000) {
        lastPrint = now;
        console.log(`  ${cfg.label}: ${round((now - started) / 1000)} s, runs open ${state.open}/${runIds.length}`);
      }
    }
    const seconds = (performance.now() - started) / 1000;
    const workerCpu = workers.reduce((s, w, i) => s + liveProcessCpuSeconds(w.pid) - cpu0.workers[i]!, 0);
    const held1 = proxy.held();
    const heldChunks = held1.chunks - held0.chunks;
    const heldMean = heldChunks ? (held1.meanMs * held1.chunks - held0.meanMs * held0.chunks) / heldChunks : 0;
    const pgCpu = postgresCpuBetween(cpu0.pg, await postgresCpu(bdb.name));
    const sim1 = await sim.stats();
    const tx = Number(
      (await sql<{ n: string }>`select count(*)::text as n from transactions`.execute(bdb.db)).rows[0]?.n ?? 0,
    );
    const windows = planRun({ mode: 'range', ...range }, bankToday(), config.sync.lookbackDays).windows.length;
    const accountDays = accounts.length * (diffDays(range.from, range.to) + 1);
    const bankCalls = sim1.requests - sim0.requests;
    return {
      label: cfg.label,
      workers: cfg.workers,
      integrations: cfg.integrations,
      rateLimitWindowsPerSecond: cfg.integrations * DEFAULT_GUARD_SETTINGS.refillPerSecond,
      transactions: tx,
      accountDays,
      windows: windows * accounts.length,
      runs: runIds.length,
      failedRuns: state.failed,
      seconds: round(seconds, 1),
      txPerSecond: round(tx / seconds),
      accountDaysPerSecond: round(accountDays / seconds, 1),
      windowsPerSecond: round((windows * accounts.length) / seconds, 2),
      bankCalls,
      bankCallsPerSecond: round(bankCalls / seconds, 1),
      cpuSeconds: { workers: round(workerCpu, 2), postgres: round(pgCpu, 2) },
      coresUsed: round((workerCpu + pgCpu) / seconds, 2),
      cpuMsPer1kTransactions: round(((workerCpu + pgCpu) * 1e6) / (tx || 1), 1),
      bankConnections: proxy.connections() - conn0,
      proxyHeldMsMean: round(heldMean, 1),
      slotSecondsPerWindow: round((cfg.workers * WORKER_CONCURRENCY * seconds) / (windows * accounts.length || 1), 3),
    };
  } finally {
    await Promise.all(workers.map((w) => w.stop()));
    await queues.close();
    const redis = newRedis();
    try {
      await deletePrefix(redis, prefix);
    } finally {
      redis.disconnect();
    }
    await bdb.drop();
  }
}

export async function runWorkers(ctx: RunContext): Promise<BenchResult> {
  const finish = startResult(ctx, 'workers', `Backfill throughput with 1 and 3 worker processes, bank latency`);
  const commit = commitOf();
  const today = bankToday();
  const range = { from: addDays(today, -(RANGE_DAYS + 4)), to: addDays(today, -5) };
  const pkiDir = await mkdtemp(join(tmpdir(), 'jpm-sync-bench-workers-pki-'));
  ctx.cleanups.push(() => rm(pkiDir, { recursive: true, force: true }));
  const sim = await spawnSimulator({
    seed: SEED,
    today,
    accounts: ACCOUNTS,
    txPerDay: TX_PER_DAY,
    historyDays: RANGE_DAYS + 10,
    prerenderMaxBytes: 2 ** 30,
    pkiDir,
  });
  ctx.cleanups.push(() => sim.stop());
  const proxy = await startLatencyProxy(new URL(sim.info.url), LATENCY_MS);
  ctx.cleanups.push(() => proxy.stop());
  console.log(
    `workers: ${ACCOUNTS} accounts, ${range.from}..${range.to}, ~${TX_PER_DAY} tx per business day, bank latency ${LATENCY_MS} ms per call`,
  );
  const results: Measured[] = [];
  for (const cfg of CONFIGS) {
    const m = await measure(cfg, proxy, sim, proxy.url, pkiDir, range);
    console.log(
      `workers: ${m.label}: ${m.transactions} tx, ${m.accountDays} account-days in ${m.seconds} s = ${m.txPerSecond} tx/s, ${m.accountDaysPerSecond} account-days/s, ${m.windowsPerSecond} windows/s; ${m.coresUsed} cores; ${m.bankConnections} bank connections; proxy held ${m.proxyHeldMsMean} ms per chunk`,
    );
    results.push(m);
  }
  const [one, three, capped] = results as [Measured, Measured, Measured];
  const speedup = round(three.txPerSecond / (one.txPerSecond || 1), 2);
  return finish({
    parameters: {
      commit,
      accounts: ACCOUNTS,
      txPerBusinessDay: TX_PER_DAY,
      range: `${range.from}..${range.to}`,
      bankToday: today,
      bankLatencyMs: LATENCY_MS,
      workerConcurrency: WORKER_CONCURRENCY,
      workerNodeArgs: WORKER_NODE_ARGS.join(' '),
      rateLimit: DEFAULT_GUARD_SETTINGS,
    },
    figures: {
      configurations: results,
      speedup3vs1: speedup,
      oneIntegrationWindowsPerSecond: capped.windowsPerSecond,
      proxy: { connections: proxy.connections(), held: proxy.held() },
    },
    targets: [
      target('failed runs (all configurations)', one.failedRuns + three.failedRuns + capped.failedRuns, '==', 0),
      target(
        'same transactions stored in each configuration',
        new Set(results.map((r) => r.transactions)).size,
        '==',
        1,
      ),
      target('3 workers / 1 worker (tx/s), latency-bound', speedup, '>=', SPEEDUP_TARGET),
      target('3 workers: cores used (latency-bound precondition)', three.coresUsed, '<=', 1.2),
      target('proxy: mean delay per chunk (ms) at least the latency set', one.proxyHeldMsMean, '>=', LATENCY_MS * 0.99),
      target(
        'one integration: windows/s within its rate limit (+ burst)',
        capped.windowsPerSecond,
        '<=',
        DEFAULT_GUARD_SETTINGS.refillPerSecond * 1.25,
      ),
    ],
    notes: [
      `Each configuration: a fresh database, a queue prefix of its own on the shared Redis, ${'`node src/main/start.ts`'} with ROLES=worker, NODE_ENV=production, WORKER_CONCURRENCY ${WORKER_CONCURRENCY} (production's default is 4; fewer windows in flight keep the configurations latency-bound on a 2-core machine) and the worker role's V8 flags, as many processes as named; the clock is the real one. Seconds are wall-clock from the first trigger to the last run's end (includes enqueueing); CPU seconds are /proc figures of the worker processes and of the database's backends.`,
      `Bank latency: a TCP proxy holds each chunk the client sends for ${LATENCY_MS} ms (a request on a kept-alive connection arrives ${LATENCY_MS} ms later; a new TLS connection pays it twice). proxyHeldMsMean is the delay measured in the proxy (arrival to write upstream); bankConnections the connections the workers opened through it; slotSecondsPerWindow = processes × WORKER_CONCURRENCY × seconds / windows, how long a window held a slot.`,
      `Rate limit: the per-integration token bucket (${DEFAULT_GUARD_SETTINGS.refillPerSecond} windows/s, burst ${DEFAULT_GUARD_SETTINGS.capacity}), one token per window job, shared by every worker through Redis. With ${MANY_INTEGRATIONS} integrations it allows ${MANY_INTEGRATIONS * DEFAULT_GUARD_SETTINGS.refillPerSecond} windows/s; with one, ${DEFAULT_GUARD_SETTINGS.refillPerSecond}.`,
    ],
  });
}
