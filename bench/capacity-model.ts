/**
 * Prints the README's capacity table (`node bench/capacity-model.ts`) from the unit costs in
 * bench/results/capacity.json and the bank-latency throughput in bench/results/workers.json, so the table's
 * arithmetic and its assumptions are in one place and every figure comes from a measured file.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { MAX_RANGE_DAYS, planRun } from '../src/scheduler/index.ts';
import { addDays, splitRange } from '../src/shared/time.ts';
import { RESULTS_DIR, type BenchResult } from './lib/env.ts';

const capacity = JSON.parse(readFileSync(join(RESULTS_DIR, 'capacity.json'), 'utf8')) as BenchResult;
const workersFile = JSON.parse(readFileSync(join(RESULTS_DIR, 'workers.json'), 'utf8')) as BenchResult;

interface DayRun {
  requests: number;
  cpu: { worker: number; postgres: number };
  fetched: number;
  inserted: number;
}
const f = capacity.figures as {
  unitCosts: Record<string, number> & { cpuMsPer1kTransactionsIngested: Record<string, number> };
  scheduledDay: { runs: Record<string, DayRun>; tableBytes: Record<string, number> };
  reads: Record<'transactions' | 'changes', { apiCpuMsPerPage: number; postgresCpuMsPerPage: number }>;
};
const u = f.unitCosts;
const A0 = Number(capacity.parameters.accounts);

// --- Assumptions (the schedule, the data a day brings, the reads) ---
const BUSINESS_DAYS_PER_YEAR = 250;
/** The default schedule: 4 intraday runs (at 1/8, 3/8, 5/8, 7/8 of the business day) and one prior-day run. */
const INTRADAY_PROGRESS = [1 / 8, 3 / 8, 5 / 8, 7 / 8];
const WINDOWS_PER_DAY = INTRADAY_PROGRESS.length + 1;
/** Two of three posted items are first seen pending intraday (later superseded), one in a hundred is withdrawn. */
const PENDING_PER_POSTED = 2 / 3 + 0.01;
/** Change events: one per posted row, `added` and `modified` per pending row. */
const EVENTS_PER_POSTED = 1 + 2 * PENDING_PER_POSTED;
/** The prior-day run reads the prior day and 5 lookback calendar days (≈ 4.3 business days), as 5- and 1-day requests. */
const PRIOR_DAY_BUSINESS_DAYS = [3.6, 0.7];
const CHANGE_FEED_RETENTION_BUSINESS_DAYS = Math.round((90 * 5) / 7);
/** Reads per account and business day: 50 read-API pages of 100 rows, plus the whole day's change feed once. */
const READ_PAGES_PER_ACCOUNT_DAY = 50;
/** The busiest hour of reads carries a quarter of the day's reads; the prior-day hour carries every account's prior-day run. */
const READ_PEAK_SHARE = 0.25;
/**
 * How long one bank call holds a window slot, measured: the `workers` benchmark's 1-worker configuration (each of its
 * windows is one bank call), slots × wall seconds / windows, at that benchmark's bank latency (bankLatencyMs).
 */
const oneWorker = (workersFile.figures.configurations as { workers: number; slotSecondsPerWindow: number }[]).find(
  (c) => c.workers === 1,
)!;
const SLOT_SECONDS_PER_CALL = oneWorker.slotSecondsPerWindow;
const BANK_LATENCY_MS = Number(workersFile.parameters.bankLatencyMs);
/** Production's default windows in flight per worker process (config/default.json WORKER_CONCURRENCY). */
const WORKER_CONCURRENCY = 4;
/** A process is sized to 70 % of one core; at least 2 of each role for availability. */
const CORE_BUDGET = 0.7;
const MIN_PROCESSES = 2;
const PAGE = 1000;
/** Finished jobs BullMQ keeps (src/scheduler/jobs.ts KEEP: removeOnComplete count, removeOnFail count). */
const KEEP_COMPLETED = 2_000;
const KEEP_FAILED = 5_000;

// --- Derived CPU costs of a scheduled run (ms of worker + Postgres CPU per account) ---
const runs = f.scheduledDay.runs;
const per = (r: DayRun) => ({
  cpu: ((r.cpu.worker + r.cpu.postgres) * 1000) / A0,
  worker: (r.cpu.worker * 1000) / A0,
  fetched: r.fetched / A0,
  inserted: r.inserted / A0,
});
const intradayReads = ['intraday 2', 'intraday 3', 'intraday 4'].map((k) => per(runs[k]!));
const avg = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const readOnly = { cpu: avg(intradayReads.map((x) => x.cpu)), fetched: avg(intradayReads.map((x) => x.fetched)) };
const prior = per(runs['prior-day']!);
const first = per(runs['intraday 1']!);
/** CPU per record read again (nothing stored) and the fixed CPU of a window, from two read-only runs. */
const msPerRecordRead = (prior.cpu - readOnly.cpu) / (prior.fetched - readOnly.fetched);
const msPerWindow = readOnly.cpu - msPerRecordRead * readOnly.fetched;
/** CPU per row a scheduled run stores (the first intraday run stored what it read). */
const msPerRowStored = (first.cpu - msPerWindow - msPerRecordRead * first.fetched) / (first.inserted || 1);
/** The worker process's share of that CPU: of reading (the read-only runs) and of storing rows (the backfill's). */
const readRuns = [...['intraday 2', 'intraday 3', 'intraday 4'].map((k) => runs[k]!), runs['prior-day']!];
const readWorkerShare =
  readRuns.reduce((s, r) => s + r.cpu.worker, 0) / readRuns.reduce((s, r) => s + r.cpu.worker + r.cpu.postgres, 0);
const storeWorkerShare = u.cpuMsPer1kTransactionsIngested.worker! / u.cpuMsPer1kTransactionsIngested.total!;
const bookkeepingBytesPerAccountDay =
  Object.entries(f.scheduledDay.tableBytes)
    .filter(([t]) => !['transactions', 'change_events', 'transaction_search'].includes(t))
    .reduce((s, [, b]) => s + b, 0) / A0;

const pages = (records: number) => Math.max(1, Math.ceil(records / PAGE));
function model(accounts: number, tx: number) {
  const rowsPerDay = tx * (1 + PENDING_PER_POSTED);
  const eventsPerDay = tx * EVENTS_PER_POSTED;
  const priorCalls = 2 + PRIOR_DAY_BUSINESS_DAYS.reduce((s, d) => s + pages(d * tx), 0);
  const bankCalls = INTRADAY_PROGRESS.reduce((s, p) => s + 1 + pages(p * tx), 0) + priorCalls;
  const recordsRead = INTRADAY_PROGRESS.reduce((s, p) => s + p * tx, 0) + (3.6 + 0.7) * tx;
  const cpuDayMs = WINDOWS_PER_DAY * msPerWindow + recordsRead * msPerRecordRead + rowsPerDay * msPerRowStored;
  // The prior-day hour: each account's prior-day run (its reads, and storing the day's posted rows).
  const peakReadMs = msPerWindow + (3.6 + 0.7) * tx * msPerRecordRead;
  const peakStoreMs = tx * msPerRowStored;
  const peakWorkerMs = peakReadMs * readWorkerShare + peakStoreMs * storeWorkerShare;
  const peakPostgresMs = peakReadMs + peakStoreMs - peakWorkerMs;
  const workerCpuProcesses = (accounts * peakWorkerMs) / 1000 / (3600 * CORE_BUDGET);
  const latencyProcesses = (accounts * priorCalls * SLOT_SECONDS_PER_CALL) / (WORKER_CONCURRENCY * 3600 * CORE_BUDGET);
  const workers = Math.max(MIN_PROCESSES, Math.ceil(Math.max(workerCpuProcesses, latencyProcesses)));
  const postgresPeakCores = (accounts * peakPostgresMs) / 1000 / 3600;
  const readApiMs =
    READ_PAGES_PER_ACCOUNT_DAY * f.reads.transactions.apiCpuMsPerPage +
    pages(eventsPerDay) * f.reads.changes.apiCpuMsPerPage;
  const apiProcesses = (accounts * readApiMs * READ_PEAK_SHARE) / 1000 / (3600 * CORE_BUDGET);
  const api = Math.max(MIN_PROCESSES, Math.ceil(apiProcesses));
  const redisBytes =
    accounts * u.redisBytesPerScheduledAccount! +
    accounts * 2 * u.redisBytesPerFinishedJobKept! + // a run and its window per account in flight in the prior-day hour
    (KEEP_COMPLETED + KEEP_FAILED) * u.redisBytesPerFinishedJobKept!; // the finished jobs BullMQ keeps, at most
  const postgresYear =
    BUSINESS_DAYS_PER_YEAR *
      accounts *
      (tx * u.postgresBytesPerTransaction! +
        tx * PENDING_PER_POSTED * u.postgresBytesPerPendingRow! +
        bookkeepingBytesPerAccountDay) +
    CHANGE_FEED_RETENTION_BUSINESS_DAYS * accounts * eventsPerDay * u.postgresBytesPerChangeEvent!;
  const walDay = accounts * rowsPerDay * u.walBytesPerTransactionBackfill!;
  return {
    bankCalls,
    cpuDayMs,
    workers,
    workerCpuProcesses,
    latencyProcesses,
    postgresPeakCores,
    api,
    redisBytes,
    postgresYear,
    walDay,
    peakRowsPerSecond: (accounts * tx) / 3600,
  };
}

const bytes = (b: number) =>
  b >= 1e12
    ? `${(b / 1e12).toFixed(1)} TB`
    : b >= 1e9
      ? `${(b / 1e9).toFixed(1)} GB`
      : b >= 1e6
        ? `${Math.round(b / 1e6)} MB`
        : `${Math.round(b / 1e3)} kB`;
const fixed = (x: number, d = 1) => x.toFixed(d);

console.log(
  `Derived: ${fixed(msPerWindow)} ms CPU per window, ${fixed(msPerRecordRead, 3)} ms per record read again, ${fixed(msPerRowStored, 3)} ms per row stored by a scheduled run; the worker process's share ${fixed(readWorkerShare * 100, 0)} % of reading, ${fixed(storeWorkerShare * 100, 0)} % of storing; bookkeeping ${bytes(bookkeepingBytesPerAccountDay)} per account-day; a bank call holds a window slot ${fixed(SLOT_SECONDS_PER_CALL, 3)} s (workers, 1 worker, bank latency ${BANK_LATENCY_MS} ms)`,
);
console.log(
  '\n| Accounts | Tx a day per account | Bank calls per account-day | Worker processes (CPU / latency bound) | Postgres cores in the prior-day hour | API replicas | Redis memory | Postgres after a year | WAL per day |',
);
console.log('| ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: |');
for (const accounts of [100, 1_000, 10_000]) {
  for (const tx of [100, 1_000, 10_000]) {
    const m = model(accounts, tx);
    console.log(
      `| ${accounts.toLocaleString('en-US')} | ${tx.toLocaleString('en-US')} | ${m.bankCalls} | **${m.workers}** (${fixed(m.workerCpuProcesses)} / ${fixed(m.latencyProcesses)}) | ${fixed(m.postgresPeakCores)} | ${m.api} | ${bytes(m.redisBytes)} | ${bytes(m.postgresYear)} | ${bytes(m.walDay)} |`,
    );
  }
}

// The per-integration rate limit against backfills: the windows of a 2-year backfill (as the producer plans it) and
// how many accounts' two years one integration can backfill in an hour at its refill rate.
const BACKFILL_TODAY = '2026-11-25';
const twoYearWindows = splitRange(addDays(BACKFILL_TODAY, -730), addDays(BACKFILL_TODAY, -1), MAX_RANGE_DAYS).reduce(
  (n, r) => n + planRun({ mode: 'range', ...r }, BACKFILL_TODAY, 5).windows.length,
  0,
);
const refill = Number((workersFile.parameters.rateLimit as { refillPerSecond: number }).refillPerSecond);
console.log(
  `\nRate limit: a 2-year backfill is ${twoYearWindows} windows per account; one integration (${refill} windows/s) backfills at most ${Math.floor((refill * 3600) / twoYearWindows)} accounts' two years an hour; a scheduled account-day is ${WINDOWS_PER_DAY} windows.`,
);
