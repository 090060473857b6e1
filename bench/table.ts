/**
 * Prints the README's benchmark table from bench/results/*.json (`node bench/table.ts`), so the
 * figures in the README are the ones the files hold.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { RESULTS_DIR, type BenchResult } from './lib/env.ts';

const ORDER = ['backfill', 'reimport', 'memory', 'read-api', 'change-feed', 'scheduler', 'naive'];

type Figures = Record<string, unknown>;
const get = (f: Figures, path: string): unknown => path.split('.').reduce<unknown>((o, k) => (o as Figures | undefined)?.[k], f);
const n = (v: unknown) => (typeof v === 'number' ? v.toLocaleString('en-US') : String(v));

function measured(r: BenchResult): string {
  const f = r.figures;
  switch (r.name) {
    case 'backfill':
      return `${n(get(f, 'transactions'))} tx in ${n(get(f, 'seconds'))} s = **${n(get(f, 'txPerSecond'))} tx/s**; COPY ${n(get(f, 'copy.rowsPerSecond'))} rows/s; ratio **${n(get(f, 'ratioToCopy'))}**; simulator ${n(Math.round(Number(get(f, 'cpu.simulatorShareOfBusyCpu')) * 1000) / 10)} % of busy CPU`;
    case 'reimport':
      return `**${n(get(f, 'txPerSecond'))} tx/s** = ${n(get(f, 'ratioToCopy'))} × COPY; ${n(get(f, 'transactionsUpdated'))} rows updated; WAL ${n(get(f, 'walBytesPer100kTx'))} B per 100k tx`;
    case 'memory':
      return `peak **${n(get(f, 'peakVmHwmMB'))} MB**; first/second half ${n(get(f, 'peakRssFirstHalfMB'))}/${n(get(f, 'peakRssSecondHalfMB'))} MB`;
    case 'read-api':
      return `API **${n(get(f, 'api.max.requestsPerSecond'))} req/s** vs bare ${n(get(f, 'bare.max.requestsPerSecond'))} (**${n(get(f, 'ratioToBare'))}**); at 80 %: p50 ${n(get(f, 'api.at80Percent.p50Ms'))} ms, p99 **${n(get(f, 'api.at80Percent.p99Ms'))} ms**`;
    case 'change-feed':
      return `**${n(get(f, 'changesPerSecond'))} changes/s** warm (first read ${n(get(f, 'firstRead.changesPerSecond'))}/s) over ${n(get(f, 'warm.events'))} events`;
    case 'scheduler':
      return `**${n(get(f, 'seconds'))} s** for ${n(get(f, 'first.upserted'))} schedulers; Redis ${n(Math.round(Number(get(f, 'redisBytesByKeys')) / 1e5) / 10)} MB (${n(get(f, 'redisBytesPerAccount'))} B per account)`;
    case 'naive':
      return `${n(get(f, 'txPerSecond'))} tx/s; the pipeline is **${n(get(f, 'pipelineSpeedup'))} ×** faster`;
    default:
      return '';
  }
}

function targets(r: BenchResult): string {
  return r.targets.length === 0 ? '(context)' : r.targets.map((t) => `${t.met ? '✅' : '❌'} ${t.name} ${t.op} ${n(t.target)}${t.unit ? ` ${t.unit}` : ''}`).join('<br>');
}

const results: BenchResult[] = [];
for (const name of ORDER) {
  try {
    results.push(JSON.parse(await readFile(join(RESULTS_DIR, `${name}.json`), 'utf8')) as BenchResult);
  } catch {
    // not run yet
  }
}
const m = results[0]?.machine;
if (m) {
  console.log(`Machine: ${m.nproc} × ${m.cpuModel}, ${m.ramGiB} GiB RAM, PostgreSQL ${m.postgres}, Redis ${m.redis}, Node ${m.node}.\n`);
}
console.log('| Benchmark | Date (UTC) | Load avg (1 min, start → end) | Measured | Targets |');
console.log('| --- | --- | --- | --- | --- |');
for (const r of results) {
  console.log(`| ${r.name} | ${r.date.slice(0, 16).replace('T', ' ')} | ${r.loadAverage.start[0]} → ${r.loadAverage.end[0]} | ${measured(r)} | ${targets(r)} |`);
}
