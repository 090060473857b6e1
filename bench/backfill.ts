/**
 * Benchmarks 1-3, from one backfill: end-to-end transactions/s against `COPY` of the same rows,
 * the re-import of the unchanged range (rate, rows updated, WAL) and the worker's memory.
 */
import { availableParallelism } from 'node:os';
import { sql } from 'kysely';
import { copyBaseline } from './lib/copy.ts';
import { startResult, type RunContext } from './lib/context.ts';
import {
  adminQuery,
  createBenchDb,
  round,
  sleep,
  tableStats,
  tableStatsDelta,
  target,
  type BenchResult,
} from './lib/env.ts';
import { createPipeline, seedTenancy, WORKER_NODE_ARGS, type MemorySample, type RunMeasure } from './lib/pipeline.ts';
import { catchUpSearch, sampleSearchLag } from './lib/search-step.ts';
import { holdWal, walBytesOfDatabase } from './lib/wal.ts';

/**
 * Two worker processes, the least the capacity model deploys (README, *Capacity model*) and one per core here: a
 * Node process runs its JavaScript on one core, so with one process the re-import (all worker CPU) left the
 * other core mostly idle. `BENCH_WORKER_PROCESSES` sets another count.
 */
const WORKER = { concurrency: 4, poolMax: 10, processes: Number(process.env.BENCH_WORKER_PROCESSES ?? 2) };

async function walLsn(): Promise<string> {
  const [row] = await adminQuery<{ lsn: string }>('select pg_current_wal_lsn()::text as lsn');
  return row!.lsn;
}

async function walBytes(from: string, to: string): Promise<number> {
  const [row] = await adminQuery<{ n: string }>('select pg_wal_lsn_diff($2::pg_lsn, $1::pg_lsn)::text as n', [
    from,
    to,
  ]);
  return Number(row!.n);
}

function cpuShare(m: RunMeasure) {
  const busy = m.cpu.machineBusySeconds || 1;
  return {
    ...m.cpu,
    simulatorShareOfBusyCpu: round(m.cpu.simulatorSeconds / busy, 3),
    workerShareOfBusyCpu: round(m.cpu.workerSeconds / busy, 3),
    postgresShareOfBusyCpu: round(m.cpu.postgresSeconds / busy, 3),
    machineUtilisation: round(busy / (m.cpu.machineTotalSeconds || 1), 3),
    simulatorHandlerCpuSeconds: m.simHandlerCpuSeconds,
  };
}

/**
 * Where a stored row's CPU goes, which the load of a shared machine changes far less than wall time: the
 * worker, the database's backends and the simulator per row, against the bare and indexed COPY backends' CPU
 * per row. `cpuBoundBareRatio` is what the end-to-end / bare COPY ratio would be if the pipeline's CPU spread
 * over every core of the machine and the COPY had one core to itself: an estimate, not a measured rate.
 */
function cpuPerRow(
  m: RunMeasure,
  rows: number,
  bareCopyUs: number,
  indexedCopyUs: number,
  searchEventsApplied: number,
) {
  const us = (seconds: number) => round((seconds * 1e6) / (rows || 1), 1);
  const pipelineUs = us(m.cpu.workerSeconds + m.cpu.postgresSeconds + m.cpu.simulatorSeconds);
  const ingestPostgresSeconds = m.cpu.postgresSeconds - m.cpu.postgresSearchStepSeconds - m.cpu.postgresBenchSeconds;
  const ingestPipelineUs = us(m.cpu.workerSeconds + ingestPostgresSeconds + m.cpu.simulatorSeconds);
  const cores = availableParallelism();
  return {
    workerMicroseconds: us(m.cpu.workerSeconds),
    postgresMicroseconds: us(m.cpu.postgresSeconds),
    simulatorMicroseconds: us(m.cpu.simulatorSeconds),
    postgresIngestMicroseconds: us(ingestPostgresSeconds),
    postgresSearchStepMicroseconds: us(m.cpu.postgresSearchStepSeconds),
    postgresBenchMicroseconds: us(m.cpu.postgresBenchSeconds),
    searchStepEventsAppliedDuringRun: searchEventsApplied,
    searchStepPostgresMicrosecondsPerEvent: round(
      (m.cpu.postgresSearchStepSeconds * 1e6) / (searchEventsApplied || 1),
      1,
    ),
    pipelineMicroseconds: pipelineUs,
    pipelineWithoutSearchStepMicroseconds: ingestPipelineUs,
    bareCopyBackendMicroseconds: bareCopyUs,
    indexedCopyBackendMicroseconds: indexedCopyUs,
    cores,
    cpuBoundBareRatio: round((bareCopyUs * cores) / (pipelineUs || 1), 3),
    cpuBoundBareRatioWithoutSearchStep: round((bareCopyUs * cores) / (ingestPipelineUs || 1), 3),
  };
}

function halves(samples: readonly MemorySample[], seconds: number): { first: number; second: number } {
  const mid = seconds / 2;
  const peak = (xs: readonly MemorySample[]) => xs.reduce((m, s) => Math.max(m, s.rssMB), 0);
  return { first: peak(samples.filter((s) => s.t < mid)), second: peak(samples.filter((s) => s.t >= mid)) };
}

/** Every 2 s of the run: the memory curve, small enough for the result file. */
function curve(samples: readonly MemorySample[]): [number, number][] {
  const out: [number, number][] = [];
  let next = 0;
  for (const s of samples) {
    if (s.t >= next) {
      out.push([s.t, s.rssMB]);
      next = s.t + 2;
    }
  }
  return out;
}

export async function runBackfillSuite(ctx: RunContext): Promise<BenchResult[]> {
  const ds = ctx.dataset;
  const finishBackfill = startResult(ctx, 'backfill', 'Backfill through the real pipeline vs COPY of the same rows');
  const bank = await ctx.bank();
  const bdb = await createBenchDb('backfill', 4);
  ctx.cleanups.push(() => bdb.drop());
  const { accounts } = await seedTenancy(bdb.db, bank);
  const pipe = createPipeline(bdb, bank, ds, accounts, WORKER);
  ctx.cleanups.push(() => pipe.close());
  const parameters = {
    accounts: ds.accounts,
    txPerBusinessDay: ds.txPerDay,
    calendarDays: ds.historyDays,
    range: `${ds.from}..${ds.to}`,
    workerProcesses: WORKER.processes,
    workerConcurrency: WORKER.concurrency,
    workerDbPool: WORKER.poolMax,
    workerNodeArgs: WORKER_NODE_ARGS.join(' '),
    seed: 'jpm-sync-bench-1',
  };

  await sql`checkpoint`.execute(bdb.db);
  console.log(
    `backfill: ${ds.accounts} accounts, ${ds.from}..${ds.to}, ~${ds.txPerDay} tx per business day (simulator pre-walk took ${bank.prewalk.seconds} s)`,
  );
  const lag = sampleSearchLag(bdb.db);
  const fill = await pipe.run('backfill');
  const lagDuringFill = await lag.stop();
  // What the search step (in the worker process during the run, as in production) has left, applied alone now.
  const search = await catchUpSearch(bdb.url);
  const counts = await sql<{ transactions: string; events: string; transaction_events: string }>`
    select (select count(*) from transactions)::text as transactions, (select count(*) from change_events)::text as events,
      (select count(*) from change_events where entity = 'transaction')::text as transaction_events`.execute(bdb.db);
  const transactions = Number(counts.rows[0]?.transactions ?? 0);
  const events = Number(counts.rows[0]?.events ?? 0);
  // The transaction events the step applied during the run: all of them but those left for the catch-up.
  const searchEventsApplied = Number(counts.rows[0]?.transaction_events ?? 0) - search.eventsLeft;
  const e2e = transactions / fill.seconds;
  console.log(
    `backfill: ${transactions} transactions in ${round(fill.seconds, 1)} s = ${round(e2e)} tx/s; search step: largest lag ${lagDuringFill.maxLagEvents} events / ${lagDuringFill.maxLagSeconds} s, ${search.eventsLeft} left at the end, caught up in ${search.seconds} s (${search.backendCpuMicrosecondsPerEvent} µs of Postgres CPU per event); COPY baselines next`,
  );

  const copy = await copyBaseline(bdb.url, bank.dir);
  // Autovacuum is off on this machine: analyze and set the visibility map now, as autovacuum would
  // after a bulk load, so neither the re-import nor the read benchmarks pay for it mid-measurement.
  await sql`vacuum (analyze)`.execute(bdb.db);
  const backfill = finishBackfill({
    parameters,
    figures: {
      transactions,
      changeEvents: events,
      seconds: round(fill.seconds, 1),
      txPerSecond: round(e2e),
      runs: fill.runs,
      failedRuns: fill.failedRuns,
      copy: copy.indexed,
      bareCopy: copy.bare,
      ratioToCopy: round(e2e / copy.indexed.rowsPerSecond, 3),
      ratioToBareCopy: round(e2e / copy.bare.rowsPerSecond, 3),
      cpu: cpuShare(fill),
      cpuPerRow: cpuPerRow(
        fill,
        transactions,
        copy.bare.backendCpuMicrosecondsPerRow,
        copy.indexed.backendCpuMicrosecondsPerRow,
        searchEventsApplied,
      ),
      simulator: { requests: fill.simRequests, cacheHits: fill.simCacheHits, prewalk: bank.prewalk },
      searchStep: {
        duringBackfill: process.env.BENCH_SEARCH_STEP !== 'off',
        maxLagEvents: lagDuringFill.maxLagEvents,
        maxLagSeconds: lagDuringFill.maxLagSeconds,
        lagSamplesEvery5s: lagDuringFill.samples,
        catchUp: search,
        searchableTxPerSecond: round(transactions / (fill.seconds + search.seconds)),
        searchableRatioToBareCopy: round(transactions / (fill.seconds + search.seconds) / copy.bare.rowsPerSecond, 3),
      },
    },
    targets: [
      target('end-to-end / bare COPY (primary key + identity key)', round(e2e / copy.bare.rowsPerSecond, 3), '>=', 0.7),
      target('end-to-end / COPY into the indexed table', round(e2e / copy.indexed.rowsPerSecond, 3), '>=', 0.5),
      target('failed runs', fill.failedRuns, '==', 0),
    ],
    notes: [
      'COPY: the same rows (COPY TO a file, then COPY FROM STDIN) into a table LIKE transactions INCLUDING ALL plus its foreign keys, after a checkpoint.',
      'Bare COPY: the same file into a table with the same columns, defaults and checks and only the primary key and the identity key (account_id, post_code, jpm_transaction_id): no other index, no foreign key. The ingest ceiling the issue measures against.',
      'The pipeline also writes a change event per transaction, balances, per-day bank tallies and run bookkeeping; COPY writes only the transaction rows.',
      "CPU shares are of the machine's busy CPU during the run, which includes other work on the machine when the load average is high.",
      "cpuPerRow: CPU seconds of the worker processes (together), the database backends and the simulator per stored transaction, against the CPU of the COPY backends per row; cpuBoundBareRatio = bare COPY µs × cores / pipeline µs, the ratio a machine with nothing else running could show (an estimate). postgresMicroseconds is every backend of the database; postgresSearchStepMicroseconds the search step's (its own pool in the bench worker, by application_name), postgresBenchMicroseconds the benchmark's own queries (progress polling, the lag sampler), postgresIngestMicroseconds the rest; the step's share is paid on the machine during the run, so pipelineMicroseconds and cpuBoundBareRatio include it (the *WithoutSearchStep figures leave it out; the worker's own CPU includes the step's small Node side either way). searchStepPostgresMicrosecondsPerEvent: the step's backend CPU per transaction event it applied during the run.",
      'The per-integration bank rate limiter (a courtesy towards J.P. Morgan, 5 windows/s) is lifted in the benchmark worker.',
      "searchStep: text search is filled after commit by the search step, which runs in the worker process during the backfill as in production, with production's defaults (SEARCH_INDEX_BUSY_SHARE, SEARCH_INDEX_MAX_LAG_SECONDS: it yields to the busy ingestion until its lag reaches the bound; BENCH_SEARCH_STEP=off leaves it out), so its CPU is in the run's figures. maxLagEvents / maxLagSeconds: the most transaction change events it had not applied yet and the age of the oldest, sampled every 5 s (q= reads those rows from transactions directly); samples are [s since start, events, age s]. catchUp: what it had left when the last run finished, applied alone on one connection afterwards (seconds, events/s, that backend's CPU per event). searchableTxPerSecond: transactions / (backfill + catch-up).",
    ],
  });

  const memoryHalves = halves(fill.memory, fill.seconds);
  const finishMemory = startResult(ctx, 'memory', 'Worker RSS during the backfill');
  const memory = finishMemory({
    parameters,
    figures: {
      peakVmHwmMB: fill.peakHwmMB,
      peakRssFirstHalfMB: memoryHalves.first,
      peakRssSecondHalfMB: memoryHalves.second,
      growthSecondVsFirstHalf: round(memoryHalves.second / (memoryHalves.first || 1), 3),
      transactions,
      rssCurveEvery2s: curve(fill.memory),
    },
    targets: [
      target('peak RSS (VmHWM)', fill.peakHwmMB, '<=', 300, 'MB'),
      target(
        'second-half peak / first-half peak',
        round(memoryHalves.second / (memoryHalves.first || 1), 3),
        '<=',
        1.1,
      ),
    ],
    notes: [
      'Sampled every 100 ms from /proc/<pid>/status of each worker child process, the largest of them at each sample (the limit is per process); MB = 10^6 bytes.',
      `Each worker runs with ${WORKER_NODE_ARGS.join(' ')} (the worker role's NODE_OPTIONS in docker/compose.yml); with V8's defaults a 10 % run (--scale 0.1) peaked at 520-550 MB, most of it garbage V8 had not collected yet.`,
    ],
  });

  const finishReimport = startResult(ctx, 'reimport', 'Re-import of the same range, unchanged');
  const idle0 = await walLsn();
  await sleep(5_000);
  const idleWal = await walBytes(idle0, await walLsn());
  const before = await tableStats(bdb.url);
  const hold = await holdWal();
  let again: RunMeasure;
  let lsn0: string;
  let lsn1: string;
  let ownWal: Awaited<ReturnType<typeof walBytesOfDatabase>>;
  try {
    lsn0 = await walLsn();
    again = await pipe.run('re-import');
    // Counters are flushed when the writing backends exit (the worker children have exited by now).
    await sleep(1_500);
    lsn1 = await walLsn();
    ownWal = await walBytesOfDatabase(bdb.name, lsn0, lsn1);
  } finally {
    await hold.release();
  }
  const after = await tableStats(bdb.url);
  const clusterWal = await walBytes(lsn0, lsn1);
  // The database's own WAL when pg_waldump can tell it, else the cluster-wide figure (an upper bound).
  const wal = ownWal?.bytes ?? clusterWal;
  const delta = tableStatsDelta(before, after);
  const txUpdated = delta.transactions?.upd ?? 0;
  const txInserted = delta.transactions?.ins ?? 0;
  const rate = transactions / again.seconds;
  const walPer100k = round((wal / transactions) * 100_000);
  const backgroundWalEstimate = round((idleWal / 5) * again.seconds);
  const reimport = finishReimport({
    parameters,
    figures: {
      transactions,
      seconds: round(again.seconds, 1),
      txPerSecond: round(rate),
      copyRowsPerSecond: copy.indexed.rowsPerSecond,
      ratioToCopy: round(rate / copy.indexed.rowsPerSecond, 3),
      transactionsUpdated: txUpdated,
      transactionsInserted: txInserted,
      rowChangesByTable: delta,
      walBytes: wal,
      walBytesPer100kTx: walPer100k,
      walSource: ownWal ? 'pg_waldump, records of this database' : 'cluster-wide LSN difference',
      walRecordsOfDatabase: ownWal?.records ?? null,
      clusterWalBytes: clusterWal,
      backgroundWalBytesPerSecondBefore: round(idleWal / 5),
      backgroundWalEstimateForRun: backgroundWalEstimate,
      failedRuns: again.failedRuns,
      cpu: cpuShare(again),
      workerPeakVmHwmMB: again.peakHwmMB,
    },
    targets: [
      target('re-import / COPY', round(rate / copy.indexed.rowsPerSecond, 3), '>=', 1.5),
      target('transactions rows updated', txUpdated, '==', 0),
      target('transactions rows inserted', txInserted, '==', 0),
      target('WAL per 100k transactions', walPer100k, '<', 1_000_000, 'bytes'),
      target('failed runs', again.failedRuns, '==', 0),
    ],
    notes: [
      'Rows updated: pg_stat_user_tables deltas read after the worker children (and so their backends) exited; sync_runs, bank_day_fetches and bank_accounts rows are run bookkeeping written on every sync by design.',
      "WAL: pg_waldump over the run's LSN range, counting records that touch this database's relations and their commit records; clusterWalBytes is the pg_current_wal_lsn() difference, which includes other databases' activity on this machine (backgroundWalEstimateForRun: the rate of the 5 s before, scaled to the run).",
    ],
  });
  ctx.backfilled = bdb;
  ctx.pipelineTxPerSecond = round(e2e);
  return [backfill, reimport, memory];
}
