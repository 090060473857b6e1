/**
 * The internet-scale run (not part of the default `npm run bench`; it takes the machine for about 1.5 hours):
 * `npm run bench -- scale --scale 6` backfills ≈ 5.8M posted transactions through the real
 * pipeline, adds their intraday history (≈ 3.9M superseded and withdrawn pending rows: ≈ 10M rows in all),
 * then runs the read-API and change-feed benchmarks on it (no statistics, then after ANALYZE).
 *
 * How each figure grows with the table: the ingest rate is sampled every 15 s against the number of rows
 * already stored (pg_stat_user_tables.n_tup_ins, no count(*)); the change-feed rate and the read API's p99 are
 * set against the default run's (bench/results/read-api.json and change-feed.json, read when this run starts: their
 * table size and load are in `growth`). The search step's catch-up after the backfill is timed (event by event, as
 * production runs it).
 * No COPY baselines and no re-import at this size (they would double the disk and the time).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import os from 'node:os';
import { sql } from 'kysely';
import pg from 'pg';
import { startResult, type RunContext } from './lib/context.ts';
import { createBenchDb, RESULTS_DIR, round, target, type BenchResult } from './lib/env.ts';
import { catchUpSearch } from './lib/search-step.ts';
import { createPipeline, seedTenancy } from './lib/pipeline.ts';
import { runChangeFeed } from './change-feed.ts';
import { runReadApi } from './read-api.ts';

const WORKER = { concurrency: 4, poolMax: 10 };
const SAMPLE_MS = 15_000;

async function insertedRows(url: string): Promise<number> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const r = await c.query<{ n: string }>(
      `select coalesce(sum(n_tup_ins), 0)::text as n from pg_stat_user_tables where relname = 'transactions'`,
    );
    return Number(r.rows[0]?.n ?? 0);
  } finally {
    await c.end();
  }
}

interface DefaultRun {
  rows: number;
  p99Ms: { noStatistics: number; analyzed: number };
  changesPerSecond: { noStatistics: number; analyzed: number };
  loadAverage: { readApi: unknown; changeFeed: unknown };
}

/** The default run's read-API and change-feed figures, the smaller table each figure's growth is measured from. */
function defaultRun(): DefaultRun | undefined {
  try {
    const read = JSON.parse(readFileSync(join(RESULTS_DIR, 'read-api.json'), 'utf8')) as BenchResult;
    const feed = JSON.parse(readFileSync(join(RESULTS_DIR, 'change-feed.json'), 'utf8')) as BenchResult;
    return {
      rows: Number(read.parameters.rows),
      p99Ms: p99Of(read),
      changesPerSecond: feedRateOf(feed),
      loadAverage: { readApi: read.loadAverage, changeFeed: feed.loadAverage },
    };
  } catch {
    return undefined;
  }
}

function p99Of(r: BenchResult): { noStatistics: number; analyzed: number } {
  const at80 = (phase: unknown) => Number((phase as { api: { at80Percent: { p99Ms: number } } }).api.at80Percent.p99Ms);
  return { noStatistics: at80(r.figures.beforeAnalyze), analyzed: at80(r.figures.afterAnalyze) };
}

function feedRateOf(r: BenchResult): { noStatistics: number; analyzed: number } {
  const f = r.figures as {
    beforeAnalyze: { warm: { changesPerSecond: number } };
    afterAnalyze: { read: { changesPerSecond: number } };
  };
  return { noStatistics: f.beforeAnalyze.warm.changesPerSecond, analyzed: f.afterAnalyze.read.changesPerSecond };
}

/** Each figure at the default run's size and at this run's, and this run's over the default's. */
function growth(
  base: DefaultRun | undefined,
  rows: number,
  read: BenchResult,
  feed: BenchResult,
  bands: { txPerSecond: number | null }[],
) {
  const ratio = (a: number, b: number) => (b ? round(a / b, 2) : null);
  const p99 = p99Of(read);
  const rate = feedRateOf(feed);
  const firstBand = bands.find((b) => b.txPerSecond !== null)?.txPerSecond ?? 0;
  const lastBand = [...bands].reverse().find((b) => b.txPerSecond !== null)?.txPerSecond ?? 0;
  return {
    rows: { defaultRun: base?.rows ?? null, thisRun: rows, ratio: base ? ratio(rows, base.rows) : null },
    ingestTxPerSecond: { firstTenthOfTable: firstBand, lastTenthOfTable: lastBand, ratio: ratio(lastBand, firstBand) },
    readApiP99Ms: {
      noStatistics: {
        defaultRun: base?.p99Ms.noStatistics ?? null,
        thisRun: p99.noStatistics,
        ratio: base ? ratio(p99.noStatistics, base.p99Ms.noStatistics) : null,
      },
      analyzed: {
        defaultRun: base?.p99Ms.analyzed ?? null,
        thisRun: p99.analyzed,
        ratio: base ? ratio(p99.analyzed, base.p99Ms.analyzed) : null,
      },
    },
    changesPerSecond: {
      noStatistics: {
        defaultRun: base?.changesPerSecond.noStatistics ?? null,
        thisRun: rate.noStatistics,
        ratio: base ? ratio(rate.noStatistics, base.changesPerSecond.noStatistics) : null,
      },
      analyzed: {
        defaultRun: base?.changesPerSecond.analyzed ?? null,
        thisRun: rate.analyzed,
        ratio: base ? ratio(rate.analyzed, base.changesPerSecond.analyzed) : null,
      },
    },
    defaultRunLoadAverage: base?.loadAverage ?? null,
  };
}

export async function runScale(ctx: RunContext): Promise<BenchResult[]> {
  const base = defaultRun();
  const ds = ctx.dataset;
  const finish = startResult(
    ctx,
    'scale',
    `Backfill of ${ds.accounts} accounts × ${ds.historyDays} days through the pipeline, rate against table size`,
  );
  const bank = await ctx.bank();
  const bdb = await createBenchDb('scale', 4);
  ctx.cleanups.push(() => bdb.drop());
  const { accounts } = await seedTenancy(bdb.db, bank);
  const pipe = createPipeline(bdb, bank, ds, accounts, WORKER);
  ctx.cleanups.push(() => pipe.close());
  const curve: { t: number; rows: number; txPerSecond: number; loadAverage1m: number }[] = [];
  const started = performance.now();
  let last = { t: 0, rows: 0 };
  const sampler = setInterval(() => {
    void insertedRows(bdb.url).then(
      (rows) => {
        const t = round((performance.now() - started) / 1000, 1);
        curve.push({
          t,
          rows,
          txPerSecond: round((rows - last.rows) / Math.max(0.001, t - last.t)),
          loadAverage1m: round(os.loadavg()[0] ?? 0, 2),
        });
        last = { t, rows };
      },
      () => undefined,
    );
  }, SAMPLE_MS);
  let fill;
  try {
    fill = await pipe.run('scale backfill');
  } finally {
    clearInterval(sampler);
  }
  // What the search step (in the worker during the run, as in production) has left, applied alone now.
  const search = await catchUpSearch(bdb.url);
  console.log(
    `scale: search catch-up ${search.eventsLeft} events in ${search.seconds} s (${search.backendCpuMicrosecondsPerEvent} µs of Postgres CPU per event)`,
  );
  const transactions = Number(
    (await sql<{ n: string }>`select count(*)::text as n from transactions`.execute(bdb.db)).rows[0]?.n ?? 0,
  );
  const size = (
    await sql<{ table: string; total: string }>`
    select pg_size_pretty(pg_relation_size('transactions')) as table, pg_size_pretty(pg_total_relation_size('transactions')) as total`.execute(
      bdb.db,
    )
  ).rows[0];
  await sql`vacuum (analyze)`.execute(bdb.db);
  // Rate per tenth of the final size: how ingest speed changes as the table grows.
  const bands = Array.from({ length: 10 }, (_, i) => {
    const lo = (transactions * i) / 10;
    const hi = (transactions * (i + 1)) / 10;
    const inBand = curve.filter((p) => p.rows > lo && p.rows <= hi);
    const rate = inBand.length ? round(inBand.reduce((n, p) => n + p.txPerSecond, 0) / inBand.length) : null;
    return { rowsFrom: Math.round(lo), rowsTo: Math.round(hi), txPerSecond: rate };
  });
  const result = finish({
    parameters: {
      accounts: ds.accounts,
      txPerBusinessDay: ds.txPerDay,
      calendarDays: ds.historyDays,
      range: `${ds.from}..${ds.to}`,
      worker: WORKER,
    },
    figures: {
      transactions,
      seconds: round(fill.seconds, 1),
      txPerSecond: round(transactions / fill.seconds),
      failedRuns: fill.failedRuns,
      tableSize: size?.table,
      totalSizeWithIndexes: size?.total,
      ratePerTenthOfTable: bands,
      curve,
      searchCatchUp: search,
    },
    targets: [target('failed runs', fill.failedRuns, '==', 0)],
    notes: [
      'Rate samples: inserted rows (pg_stat_user_tables.n_tup_ins) every 15 s; each band is the mean of the samples that ended in it.',
      "The machine is shared: the load average of each sample is in the curve; other engineers' work shows there.",
      "searchCatchUp: what the search step had left after the backfill, applied alone on one connection, event by event as in production (seconds, events/s, that backend's CPU per event).",
      "growth: each figure at the default run's table (bench/results/read-api.json, change-feed.json, with their load) and at this one's (after the intraday history); ingest by tenth of this run's table.",
    ],
  });
  ctx.backfilled = bdb;
  const read = { ...(await runReadApi(ctx)), name: 'scale-read-api' };
  const feed = { ...(await runChangeFeed(ctx)), name: 'scale-change-feed' };
  result.figures.growth = growth(base, Number(read.parameters.rows), read, feed, bands);
  return [result, read, feed];
}
