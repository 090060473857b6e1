/**
 * The worker role in a process of its own: the same `startWorkers` (BullMQ job catalog and handlers)
 * the service runs, the real J.P. Morgan client over mTLS to the simulator, the real sync path into
 * the benchmark's database. The parent samples this process's memory and CPU from /proc.
 *
 * Settings come in BENCH_WORKER (JSON). Prints `ready` once the workers are connected; SIGTERM closes
 * gracefully (jobs finish, pools end, so every Postgres backend of this process has exited when it does).
 */
import { readFileSync } from 'node:fs';
import { initLogger } from '../../src/shared/logger.ts';
import { runWorkerProcess } from '../../tests/helpers/worker-process.ts';
import { SEARCH_STEP_APPLICATION_NAME } from './env.ts';

export interface WorkerChildOptions {
  dbUrl: string;
  redisUrl: string;
  prefix: string;
  simUrl: string;
  credFile: string;
  today: string;
  concurrency: number;
  poolMax: number;
}

const cfg = JSON.parse(process.env.BENCH_WORKER ?? '{}') as WorkerChildOptions;
/** The search step's production defaults (batch size, busy share, lag bound), so the benchmark measures what production runs. */
const defaults = JSON.parse(readFileSync(new URL('../../config/default.json', import.meta.url), 'utf8')) as Record<
  string,
  string
>;
const searchIndex = {
  batchSize: Number(process.env.BENCH_SEARCH_BATCH ?? defaults.SEARCH_INDEX_BATCH_SIZE),
  busyShare: Number(defaults.SEARCH_INDEX_BUSY_SHARE),
  maxLagSeconds: Number(defaults.SEARCH_INDEX_MAX_LAG_SECONDS),
  // A pool of its own (production shares the worker's): the benchmark reports its backends' CPU apart from ingestion's.
  applicationName: SEARCH_STEP_APPLICATION_NAME,
};
initLogger({ level: process.env.BENCH_LOG_LEVEL ?? 'warn', format: 'json' });
await runWorkerProcess({
  ...cfg,
  applicationName: 'jpm-sync-bench-worker',
  // The search step runs in the worker process as in production (yielding to busy ingestion up to its lag bound),
  // competing for the same cores as ingestion; BENCH_SEARCH_STEP=off leaves it out (ingestion alone; the backfill
  // benchmark then times the whole catch-up).
  ...(process.env.BENCH_SEARCH_STEP === 'off' ? {} : { searchIndex }),
  worker: {
    concurrency: cfg.concurrency,
    // The per-integration token bucket (default 5 windows/s) is a courtesy limit towards J.P. Morgan,
    // not a cost of our pipeline; the benchmark lifts it so what it measures is the pipeline.
    guard: { capacity: 100_000, refillPerSecond: 100_000 },
  },
});
if (process.env.BENCH_DEBUG) {
  // Where the memory is (V8 heap vs. buffers), for investigating the RSS figures.
  setInterval(() => {
    const m = process.memoryUsage();
    const mb = (n: number) => Math.round(n / 1e6);
    process.stdout.write(
      `mem rss=${mb(m.rss)} heapTotal=${mb(m.heapTotal)} heapUsed=${mb(m.heapUsed)} external=${mb(m.external)} arrayBuffers=${mb(m.arrayBuffers)}\n`,
    );
  }, 2_000).unref();
}
