/**
 * Benchmark 4: keyset pages of 100 transactions (`GET /v1/transactions?limit=100&cursor=…`, newest
 * first) over the backfilled table, under load from autocannon, against a bare node:http + pg server
 * running the same SQL, in the same run. Each request continues from one of 1,000 positions spread
 * evenly over the whole table (shuffled with a fixed seed), so the load reads every part of it.
 *
 * Phases per server, one after the other: warm-up, maximum throughput (closed loop), then a fixed
 * rate of 80 % of that maximum, where the latency percentiles are read. Then every list filter of the API,
 * one request at a time (first page and the pages after it), and the single get.
 *
 * The table holds the intraday history (bench/lib/intraday.ts: 40 % superseded pending rows), and all of it
 * runs twice: first with no planner statistics at all (as a never-analyzed table), then after ANALYZE.
 */
import { randomBytes } from 'node:crypto';
import autocannon from 'autocannon';
import { sql } from 'kysely';
import { createApiKey } from '../src/admin-api/api-keys.service.ts';
import { encodeCursor } from '../src/storage/pagination.ts';
import { spawnServer } from './lib/children.ts';
import { readBenchDb, startResult, type RunContext } from './lib/context.ts';
import { analyzeAll, forgetStatistics } from './lib/intraday.ts';
import {
  benchPrefix,
  deletePrefix,
  machineCpuSeconds,
  newRedis,
  postgresCpu,
  postgresCpuBetween,
  processCpuSeconds,
  REDIS_URL,
  round,
  SEED,
  target,
  type BenchResult,
} from './lib/env.ts';
import { createHash } from 'node:crypto';

const LIMIT = 100;
const POSITIONS = 1_000;
const CONNECTIONS = 16;
const POOL = 10;
const DURATION = Number(process.env.BENCH_READ_SECONDS ?? 15);

interface Load {
  requestsPerSecond: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
  requests: number;
  non2xx: number;
  errors: number;
}

interface CpuWatch {
  server: number;
  database: string;
}

async function load(
  base: string,
  paths: readonly string[],
  headers: Record<string, string>,
  options: { seconds: number; rate?: number; cpu?: CpuWatch },
): Promise<Load & { cpuSeconds?: Record<string, number> }> {
  let i = 0;
  const cpu0 = options.cpu
    ? {
        server: processCpuSeconds(options.cpu.server),
        pg: await postgresCpu(options.cpu.database),
        bench: process.cpuUsage(),
        machine: machineCpuSeconds(),
      }
    : undefined;
  const result = await autocannon({
    url: base,
    connections: CONNECTIONS,
    duration: options.seconds,
    ...(options.rate ? { overallRate: Math.max(1, Math.round(options.rate)) } : {}),
    headers,
    requests: [{ method: 'GET', setupRequest: (req) => ({ ...req, path: paths[i++ % paths.length]! }) }],
  });
  let cpuSeconds: Record<string, number> | undefined;
  if (cpu0 && options.cpu) {
    const bench = process.cpuUsage(cpu0.bench);
    const machine = machineCpuSeconds();
    cpuSeconds = {
      server: round(processCpuSeconds(options.cpu.server) - cpu0.server, 2),
      postgres: round(postgresCpuBetween(cpu0.pg, await postgresCpu(options.cpu.database)), 2),
      autocannon: round((bench.user + bench.system) / 1e6, 2),
      machineBusy: round(machine.busy - cpu0.machine.busy, 2),
      machineTotal: round(machine.total - cpu0.machine.total, 2),
    };
  }
  return {
    ...(cpuSeconds ? { cpuSeconds } : {}),
    requestsPerSecond: round(result['2xx'] / result.duration),
    p50Ms: result.latency.p50,
    p90Ms: result.latency.p90,
    p99Ms: result.latency.p99,
    maxMs: result.latency.max,
    requests: result.requests.total,
    non2xx: result.non2xx,
    errors: result.errors,
  };
}

/** A deterministic shuffle (the order of requests is part of the load). */
function shuffled<T>(xs: readonly T[]): T[] {
  const out = [...xs];
  for (let i = out.length - 1; i > 0; i--) {
    const j = createHash('sha256').update(`${SEED}:${i}`).digest().readUInt32BE(0) % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

const FILTER_PAGES = 5;

interface FilterSample {
  organizationId: string;
  accountId: string;
  day: string;
  weekFrom: string;
  reference: string;
  /** The customer reference most rows share (the simulator's "NEW" and the like). */
  commonReference: string;
  /** A lower amount bound only the 51 largest amounts reach. */
  rareAmountMin: string;
  word: string;
  baiCode: string;
  supersedingId: string;
}

async function filterSample(db: RunContextDb): Promise<FilterSample> {
  const r = await sql<FilterSample>`
    with p as (select * from transactions where status = 'posted' and superseded_by is null order by id offset 1234 limit 1)
    select p.organization_id as "organizationId", p.account_id as "accountId", p.booking_date::text as day,
      (p.booking_date - 6)::text as "weekFrom", p.bank_reference as reference,
      lower(split_part(p.description, ' ', 1)) as word, coalesce(p.bai_type_code, '399') as "baiCode",
      (select s.superseded_by::text from transactions s where s.status = 'superseded' order by s.id offset 777 limit 1) as "supersedingId",
      (select c.customer_reference from transactions c where c.customer_reference <> '' group by c.customer_reference
        order by count(*) desc, c.customer_reference limit 1) as "commonReference",
      (select (a.amount_minor * power(10::numeric, -a.decimal_location))::text from transactions a
        order by (a.amount_minor * power(10::numeric, -a.decimal_location)) desc offset 50 limit 1) as "rareAmountMin"
    from p`.execute(db);
  return r.rows[0]!;
}

type RunContextDb = Awaited<ReturnType<typeof readBenchDb>>['db'];

/** Each filter, one request at a time: the first page and the pages after it (following nextCursor). */
async function filterLatencies(base: string, headers: Record<string, string>, f: FilterSample) {
  const org = `organizationId=${f.organizationId}`;
  const queries: Record<string, string> = {
    'none (newest first)': '',
    'sort=firstSeen': 'sort=firstSeen',
    'sort=bookingDate (oldest first)': 'sort=bookingDate',
    organizationId: `organizationId=${f.organizationId}`,
    accountId: `accountId=${f.accountId}`,
    'accountId + one week': `accountId=${f.accountId}&bookingDateFrom=${f.weekFrom}&bookingDateTo=${f.day}`,
    'bookingDate one day': `bookingDateFrom=${f.day}&bookingDateTo=${f.day}`,
    'valueDate one day': `valueDateFrom=${f.day}&valueDateTo=${f.day}`,
    'status=posted': 'status=posted',
    'status=superseded': 'status=superseded',
    'status=removed (1 %)': 'status=removed',
    'status=pending (none)': 'status=pending',
    'direction=debit': 'direction=debit',
    'currency=USD': 'currency=USD',
    'amount 1000.00..1010.00': 'amountMin=1000.00&amountMax=1010.00',
    [`baiCode=${f.baiCode}`]: `baiCode=${f.baiCode}`,
    reference: `reference=${encodeURIComponent(f.reference)}`,
    'reference (common customer reference)': `reference=${encodeURIComponent(f.commonReference)}`,
    'reference (common customer reference), sort=firstSeen': `reference=${encodeURIComponent(f.commonReference)}&sort=firstSeen`,
    // One organization's pages (organizationId=, as an organization's own key reads): refinements walk its indexes.
    'organization: status=posted': `${org}&status=posted`,
    'organization: status=removed': `${org}&status=removed`,
    'organization: status=removed, sort=firstSeen': `${org}&status=removed&sort=firstSeen`,
    'organization: direction=debit': `${org}&direction=debit`,
    'organization: currency=USD, sort=firstSeen': `${org}&currency=USD&sort=firstSeen`,
    [`organization: baiCode=${f.baiCode}`]: `${org}&baiCode=${f.baiCode}`,
    'organization: amount 1000.00..1010.00': `${org}&amountMin=1000.00&amountMax=1010.00`,
    'organization: amount 0.00..10000000.00 (wide)': `${org}&amountMin=0.00&amountMax=10000000.00`,
    'organization: amountMin (51 largest of all organizations)': `${org}&amountMin=${f.rareAmountMin}`,
    'organization: amountMin=1000.00 (common)': `${org}&amountMin=1000.00`,
    'amountMin (51 largest)': `amountMin=${f.rareAmountMin}`,
    'accountId + status=posted, sort=firstSeen': `accountId=${f.accountId}&status=posted&sort=firstSeen`,
    'bookingDate one week + direction=credit, sort=firstSeen': `bookingDateFrom=${f.weekFrom}&bookingDateTo=${f.day}&direction=credit&sort=firstSeen`,
    [`q=${f.word}`]: `q=${encodeURIComponent(f.word)}`,
    'q=no such text': 'q=zzqqxx',
  };
  const out: Record<string, { pagesMs: number[]; rows: number; maxMs: number }> = {};
  for (const [name, qs] of Object.entries(queries)) {
    const pagesMs: number[] = [];
    let rows = 0;
    let cursor: string | null = null;
    for (let i = 0; i < FILTER_PAGES; i++) {
      const t = performance.now();
      const url = `${base}/v1/transactions?limit=${LIMIT}${qs ? `&${qs}` : ''}${cursor ? `&cursor=${cursor}` : ''}`;
      const res = await fetch(url, { headers });
      if (!res.ok) {
        throw new Error(`read API answered ${res.status} to ${name}: ${await res.text()}`);
      }
      const page = (await res.json()) as { data: unknown[]; nextCursor: string | null };
      pagesMs.push(round(performance.now() - t, 1));
      rows += page.data.length;
      cursor = page.nextCursor;
      if (!cursor) {
        break;
      }
    }
    out[name] = { pagesMs, rows, maxMs: Math.max(...pagesMs) };
  }
  const gets: number[] = [];
  for (let i = 0; i < 20; i++) {
    const t = performance.now();
    const res = await fetch(`${base}/v1/transactions/${f.supersedingId}`, { headers });
    if (!res.ok) {
      throw new Error(`read API answered ${res.status} to a get: ${await res.text()}`);
    }
    await res.arrayBuffer();
    gets.push(round(performance.now() - t, 1));
  }
  out['GET /v1/transactions/{id} (posted, supersedes a pending row)'] = {
    pagesMs: gets,
    rows: gets.length,
    maxMs: Math.max(...gets),
  };
  return out;
}

export async function runReadApi(ctx: RunContext): Promise<BenchResult> {
  const source = await readBenchDb(ctx);
  const finish = startResult(
    ctx,
    'read-api',
    'Read API keyset pages vs a bare node:http + pg server, before and after ANALYZE',
  );
  const rows = Number(
    (await sql<{ n: string }>`select count(*)::text as n from transactions`.execute(source.db)).rows[0]?.n ?? 0,
  );
  const step = Math.max(1, Math.floor(rows / POSITIONS));
  const positions = (
    await sql<{ booking_date: string; id: string }>`
    select booking_date::text as booking_date, id::text as id from (
      select booking_date, id, row_number() over (order by booking_date desc, id desc) as n from transactions) t
    where n % ${step} = 0`.execute(source.db)
  ).rows;
  const sample = await filterSample(source.db);
  const { token } = await createApiKey(source.db, {
    name: 'bench-read',
    role: 'viewer',
    organizationId: null,
    createdByKeyId: null,
  });
  const prefix = benchPrefix('api');
  const api = await spawnServer('api-child.ts', {
    NODE_ENV: 'production',
    DATABASE_URL: source.url,
    REDIS_URL,
    QUEUE_PREFIX: prefix,
    HOST: '127.0.0.1',
    PORT: '0',
    LOG_LEVEL: 'info',
    LOG_FORMAT: 'json',
    DB_POOL_MAX: String(POOL),
    ROLES: 'api',
    CREDENTIALS_MASTER_KEY: randomBytes(32).toString('base64'),
  });
  const bare = await spawnServer('bare-child.ts', {
    BENCH_BARE: JSON.stringify({ dbUrl: source.url, poolMax: POOL, limit: LIMIT }),
  });
  try {
    const apiBase = `http://127.0.0.1:${api.port}`;
    const auth = { authorization: `Bearer ${token}` };
    // The API's cursor is opaque to clients; the benchmark builds it the way the API does: the query
    // digest (taken from a cursor the API returned) and the last row's key.
    const probe = await fetch(`${apiBase}/v1/transactions?limit=1`, { headers: auth });
    if (!probe.ok) {
      throw new Error(`read API answered ${probe.status}: ${await probe.text()}`);
    }
    const nextCursor = ((await probe.json()) as { nextCursor: string }).nextCursor;
    const digest = (JSON.parse(Buffer.from(nextCursor, 'base64url').toString('utf8')) as { k: string[] }).k[0]!;
    const order = shuffled(positions);
    const apiPaths = order.map(
      (p) => `/v1/transactions?limit=${LIMIT}&cursor=${encodeCursor([digest, p.booking_date, p.id])}`,
    );
    const barePaths = order.map((p) => `/?after=${p.booking_date}_${p.id}`);
    const bareBase = `http://127.0.0.1:${bare.port}`;
    const apiCpu = { server: api.pid, database: source.name };
    const bareCpu = { server: bare.pid, database: source.name };

    const phase = async (label: string) => {
      console.log(
        `read-api (${label}): ${rows} rows, ${positions.length} start positions; warm-up, then ${DURATION} s per phase, then each filter`,
      );
      await load(apiBase, apiPaths, auth, { seconds: 5 });
      await load(bareBase, barePaths, {}, { seconds: 5 });
      const apiMax = await load(apiBase, apiPaths, auth, { seconds: DURATION, cpu: apiCpu });
      const bareMax = await load(bareBase, barePaths, {}, { seconds: DURATION, cpu: bareCpu });
      const api80 = await load(apiBase, apiPaths, auth, {
        seconds: DURATION,
        rate: 0.8 * apiMax.requestsPerSecond,
        cpu: apiCpu,
      });
      const bare80 = await load(
        bareBase,
        barePaths,
        {},
        { seconds: DURATION, rate: 0.8 * bareMax.requestsPerSecond, cpu: bareCpu },
      );
      const ratio = round(apiMax.requestsPerSecond / (bareMax.requestsPerSecond || 1), 3);
      const filters = await filterLatencies(apiBase, auth, sample);
      const slowest = Object.entries(filters).reduce(
        (m, [name, f]) => (f.maxMs > m.maxMs ? { name, maxMs: f.maxMs } : m),
        { name: '', maxMs: 0 },
      );
      return {
        api: { max: apiMax, at80Percent: api80 },
        bare: { max: bareMax, at80Percent: bare80 },
        ratioToBare: ratio,
        filters,
        slowestFilterPage: slowest,
      };
    };
    const statisticsRemoved = await forgetStatistics(source.db);
    const before = await phase('no statistics');
    const analyzeSeconds = await analyzeAll(source.db);
    const after = await phase('after ANALYZE');
    return finish({
      parameters: {
        rows,
        pageSize: LIMIT,
        startPositions: positions.length,
        connections: CONNECTIONS,
        secondsPerPhase: DURATION,
        dbPoolPerServer: POOL,
        filterPagesPerFilter: FILTER_PAGES,
        intraday: ctx.intraday,
      },
      figures: {
        beforeAnalyze: { ...before, statisticsRowsRemoved: statisticsRemoved },
        afterAnalyze: { ...after, analyzeSeconds },
      },
      targets: [
        target('API req/s / bare req/s (no statistics)', before.ratioToBare, '>=', 0.8),
        target('API p99 at 80 % of its max (no statistics)', before.api.at80Percent.p99Ms, '<=', 50, 'ms'),
        target('API req/s / bare req/s (after ANALYZE)', after.ratioToBare, '>=', 0.8),
        target('API p99 at 80 % of its max (after ANALYZE)', after.api.at80Percent.p99Ms, '<=', 50, 'ms'),
        target(
          'API non-2xx answers',
          before.api.max.non2xx + before.api.at80Percent.non2xx + after.api.max.non2xx + after.api.at80Percent.non2xx,
          '==',
          0,
        ),
      ],
      notes: [
        'API: the service app as deployed (NODE_ENV=production, JSON request log at info to /dev/null, API-key auth, zod validation, DTO mapping); bare: node:http + pg, the SQL compiled from the same query builder, rows as JSON.',
        'autocannon runs in the benchmark process on the same 2 cores as both servers and Postgres; latency at a fixed rate is measured by autocannon without coordinated-omission correction.',
        'No statistics: every pg_statistic row of the database deleted (superuser) before the first phase, as on a table never analyzed; then ANALYZE and the same phases again.',
        `Filters: ${FILTER_PAGES} pages of ${LIMIT} per filter, one request at a time, through the API with an all-organizations key; the get is 20 requests.`,
      ],
    });
  } finally {
    await api.stop();
    await bare.stop();
    const redis = newRedis();
    await deletePrefix(redis, prefix).finally(() => redis.disconnect());
  }
}
