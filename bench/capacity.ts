/**
 * The unit costs behind the README's capacity model, measured from real runs on this machine:
 *
 * - a backfill through the real pipeline (bench/lib/pipeline.ts: simulator child, worker child over mTLS, BullMQ on a
 *   private redis-server): CPU of the worker process and of the database's Postgres backends per 1,000 transactions
 *   (the search step's share apart), Postgres bytes per transaction and per change event (pg_total_relation_size,
 *   indexes and TOAST included, before/after), WAL per transaction (this database's records from pg_waldump, and the
 *   cluster-wide LSN difference), bank calls per account-day (the simulator's request count);
 * - a day of scheduled syncs at the default schedule (4 intraday runs, 1 prior-day run per account): bank calls,
 *   CPU and WAL per account-day;
 * - the intraday history a real account has (bench/lib/intraday.ts: superseded and withdrawn pending rows with their
 *   change events): bytes per pending row and per event;
 * - Redis: INFO used_memory of the private server with the job schedulers of N accounts registered, and per finished
 *   job BullMQ keeps;
 * - the read API (`GET /v1/transactions?limit=100`) and the change feed (`GET /v1/changes?limit=1000`) served by the
 *   real API app in a child process: CPU of that process and of Postgres per page.
 *
 * CPU figures are CPU time (from /proc), which other work on a shared machine changes far less than wall time; the
 * rates (pages/s, seconds) are wall-clock and are given only as context.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { sql } from 'kysely';
import { createApiKey } from '../src/admin-api/api-keys.service.ts';
import type { SyncRequest } from '../src/domain/types.ts';
import { reconcileSchedules } from '../src/scheduler/index.ts';
import { uuidv7 } from '../src/shared/ids.ts';
import { createLogger } from '../src/shared/logger.ts';
import { addDays, diffDays } from '../src/shared/time.ts';
import type { Database } from '../src/storage/db.ts';
import { startPrivateRedis } from '../tests/chaos/support/redis-server.ts';
import { spawnServer } from './lib/children.ts';
import { startResult, type RunContext } from './lib/context.ts';
import {
  adminQuery,
  commitOf,
  createBenchDb,
  liveProcessCpuSeconds,
  postgresCpu,
  postgresCpuBetween,
  round,
  target,
  type BenchDb,
  type BenchResult,
} from './lib/env.ts';
import { addIntradayHistory } from './lib/intraday.ts';
import { BANK_ID, createPipeline, datasetFor, seedTenancy, startBank, type RunMeasure } from './lib/pipeline.ts';
import { catchUpSearch } from './lib/search-step.ts';
import { holdWal, walBytesOfDatabase } from './lib/wal.ts';

const WORKER = { concurrency: 4, poolMax: 10 };
/** Accounts whose job schedulers are registered for the Redis figure. */
const SCHEDULED_ACCOUNTS = 5_000;
const READ_SECONDS = Number(process.env.BENCH_CAPACITY_READ_SECONDS ?? 10);
/** The default schedule (bank_accounts.intraday_runs_per_day defaults to 4) plus the prior-day run. */
const INTRADAY_RUNS = 4;

/** pg_total_relation_size (heap, indexes, TOAST) of every table of the database, in bytes. */
async function relationSizes(db: Database): Promise<Record<string, number>> {
  const r = await sql<{ relname: string; bytes: string }>`
    select c.relname, pg_total_relation_size(c.oid)::text as bytes from pg_class c
    where c.relnamespace = 'public'::regnamespace and c.relkind in ('r', 'p')`.execute(db);
  return Object.fromEntries(r.rows.map((x) => [x.relname, Number(x.bytes)]));
}

function sizeDelta(before: Record<string, number>, after: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [t, b] of Object.entries(after)) {
    const d = b - (before[t] ?? 0);
    if (d !== 0) {
      out[t] = d;
    }
  }
  return out;
}

async function counts(db: Database): Promise<{ transactions: number; events: number; searchRows: number }> {
  const r = await sql<{ t: string; e: string; s: string }>`
    select (select count(*) from transactions)::text as t, (select count(*) from change_events)::text as e,
      (select count(*) from transaction_search)::text as s`.execute(db);
  const row = r.rows[0]!;
  return { transactions: Number(row.t), events: Number(row.e), searchRows: Number(row.s) };
}

async function walLsn(): Promise<string> {
  const [row] = await adminQuery<{ lsn: string }>('select pg_current_wal_lsn()::text as lsn');
  return row!.lsn;
}

async function walDiff(from: string, to: string): Promise<number> {
  const [row] = await adminQuery<{ n: string }>('select pg_wal_lsn_diff($2::pg_lsn, $1::pg_lsn)::text as n', [
    from,
    to,
  ]);
  return Number(row!.n);
}

const WALDUMP = 'pg_waldump, records of this database';

/** WAL between two moments: this database's records (pg_waldump) when readable, and the whole cluster's. */
async function walAround<T>(
  bdb: BenchDb,
  fn: () => Promise<T>,
): Promise<{ result: T; bytes: number; clusterBytes: number; source: string }> {
  const hold = await holdWal();
  try {
    const from = await walLsn();
    const result = await fn();
    const to = await walLsn();
    const own = await walBytesOfDatabase(bdb.name, from, to);
    const clusterBytes = await walDiff(from, to);
    return {
      result,
      bytes: own?.bytes ?? clusterBytes,
      clusterBytes,
      source: own ? WALDUMP : 'cluster-wide LSN difference',
    };
  } finally {
    await hold.release();
  }
}

function usedMemory(info: string): number {
  const m = /^used_memory:(\d+)/m.exec(info);
  if (!m) {
    throw new Error('capacity: no used_memory line in Redis INFO memory');
  }
  return Number(m[1]);
}

/** CPU seconds of ingestion: the worker process and the database's backends, without the benchmark's own polling. */
function ingestCpu(m: RunMeasure) {
  const postgres = m.cpu.postgresSeconds - m.cpu.postgresBenchSeconds;
  return { worker: m.cpu.workerSeconds, postgres: round(postgres, 2), searchStep: m.cpu.postgresSearchStepSeconds };
}

interface WalkResult {
  pages: number;
  items: number;
  seconds: number;
  pagesPerSecondWall: number;
  cpu: { apiSeconds: number; postgresSeconds: number };
  apiCpuMsPerPage: number;
  postgresCpuMsPerPage: number;
  cpuMsPerPage: number;
  cpuMicrosecondsPerItem: number;
}

/**
 * `clients` callers each walk pages of `paths[i % paths.length]` (following nextCursor, from the start again at the
 * end) for `seconds`; CPU of the API process and of the database's backends per page.
 */
async function walkPages(
  base: string,
  paths: readonly string[],
  headers: Record<string, string>,
  opts: { clients: number; seconds: number; apiPid: number; database: string },
): Promise<WalkResult> {
  const cpu0 = { api: liveProcessCpuSeconds(opts.apiPid), pg: await postgresCpu(opts.database) };
  const started = performance.now();
  const deadline = started + opts.seconds * 1000;
  let pages = 0;
  let items = 0;
  const walker = async (path: string) => {
    let cursor: string | null = null;
    while (performance.now() < deadline) {
      const res = await fetch(`${base}${path}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, { headers });
      if (!res.ok) {
        throw new Error(`${path} answered ${res.status}: ${await res.text()}`);
      }
      const page = (await res.json()) as { data: unknown[]; nextCursor: string | null };
      pages++;
      items += page.data.length;
      cursor = page.nextCursor;
    }
  };
  await Promise.all(Array.from({ length: opts.clients }, (_, i) => walker(paths[i % paths.length]!)));
  const seconds = (performance.now() - started) / 1000;
  const apiSeconds = liveProcessCpuSeconds(opts.apiPid) - cpu0.api;
  const postgresSeconds = postgresCpuBetween(cpu0.pg, await postgresCpu(opts.database));
  const per = (s: number) => round((s * 1000) / (pages || 1), 3);
  return {
    pages,
    items,
    seconds: round(seconds, 1),
    pagesPerSecondWall: round(pages / seconds, 1),
    cpu: { apiSeconds: round(apiSeconds, 2), postgresSeconds: round(postgresSeconds, 2) },
    apiCpuMsPerPage: per(apiSeconds),
    postgresCpuMsPerPage: per(postgresSeconds),
    cpuMsPerPage: per(apiSeconds + postgresSeconds),
    cpuMicrosecondsPerItem: round(((apiSeconds + postgresSeconds) * 1e6) / (items || 1), 1),
  };
}

export async function runCapacity(ctx: RunContext): Promise<BenchResult> {
  const finish = startResult(ctx, 'capacity', 'Unit costs for the capacity model');
  const commit = commitOf();
  // The backfill dataset's accounts and daily volume, over a shorter history (35 calendar days at scale 1).
  const base = datasetFor(1);
  const historyDays = Math.max(7, Math.round(35 * ctx.scale));
  const ds = { ...base, historyDays, from: addDays(base.today, -historyDays) };
  const bank = await startBank(ds);
  ctx.cleanups.push(() => bank.stop());
  const redisServer = await startPrivateRedis();
  ctx.cleanups.push(() => redisServer.stop());
  const redis = new Redis(redisServer.url, { maxRetriesPerRequest: 3 });
  ctx.cleanups.push(() => Promise.resolve(redis.disconnect()));
  const bdb = await createBenchDb('capacity', 4);
  ctx.cleanups.push(() => bdb.drop());
  const { accounts } = await seedTenancy(bdb.db, bank);
  const pipe = createPipeline(bdb, bank, ds, accounts, { ...WORKER, redisUrl: redisServer.url });
  ctx.cleanups.push(() => pipe.close());
  await sql`checkpoint`.execute(bdb.db);
  const redisEmpty = usedMemory(await redis.info('memory'));

  // 1. Backfill: CPU, bytes and WAL per transaction, bank calls per account-day.
  console.log(
    `capacity: backfill of ${ds.accounts} accounts, ${ds.from}..${ds.to}, ~${ds.txPerDay} tx per business day`,
  );
  const sizes0 = await relationSizes(bdb.db);
  const sim0 = await bank.sim.stats();
  const fillWal = await walAround(bdb, () => pipe.run('capacity backfill'));
  const fill = fillWal.result;
  // What the search step had left when the last run ended, applied now (its WAL apart: the trigram GIN's share).
  const searchWal = await walAround(bdb, () => catchUpSearch(bdb.url));
  const search = searchWal.result;
  const sim1 = await bank.sim.stats();
  const sizes1 = await relationSizes(bdb.db);
  const afterFill = await counts(bdb.db);
  const tx = afterFill.transactions;
  const fillCpu = ingestCpu(fill);
  const searchCatchUpSeconds = (search.backendCpuMicrosecondsPerEvent * search.eventsLeft) / 1e6;
  const calendarDays = diffDays(ds.from, ds.to) + 1;
  const fillSizes = sizeDelta(sizes0, sizes1);
  /** CPU milliseconds per 1,000 transactions. */
  const perK = (s: number) => round((s * 1e6) / (tx || 1), 1);
  console.log(
    `capacity: ${tx} transactions in ${round(fill.seconds, 1)} s; ${fill.simRequests} bank calls; WAL ${fillWal.bytes} + ${searchWal.bytes} B (search catch-up) (${fillWal.source})`,
  );

  // 2. A day of scheduled syncs at the default schedule, at one bank clock (midday): 4 intraday runs, 1 prior-day run.
  const day: Record<
    string,
    {
      requests: number;
      byPath: Record<string, number>;
      cpu: ReturnType<typeof ingestCpu>;
      /** Records the runs read from the bank and rows they inserted (sync_runs counters of the runs). */
      fetched: number;
      inserted: number;
    }
  > = {};
  const runTotals = async () => {
    const r = await sql<{ fetched: string; inserted: string }>`
      select coalesce(sum(fetched), 0)::text as fetched, coalesce(sum(inserted), 0)::text as inserted
      from sync_runs where parent_run_id is null`.execute(bdb.db);
    return { fetched: Number(r.rows[0]?.fetched ?? 0), inserted: Number(r.rows[0]?.inserted ?? 0) };
  };
  // One warm worker child for the whole day (as a deployment's long-running worker): a prior-day run first, not
  // measured, so start-up, JIT warm-up and new connections are not in the runs' CPU.
  await pipe.holdWorker();
  const warmTotals0 = await runTotals();
  const warmUp = await pipe.run('warm-up (prior-day, not measured)', [{ mode: 'prior_day' }]);
  const warmTotals1 = await runTotals();
  const warmUpInserted = warmTotals1.inserted - warmTotals0.inserted;
  if (warmUp.failedRuns > 0) {
    throw new Error(`capacity: ${warmUp.failedRuns} warm-up runs failed`);
  }
  const daySizes0 = await relationSizes(bdb.db);
  const dayCounts0 = await counts(bdb.db);
  const dayWal = await walAround(bdb, async () => {
    const runs: [string, SyncRequest][] = [
      ...Array.from({ length: INTRADAY_RUNS }, (_, i): [string, SyncRequest] => [
        `intraday ${i + 1}`,
        { mode: 'intraday' },
      ]),
      ['prior-day', { mode: 'prior_day' }],
    ];
    for (const [label, request] of runs) {
      const before = await bank.sim.stats();
      const totals0 = await runTotals();
      const m = await pipe.run(label, [request]);
      const totals1 = await runTotals();
      const after = await bank.sim.stats();
      const byPath: Record<string, number> = {};
      for (const [p, n] of Object.entries(after.byPath)) {
        const d = n - (before.byPath[p] ?? 0);
        if (d) {
          byPath[p] = d;
        }
      }
      if (m.failedRuns > 0) {
        throw new Error(`capacity: ${m.failedRuns} ${label} runs failed`);
      }
      day[label] = {
        requests: m.simRequests,
        byPath,
        cpu: ingestCpu(m),
        fetched: totals1.fetched - totals0.fetched,
        inserted: totals1.inserted - totals0.inserted,
      };
    }
  });
  await pipe.releaseWorker();
  const daySizes = sizeDelta(daySizes0, await relationSizes(bdb.db));
  const dayCounts1 = await counts(bdb.db);
  const dayRequests = Object.values(day).reduce((n, d) => n + d.requests, 0);
  const dayCpuSeconds = Object.values(day).reduce((n, d) => n + d.cpu.worker + d.cpu.postgres, 0);

  // 3. Redis: finished jobs BullMQ keeps, then the job schedulers of SCHEDULED_ACCOUNTS accounts.
  const syncCounts = await pipe.queues.queue('sync').getJobCounts();
  const redisAfterRuns = usedMemory(await redis.info('memory'));
  const finishedJobs = (syncCounts.completed ?? 0) + (syncCounts.failed ?? 0);
  const organizationId = uuidv7();
  const integrationId = uuidv7();
  await bdb.db.insertInto('organizations').values({ id: organizationId, name: 'Scheduled accounts' }).execute();
  await bdb.db
    .insertInto('integrations')
    .values({
      id: integrationId,
      organization_id: organizationId,
      name: 'Scheduled J.P. Morgan',
      environment: 'simulator',
      base_url: 'https://127.0.0.1:1',
      stage: 'live',
    })
    .execute();
  const zones = ['America/New_York', 'America/Chicago', 'Europe/London', 'Asia/Tokyo'];
  const rows = Array.from({ length: SCHEDULED_ACCOUNTS }, (_, i) => ({
    id: uuidv7(),
    organization_id: organizationId,
    integration_id: integrationId,
    jpm_account_id: String(200_000_000_000_000 + i),
    bank_id: BANK_ID,
    currency: 'USD',
    decimal_location: 2,
    time_zone: zones[i % zones.length]!,
  }));
  for (let i = 0; i < rows.length; i += 2_000) {
    await bdb.db
      .insertInto('bank_accounts')
      .values(rows.slice(i, i + 2_000))
      .execute();
  }
  const redisBeforeSchedules = usedMemory(await redis.info('memory'));
  const reconciled = await reconcileSchedules(
    { db: bdb.db, queues: pipe.queues, logger: createLogger('scheduler') },
    { integrationId },
  );
  const redisAfterSchedules = usedMemory(await redis.info('memory'));
  const scheduleBytesPerAccount = round((redisAfterSchedules - redisBeforeSchedules) / SCHEDULED_ACCOUNTS);
  const perFinishedJob = round((redisAfterRuns - redisEmpty) / (finishedJobs || 1));

  // 4. The intraday history a real account has: superseded and withdrawn pending rows with their change events.
  const histSizes0 = await relationSizes(bdb.db);
  const histCounts0 = await counts(bdb.db);
  const history = await addIntradayHistory(bdb.db);
  const histSizes = sizeDelta(histSizes0, await relationSizes(bdb.db));
  const histCounts1 = await counts(bdb.db);
  const histRows = histCounts1.transactions - histCounts0.transactions;
  const histEvents = histCounts1.events - histCounts0.events;
  await sql`vacuum (analyze)`.execute(bdb.db);
  const finalSizes = await relationSizes(bdb.db);
  const finalCounts = await counts(bdb.db);

  // 5. Reads through the real API app: CPU per read-API page and per change-feed page.
  const { token } = await createApiKey(bdb.db, {
    name: 'bench-capacity',
    role: 'viewer',
    organizationId: null,
    createdByKeyId: null,
  });
  const api = await spawnServer('api-child.ts', {
    NODE_ENV: 'production',
    DATABASE_URL: bdb.url,
    REDIS_URL: redisServer.url,
    QUEUE_PREFIX: pipe.prefix,
    HOST: '127.0.0.1',
    PORT: '0',
    LOG_LEVEL: 'info',
    LOG_FORMAT: 'json',
    DB_POOL_MAX: '10',
    ROLES: 'api',
    CREDENTIALS_MASTER_KEY: randomBytes(32).toString('base64'),
  });
  let reads: { transactions: WalkResult; changes: WalkResult };
  try {
    const apiBase = `http://127.0.0.1:${api.port}`;
    const auth = { authorization: `Bearer ${token}` };
    const opts = { seconds: READ_SECONDS, apiPid: api.pid, database: bdb.name };
    const account = accounts[0]!.id;
    // Warm-up (connections, caches), not measured.
    await walkPages(apiBase, ['/v1/transactions?limit=100', '/v1/changes?limit=1000'], auth, {
      ...opts,
      clients: 2,
      seconds: 3,
    });
    reads = {
      transactions: await walkPages(
        apiBase,
        [
          '/v1/transactions?limit=100',
          '/v1/transactions?limit=100&sort=bookingDate',
          `/v1/transactions?limit=100&accountId=${account}`,
          '/v1/transactions?limit=100&status=posted',
        ],
        auth,
        { ...opts, clients: 4 },
      ),
      changes: await walkPages(apiBase, ['/v1/changes?limit=1000'], auth, { ...opts, clients: 2 }),
    };
  } finally {
    await api.stop();
  }

  const per = (bytes: number, n: number) => round(bytes / (n || 1));
  const businessDays = Math.round(tx / ds.accounts / ds.txPerDay);
  const unitCosts = {
    cpuMsPer1kTransactionsIngested: {
      worker: perK(fillCpu.worker),
      postgresIngest: perK(fillCpu.postgres - fillCpu.searchStep),
      postgresSearchStep: perK(fillCpu.searchStep + searchCatchUpSeconds),
      total: perK(fillCpu.worker + fillCpu.postgres + searchCatchUpSeconds),
    },
    cpuMsPerReadApiPage100: reads.transactions.cpuMsPerPage,
    cpuMsPerChangeFeedPage1000: reads.changes.cpuMsPerPage,
    postgresBytesPerTransaction: per(
      (fillSizes.transactions ?? 0) + (fillSizes.transaction_search ?? 0),
      afterFill.transactions,
    ),
    postgresBytesPerTransactionWithoutSearch: per(fillSizes.transactions ?? 0, afterFill.transactions),
    postgresBytesPerChangeEvent: per(fillSizes.change_events ?? 0, afterFill.events),
    postgresBytesPerPendingRow: per((histSizes.transactions ?? 0) + (histSizes.transaction_search ?? 0), histRows),
    postgresBytesPerChangeEventIntraday: per(histSizes.change_events ?? 0, histEvents),
    walBytesPerTransactionBackfill: per(fillWal.bytes + searchWal.bytes, tx),
    walBytesPerSearchCatchUpEvent: per(searchWal.bytes, search.eventsLeft),
    walBytesPerAccountDayScheduled: per(dayWal.bytes, ds.accounts),
    redisBytesPerScheduledAccount: scheduleBytesPerAccount,
    redisBytesPerFinishedJobKept: perFinishedJob,
    bankCallsPerAccountDayBackfill: round(fill.simRequests / (ds.accounts * calendarDays), 3),
    bankCallsPerAccountDayScheduled: round(dayRequests / ds.accounts, 2),
    cpuMsPerAccountDayScheduled: round((dayCpuSeconds * 1000) / ds.accounts, 1),
  };
  return finish({
    parameters: {
      commit,
      accounts: ds.accounts,
      txPerBusinessDay: ds.txPerDay,
      calendarDays,
      businessDays,
      range: `${ds.from}..${ds.to}`,
      workerConcurrency: WORKER.concurrency,
      intradayRunsPerDay: INTRADAY_RUNS,
      scheduledAccountsForRedis: SCHEDULED_ACCOUNTS,
      readSeconds: READ_SECONDS,
    },
    figures: {
      unitCosts,
      backfill: {
        transactions: tx,
        changeEvents: afterFill.events,
        seconds: round(fill.seconds, 1),
        txPerSecondWall: round(tx / fill.seconds),
        failedRuns: fill.failedRuns,
        cpuSeconds: { ...fillCpu, searchCatchUp: round(searchCatchUpSeconds, 2), simulator: fill.cpu.simulatorSeconds },
        searchCatchUp: search,
        bankCalls: fill.simRequests,
        bankCallsByPath: Object.fromEntries(
          Object.entries(sim1.byPath).map(([p, n]) => [p, n - (sim0.byPath[p] ?? 0)]),
        ),
        tableBytes: fillSizes,
        wal: {
          bytes: fillWal.bytes,
          source: fillWal.source,
          clusterBytes: fillWal.clusterBytes,
          searchCatchUpBytes: searchWal.bytes,
          searchCatchUpClusterBytes: searchWal.clusterBytes,
        },
      },
      scheduledDay: {
        warmUp: {
          note: 'one worker child held for the warm-up and the five runs; this prior-day run is not counted',
          requests: warmUp.simRequests,
          cpu: ingestCpu(warmUp),
          inserted: warmUpInserted,
        },
        runs: day,
        bankCallsPerAccount: round(dayRequests / ds.accounts, 2),
        newTransactions: dayCounts1.transactions - dayCounts0.transactions,
        newChangeEvents: dayCounts1.events - dayCounts0.events,
        tableBytes: daySizes,
        wal: { bytes: dayWal.bytes, source: dayWal.source, clusterBytes: dayWal.clusterBytes },
      },
      intradayHistory: { ...history, rows: histRows, events: histEvents, tableBytes: histSizes },
      afterVacuum: { counts: finalCounts, tableBytes: finalSizes },
      redis: {
        usedMemoryEmpty: redisEmpty,
        usedMemoryAfterRuns: redisAfterRuns,
        syncJobCounts: syncCounts,
        usedMemoryBeforeSchedules: redisBeforeSchedules,
        usedMemoryAfterSchedules: redisAfterSchedules,
        schedulesReconciled: reconciled,
      },
      reads,
    },
    targets: [
      target('backfill failed runs', fill.failedRuns, '==', 0),
      target('job schedulers registered', reconciled.upserted, '==', 2 * SCHEDULED_ACCOUNTS),
      target('read API pages read', reads.transactions.pages, '>=', 1),
      target('change feed pages read', reads.changes.pages, '>=', 1),
      // Preconditions: a measurement that silently became zero or fell back fails the run instead.
      ...[fillWal, searchWal, dayWal].map((w, i) =>
        target(
          `WAL of ${['the backfill', 'the search catch-up', 'the scheduled day'][i]} read from pg_waldump (1 = yes)`,
          w.source === WALDUMP ? 1 : 0,
          '==',
          1,
        ),
      ),
      target('backfill: transactions bytes', fillSizes.transactions ?? 0, '>=', 1),
      target('backfill: transaction_search bytes', fillSizes.transaction_search ?? 0, '>=', 1),
      target('backfill: change_events bytes', fillSizes.change_events ?? 0, '>=', 1),
      target('search rows - transactions after the backfill', afterFill.searchRows - afterFill.transactions, '==', 0),
      target('search rows - transactions at the end', finalCounts.searchRows - finalCounts.transactions, '==', 0),
      target('intraday history: transactions bytes', histSizes.transactions ?? 0, '>=', 1),
      target('intraday history: transaction_search bytes', histSizes.transaction_search ?? 0, '>=', 1),
      target('warm-up run: rows inserted', warmUpInserted, '==', 0),
      target('scheduled day: intraday 1 rows inserted', day['intraday 1']!.inserted, '>=', 1),
      target(
        'scheduled day: new transactions - rows intraday 1 inserted',
        dayCounts1.transactions - dayCounts0.transactions - day['intraday 1']!.inserted,
        '==',
        0,
      ),
      target(
        'scheduled day: rows inserted by intraday 2-4 and prior-day (they read what is stored)',
        ['intraday 2', 'intraday 3', 'intraday 4', 'prior-day'].reduce((n, k) => n + day[k]!.inserted, 0),
        '==',
        0,
      ),
      target(
        'scheduled day: records read, intraday 2 = intraday 1 (the same half day)',
        day['intraday 2']!.fetched - day['intraday 1']!.fetched,
        '==',
        0,
      ),
      target(
        'scheduled day: records read by prior-day - by intraday 2 (the model splits by it)',
        day['prior-day']!.fetched - day['intraday 2']!.fetched,
        '>=',
        1,
      ),
    ],
    notes: [
      'CPU: /proc CPU seconds of the worker child process and of every Postgres backend of the database (the benchmark’s own polling backends left out); cpuMsPer1kTransactionsIngested.postgresSearchStep is the search step’s backends during the run plus its catch-up afterwards. The simulator’s CPU is the bank’s, not ours, and is not counted. seconds, txPerSecondWall and pagesPerSecondWall are wall-clock: context only on a shared machine.',
      'Bytes: pg_total_relation_size (heap, indexes, TOAST) before and after, on a database with autovacuum off and no updates to the new rows yet (no dead tuples; production adds bloat). postgresBytesPerTransaction includes the search table row (transaction_search, GIN trigram included); postgresBytesPerPendingRow and postgresBytesPerChangeEventIntraday come from the intraday history (bench/lib/intraday.ts) written by SQL, not by the pipeline.',
      'WAL: this database’s records from pg_waldump over the LSN range (a temporary replication slot holds the segments), falling back to the cluster-wide LSN difference; the backfill range includes the search step’s catch-up. Full-page images depend on checkpoint timing (max_wal_size 1GB, checkpoint_timeout 5min here).',
      'Scheduled day: one worker child runs the whole day (a warm process, as in a deployment): a prior-day run first warms it and is not counted, then the 4 intraday runs and the prior-day run are measured. The worker’s and the simulator’s clocks stay at midday of one business day (progress 0.5), so the 4 intraday runs see the same half day (the first one stores it, the others only read) and the prior-day run re-reads the prior day and the 5 lookback days, all already stored: bank calls are those of a day at this volume; the rows and events a day adds in production are modelled from the intraday history instead.',
      'Redis: a private redis-server (INFO used_memory, no other client). redisBytesPerFinishedJobKept: memory after the runs over the empty server, per completed or failed job BullMQ still holds (removeOnComplete keeps 2,000 per queue, 7 days). redisBytesPerScheduledAccount: the two job schedulers (intraday, prior-day) of each of the accounts and their next delayed job.',
      'Reads: the real API app (api-child.ts, production mode) over the database after the intraday history and VACUUM ANALYZE; 4 clients walking transaction pages (newest first, oldest first, one account, status=posted) and 2 walking the change feed from its start, each following nextCursor, one request at a time per client.',
    ],
  });
}
