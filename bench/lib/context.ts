/** What the benchmarks of one `npm run bench` share: the scale, one pre-rendered simulator, the backfilled database. */
import { createPipeline, datasetFor, seedTenancy, startBank, type Bank, type Dataset } from './pipeline.ts';
import {
  createBenchDb,
  loadAverage,
  machine,
  type BenchDb,
  type BenchResult,
  type Machine,
  type Target,
} from './env.ts';
import { sql } from 'kysely';
import { addIntradayHistory, type IntradayHistory } from './intraday.ts';

export interface RunContext {
  scale: number;
  dataset: Dataset;
  machine: Machine;
  /** The simulator with every page of the dataset pre-rendered (started once, on first use). */
  bank(): Promise<Bank>;
  /** The backfill's database (≈ 1M transactions and change events), kept for the read benchmarks of the same run. */
  backfilled?: BenchDb;
  /** The intraday history added to the backfilled database for the read benchmarks (once). */
  intraday?: IntradayHistory;
  /** End-to-end transactions/s of the backfill in this run (for the naive baseline's ratio). */
  pipelineTxPerSecond?: number;
  /** Run at the very end (drop databases, stop children). */
  cleanups: (() => Promise<void>)[];
}

export async function createRunContext(scale: number): Promise<RunContext> {
  const dataset = datasetFor(scale);
  let bank: Promise<Bank> | undefined;
  const ctx: RunContext = {
    scale,
    dataset,
    machine: await machine(),
    bank() {
      if (!bank) {
        bank = startBank(dataset);
        ctx.cleanups.push(async () => (await bank!).stop());
      }
      return bank;
    },
    cleanups: [],
  };
  return ctx;
}

/** Starts a result: remembers the load average and the time at the start. */
export function startResult(ctx: RunContext, name: string, title: string) {
  const start = loadAverage();
  const date = new Date().toISOString();
  return (parts: {
    parameters: Record<string, unknown>;
    figures: Record<string, unknown>;
    targets: Target[];
    notes?: string[];
  }): BenchResult => ({
    name,
    title,
    date,
    machine: ctx.machine,
    loadAverage: { start, end: loadAverage() },
    parameters: { scale: ctx.scale, ...parts.parameters },
    figures: parts.figures,
    targets: parts.targets,
    notes: parts.notes ?? [],
    passed: parts.targets.every((t) => t.met),
  });
}

/**
 * A database holding the dataset's transactions and their change events, as the pipeline wrote
 * them: the backfill benchmark's when it ran in this process, otherwise a backfill made now (not measured).
 */
export async function backfilledDb(ctx: RunContext): Promise<BenchDb> {
  if (ctx.backfilled) {
    return ctx.backfilled;
  }
  const bank = await ctx.bank();
  const bdb = await createBenchDb('dataset', 4);
  ctx.cleanups.push(() => bdb.drop());
  const { accounts } = await seedTenancy(bdb.db, bank);
  const pipe = createPipeline(bdb, bank, ctx.dataset, accounts, { concurrency: 4, poolMax: 10 });
  try {
    console.log('dataset: backfilling through the pipeline first (not measured)');
    await pipe.run('dataset');
  } finally {
    await pipe.close();
  }
  await sql`vacuum (analyze)`.execute(bdb.db);
  ctx.backfilled = bdb;
  return bdb;
}

/**
 * The backfilled database with the intraday history a real account has (bench/lib/intraday.ts), for the read
 * benchmarks: added once per run, after the backfill benchmarks measured the posted-only pipeline.
 */
export async function readBenchDb(ctx: RunContext): Promise<BenchDb> {
  const bdb = await backfilledDb(ctx);
  if (!ctx.intraday) {
    console.log(
      'intraday history: adding superseded and withdrawn pending items with their change events (not measured)',
    );
    ctx.intraday = await addIntradayHistory(bdb.db);
    // The visibility map, as after the backfill (VACUUM without ANALYZE: no statistics are made here).
    await sql`vacuum`.execute(bdb.db);
    console.log(`intraday history: ${JSON.stringify(ctx.intraday)}`);
  }
  return bdb;
}
