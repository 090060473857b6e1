/**
 * Prints the README's benchmark table from bench/results/*.json (`node bench/table.ts`), so the
 * figures in the README are the ones the files hold.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { RESULTS_DIR, type BenchResult } from './lib/env.ts';

const ORDER = [
  'backfill',
  'reimport',
  'memory',
  'index-costs',
  'read-api',
  'change-feed',
  'scheduler',
  'naive',
  'statements',
  'scale',
  'scale-read-api',
  'scale-change-feed',
  'capacity',
  'workers',
];

type Figures = Record<string, unknown>;
const get = (f: Figures, path: string): unknown =>
  path.split('.').reduce<unknown>((o, k) => (o as Figures | undefined)?.[k], f);
const n = (v: unknown) => (typeof v === 'number' ? v.toLocaleString('en-US') : String(v));

function measured(r: BenchResult): string {
  const f = r.figures;
  switch (r.name) {
    case 'backfill':
      return `${n(get(f, 'transactions'))} tx in ${n(get(f, 'seconds'))} s = **${n(get(f, 'txPerSecond'))} tx/s**${
        get(f, 'searchStep') === undefined
          ? ''
          : ` (search step: largest lag ${n(get(f, 'searchStep.maxLagEvents'))} events, caught up ${n(get(f, 'searchStep.catchUp.seconds'))} s after, ${n(get(f, 'searchStep.catchUp.backendCpuMicrosecondsPerEvent'))} µs of Postgres CPU per event)`
      }; bare COPY ${n(get(f, 'bareCopy.rowsPerSecond'))} rows/s (ratio **${n(get(f, 'ratioToBareCopy'))}**); indexed COPY ${n(get(f, 'copy.rowsPerSecond'))} rows/s (ratio ${n(get(f, 'ratioToCopy'))}); simulator ${n(Math.round(Number(get(f, 'cpu.simulatorShareOfBusyCpu')) * 1000) / 10)} % of busy CPU${
        get(f, 'cpuPerRow') === undefined
          ? ''
          : `; CPU per row: worker ${n(get(f, 'cpuPerRow.workerMicroseconds'))} µs, Postgres ${n(get(f, 'cpuPerRow.postgresMicroseconds'))} µs${get(f, 'cpuPerRow.postgresIngestMicroseconds') === undefined ? '' : ` (ingestion ${n(get(f, 'cpuPerRow.postgresIngestMicroseconds'))}, search step ${n(get(f, 'cpuPerRow.postgresSearchStepMicroseconds'))})`} vs bare COPY ${n(get(f, 'cpuPerRow.bareCopyBackendMicroseconds'))} µs (CPU-bound ratio ${n(get(f, 'cpuPerRow.cpuBoundBareRatio'))})`
      }`;
    case 'index-costs':
      return `bare COPY ${n(get(f, 'transactions.bareMicrosecondsPerRow'))} µs/row (transactions), ${n(get(f, 'changeEvents.bareMicrosecondsPerRow'))} µs/row (change_events); every other index and the foreign keys add ${n(get(f, 'transactions.extraMicrosecondsPerRowAll'))} and ${n(get(f, 'changeEvents.extraMicrosecondsPerRowAll'))} µs/row (table below)${
        get(f, 'transactionSearch') === undefined
          ? ''
          : `; off the ingest path, the search table: ${n(get(f, 'transactionSearch.bareMicrosecondsPerRow'))} µs/row bare + ${n(get(f, 'transactionSearch.extraMicrosecondsPerRowAll'))} for its trigram GIN`
      }`;
    case 'scale': {
      // The run's start and end loads say little over half an hour: the samples' range does.
      const loads = ((get(f, 'curve') ?? []) as { loadAverage1m: number }[]).map((p) => p.loadAverage1m);
      const during = loads.length ? `; load during the backfill ${n(Math.min(...loads))}–${n(Math.max(...loads))}` : '';
      const tenths = ((get(f, 'ratePerTenthOfTable') ?? []) as { txPerSecond: number | null }[]).map((b) =>
        b.txPerSecond === null ? '–' : n(b.txPerSecond),
      );
      return `${n(get(f, 'transactions'))} tx in ${n(get(f, 'seconds'))} s = **${n(get(f, 'txPerSecond'))} tx/s**${during}${tenths.length ? `; per tenth of the table ${tenths.join(' → ')} tx/s` : ''}; table ${String(get(f, 'tableSize'))}, ${String(get(f, 'totalSizeWithIndexes'))} with indexes and TOAST`;
    }
    case 'reimport':
      return `**${n(get(f, 'txPerSecond'))} tx/s** = ${n(get(f, 'ratioToCopy'))} × COPY; ${n(get(f, 'transactionsUpdated'))} rows updated; WAL ${n(get(f, 'walBytesPer100kTx'))} B per 100k tx`;
    case 'memory':
      return `peak **${n(get(f, 'peakVmHwmMB'))} MB**; first/second half ${n(get(f, 'peakRssFirstHalfMB'))}/${n(get(f, 'peakRssSecondHalfMB'))} MB`;
    case 'read-api':
    case 'scale-read-api': {
      const phase = (p: string) =>
        `API **${n(get(f, `${p}.api.max.requestsPerSecond`))} req/s** vs bare ${n(get(f, `${p}.bare.max.requestsPerSecond`))} (**${n(get(f, `${p}.ratioToBare`))}**); at 80 %: p50 ${n(get(f, `${p}.api.at80Percent.p50Ms`))} ms, p99 **${n(get(f, `${p}.api.at80Percent.p99Ms`))} ms**; slowest filter page ${n(get(f, `${p}.slowestFilterPage.maxMs`))} ms (${String(get(f, `${p}.slowestFilterPage.name`))})`;
      return `${n(get(r.parameters, 'rows'))} rows. No statistics: ${phase('beforeAnalyze')}.<br>After ANALYZE: ${phase('afterAnalyze')}`;
    }
    case 'change-feed':
    case 'scale-change-feed':
      return `No statistics: **${n(get(f, 'beforeAnalyze.warm.changesPerSecond'))} changes/s** warm (first read ${n(get(f, 'beforeAnalyze.firstRead.changesPerSecond'))}/s); after ANALYZE **${n(get(f, 'afterAnalyze.read.changesPerSecond'))}/s**; ${n(get(f, 'beforeAnalyze.warm.events'))} of ${n(get(r.parameters, 'eventsInFeed'))} events per read`;
    case 'scheduler':
      return `**${n(get(f, 'seconds'))} s** for ${n(get(f, 'first.upserted'))} schedulers; Redis ${n(Math.round(Number(get(f, 'redisBytesByKeys')) / 1e5) / 10)} MB (${n(get(f, 'redisBytesPerAccount'))} B per account)`;
    case 'naive':
      return `${n(get(f, 'txPerSecond'))} tx/s; the pipeline is **${n(get(f, 'pipelineSpeedup'))} ×** faster`;
    case 'statements':
      return `${n(get(f, 'inserted'))} BAI2 records (${n(get(r.parameters, 'files'))} files, ${n(Math.round(Number(get(r.parameters, 'fileBytes')) / 1e5) / 10)} MB) in ${n(get(f, 'seconds'))} s = **${n(get(f, 'recordsPerSecond'))} records/s**; bare COPY ${n(get(f, 'bareCopy.rowsPerSecond'))} rows/s (ratio **${n(get(f, 'ratioToBareCopy'))}**); indexed COPY ${n(get(f, 'copy.rowsPerSecond'))} rows/s (ratio ${n(get(f, 'ratioToCopy'))}); CPU per row: import ${n(get(f, 'cpuPerRow.importProcessMicroseconds'))} µs, Postgres ${n(get(f, 'cpuPerRow.postgresMicroseconds'))} µs vs bare COPY ${n(get(f, 'cpuPerRow.bareCopyBackendMicroseconds'))} µs; re-import ${n(get(f, 'reimport.recordsPerSecond'))} records/s, ${n(get(f, 'reimport.inserted'))} inserted, ${n(get(f, 'reimport.updated'))} updated`;
    case 'capacity':
      return `CPU per 1k tx ingested **${n(get(f, 'unitCosts.cpuMsPer1kTransactionsIngested.total'))} ms** (worker ${n(get(f, 'unitCosts.cpuMsPer1kTransactionsIngested.worker'))}, Postgres ${n(get(f, 'unitCosts.cpuMsPer1kTransactionsIngested.postgresIngest'))}, search step ${n(get(f, 'unitCosts.cpuMsPer1kTransactionsIngested.postgresSearchStep'))}); per read-API page (100) **${n(get(f, 'unitCosts.cpuMsPerReadApiPage100'))} ms**, per change-feed page (1000) **${n(get(f, 'unitCosts.cpuMsPerChangeFeedPage1000'))} ms**; Postgres ${n(get(f, 'unitCosts.postgresBytesPerTransaction'))} B per transaction, ${n(get(f, 'unitCosts.postgresBytesPerChangeEvent'))} B per change event; WAL ${n(get(f, 'unitCosts.walBytesPerTransactionBackfill'))} B per transaction; Redis ${n(get(f, 'unitCosts.redisBytesPerScheduledAccount'))} B per scheduled account; bank calls per account-day ${n(get(f, 'unitCosts.bankCallsPerAccountDayBackfill'))} (backfill), ${n(get(f, 'unitCosts.bankCallsPerAccountDayScheduled'))} (a scheduled day)`;
    case 'workers': {
      const c = (get(f, 'configurations') ?? []) as {
        label: string;
        txPerSecond: number;
        accountDaysPerSecond: number;
        windowsPerSecond: number;
        coresUsed: number;
        bankConnections: number;
        proxyHeldMsMean: number;
      }[];
      return `${n(get(r.parameters, 'bankLatencyMs'))} ms per bank call (measured in the proxy: ${c.map((x) => n(x.proxyHeldMsMean)).join(' / ')} ms), ${n(get(r.parameters, 'workerConcurrency'))} windows in flight per worker: ${c.map((x) => `${x.label} **${n(x.txPerSecond)} tx/s**, ${n(x.windowsPerSecond)} windows/s, ${n(x.coresUsed)} cores, ${n(x.bankConnections)} bank connections`).join('; ')}; 3 / 1 workers **${n(get(f, 'speedup3vs1'))} ×**`;
    }
    default:
      return '';
  }
}

function targets(r: BenchResult): string {
  return r.targets.length === 0
    ? '(context)'
    : r.targets
        .map((t) => `${t.met ? '✅' : '❌'} ${t.name} ${t.op} ${n(t.target)}${t.unit ? ` ${t.unit}` : ''}`)
        .join('<br>');
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
  console.log(
    `Machine: ${m.nproc} × ${m.cpuModel}, ${m.ramGiB} GiB RAM, PostgreSQL ${m.postgres}, Redis ${m.redis}, Node ${m.node}.\n`,
  );
}
console.log('| Benchmark | Date (UTC) | Load avg (1 min, start → end) | Measured | Targets |');
console.log('| --- | --- | --- | --- | --- |');
for (const r of results) {
  console.log(
    `| ${r.name} | ${r.date.slice(0, 16).replace('T', ' ')} | ${r.loadAverage.start[0]} → ${r.loadAverage.end[0]} | ${measured(r)} | ${targets(r)} |`,
  );
}

/** Per-index cost (index-costs.json) as its own table. */
const costs = results.find((r) => r.name === 'index-costs');
if (costs) {
  console.log('\n| Table | Index | Extra µs per row | × bare row | Size (rows measured) |');
  console.log('| --- | --- | --- | --- | --- |');
  for (const [table, key] of [
    ['transactions', 'transactions'],
    ['change_events', 'changeEvents'],
    ['transaction_search (after commit)', 'transactionSearch'],
  ] as const) {
    const list = (get(costs.figures, `${key}.indexes`) ?? []) as {
      name: string;
      definition: string;
      extraMicrosecondsPerRow: number;
      extraShareOfBare: number;
      sizeBytes: number;
    }[];
    // A foreign-key row without a definition measured nothing (the table has none any more).
    for (const c of list.filter((x) => x.definition !== '')) {
      console.log(
        `| ${table} | \`${c.name}\` ${c.definition.length < 70 ? `\`${c.definition}\`` : ''} | ${n(c.extraMicrosecondsPerRow)} | ${n(c.extraShareOfBare)} | ${n(Math.round(c.sizeBytes / 1e5) / 10)} MB |`,
      );
    }
  }
}
