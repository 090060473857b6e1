/**
 * `npm run bench` runs every benchmark of issue 11; `npm run bench -- NAME [NAME…]` runs some.
 * `--scale 0.1` (or BENCH_SCALE) shrinks the data for a quick run. Each benchmark prints its figures,
 * writes bench/results/<name>.json and the process exits 1 when any target is missed (2 on a crash).
 *
 * Everything runs in databases `jpm_sync_bench_*` and Redis prefixes `{jpm-sync-bench-*}` of its own,
 * which are removed at the end (also on Ctrl-C). The data come from a fixed seed: the same rows every run.
 */
import { runBackfillSuite } from './backfill.ts';
import { runCapacity } from './capacity.ts';
import { runChangeFeed } from './change-feed.ts';
import { runIndexCosts } from './index-costs.ts';
import { killChildren } from './lib/children.ts';
import { createRunContext, type RunContext } from './lib/context.ts';
import { dropLeftoverDbs, loadAverage, printResult, scaleFrom, writeResult, type BenchResult } from './lib/env.ts';
import { runNaive } from './naive.ts';
import { runReadApi } from './read-api.ts';
import { runReadReplica } from './read-replica.ts';
import { runScale } from './scale.ts';
import { runScheduler } from './scheduler.ts';
import { runStatements } from './statements.ts';
import { runWorkers } from './workers.ts';
import { initLogger } from '../src/shared/logger.ts';

interface Bench {
  /** Result names this entry produces. */
  names: string[];
  /** Only when named (the scale run takes the machine for most of an hour). */
  optIn?: boolean;
  run(ctx: RunContext): Promise<BenchResult[]>;
}

/** In this order: the read benchmarks reuse the backfilled database when the backfill ran first. */
const BENCHES: Bench[] = [
  { names: ['backfill', 'reimport', 'memory'], run: runBackfillSuite },
  { names: ['index-costs'], run: (ctx) => runIndexCosts(ctx).then((r) => [r]) },
  { names: ['naive'], run: (ctx) => runNaive(ctx).then((r) => [r]) },
  { names: ['read-api'], run: (ctx) => runReadApi(ctx).then((r) => [r]) },
  { names: ['change-feed'], run: (ctx) => runChangeFeed(ctx).then((r) => [r]) },
  { names: ['read-replica'], run: (ctx) => runReadReplica(ctx).then((r) => [r]), optIn: true },
  { names: ['scheduler'], run: (ctx) => runScheduler(ctx).then((r) => [r]) },
  { names: ['statements'], run: (ctx) => runStatements(ctx).then((r) => [r]) },
  { names: ['scale', 'scale-read-api', 'scale-change-feed'], run: runScale, optIn: true },
  { names: ['capacity'], run: (ctx) => runCapacity(ctx).then((r) => [r]), optIn: true },
  { names: ['workers'], run: (ctx) => runWorkers(ctx).then((r) => [r]), optIn: true },
];
const ALL = BENCHES.flatMap((b) => b.names);

async function cleanup(ctx: RunContext | undefined): Promise<void> {
  for (const fn of (ctx?.cleanups ?? []).reverse()) {
    await fn().catch((err: unknown) => console.error('cleanup failed:', err));
  }
  killChildren();
  await dropLeftoverDbs();
}

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  const scale = scaleFrom(argv);
  const wanted = argv.filter((a, i) => !a.startsWith('--') && argv[i - 1] !== '--scale');
  const unknown = wanted.filter((n) => !ALL.includes(n));
  if (unknown.length > 0) {
    console.error(`unknown benchmark(s): ${unknown.join(', ')}; known: ${ALL.join(', ')}`);
    return 2;
  }
  initLogger({ level: 'warn', format: 'json' });
  const selected = BENCHES.filter((b) => (wanted.length === 0 && !b.optIn) || b.names.some((n) => wanted.includes(n)));
  console.log(
    `jpm-sync benchmarks: ${selected.flatMap((b) => b.names).join(', ')} (scale ${scale}, load average ${loadAverage().join(' ')})`,
  );
  let ctx: RunContext | undefined;
  const onSignal = () => {
    void cleanup(ctx).finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const results: BenchResult[] = [];
  try {
    ctx = await createRunContext(scale);
    for (const bench of selected) {
      for (const r of await bench.run(ctx)) {
        // A suite produces several results; record those asked for (all when none were named).
        if (wanted.length === 0 || wanted.includes(r.name) || bench.names.length === 1 || bench.optIn) {
          printResult(r);
          console.log(`  -> ${await writeResult(r)}`);
          results.push(r);
        }
      }
    }
  } finally {
    await cleanup(ctx);
  }
  const missed = results.filter((r) => !r.passed);
  console.log(
    `\n${results.length - missed.length}/${results.length} benchmarks met their targets${missed.length ? `; missed: ${missed.map((r) => r.name).join(', ')}` : ''}`,
  );
  return missed.length > 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(2);
  },
);
