/**
 * The internet-scale run (not part of the default `npm run bench`; it takes the machine for most of an hour):
 * `nice -n 10 npm run bench -- scale --scale 6` backfills ≈ 5.8M posted transactions through the real
 * pipeline, adds their intraday history (≈ 3.9M superseded and withdrawn pending rows: ≈ 10M rows in all),
 * then runs the read-API and change-feed benchmarks on it (no statistics, then after ANALYZE).
 *
 * How each figure grows with the table: the ingest rate is sampled every 15 s against the number of rows
 * already stored (pg_stat_user_tables.n_tup_ins, no count(*)); the read figures compare with the default run.
 * No COPY baselines and no re-import at this size (they would double the disk and the time).
 */
import os from 'node:os';
import { sql } from 'kysely';
import pg from 'pg';
import { startResult, type RunContext } from './lib/context.ts';
import { createBenchDb, round, target, type BenchResult } from './lib/env.ts';
import { createPipeline, seedTenancy } from './lib/pipeline.ts';
import { runChangeFeed } from './change-feed.ts';
import { runReadApi } from './read-api.ts';

const WORKER = { concurrency: 4, poolMax: 10 };
const SAMPLE_MS = 15_000;

async function insertedRows(url: string): Promise<number> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const r = await c.query<{ n: string }>(`select coalesce(sum(n_tup_ins), 0)::text as n from pg_stat_user_tables where relname = 'transactions'`);
    return Number(r.rows[0]?.n ?? 0);
  } finally {
    await c.end();
  }
}

export async function runScale(ctx: RunContext): Promise<BenchResult[]> {
  const ds = ctx.dataset;
  const finish = startResult(ctx, 'scale', `Backfill of ${ds.accounts} accounts × ${ds.historyDays} days through the pipeline, rate against table size`);
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
    void insertedRows(bdb.url).then((rows) => {
      const t = round((performance.now() - started) / 1000, 1);
      curve.push({ t, rows, txPerSecond: round((rows - last.rows) / Math.max(0.001, t - last.t)), loadAverage1m: round(os.loadavg()[0] ?? 0, 2) });
      last = { t, rows };
    }, () => undefined);
  }, SAMPLE_MS);
  let fill;
  try {
    fill = await pipe.run('scale backfill');
  } finally {
    clearInterval(sampler);
  }
  const transactions = Number((await sql<{ n: string }>`select count(*)::text as n from transactions`.execute(bdb.db)).rows[0]?.n ?? 0);
  const size = (await sql<{ table: string; total: string }>`
    select pg_size_pretty(pg_relation_size('transactions')) as table, pg_size_pretty(pg_total_relation_size('transactions')) as total`.execute(bdb.db)).rows[0];
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
    parameters: { accounts: ds.accounts, txPerBusinessDay: ds.txPerDay, calendarDays: ds.historyDays, range: `${ds.from}..${ds.to}`, worker: WORKER },
    figures: {
      transactions, seconds: round(fill.seconds, 1), txPerSecond: round(transactions / fill.seconds), failedRuns: fill.failedRuns,
      tableSize: size?.table, totalSizeWithIndexes: size?.total, ratePerTenthOfTable: bands, curve,
    },
    targets: [target('failed runs', fill.failedRuns, '==', 0)],
    notes: [
      'Rate samples: inserted rows (pg_stat_user_tables.n_tup_ins) every 15 s; each band is the mean of the samples that ended in it.',
      "The machine is shared: the load average of each sample is in the curve; other engineers' work shows there.",
    ],
  });
  ctx.backfilled = bdb;
  const read = { ...(await runReadApi(ctx)), name: 'scale-read-api' };
  const feed = { ...(await runChangeFeed(ctx)), name: 'scale-change-feed' };
  return [result, read, feed];
}

