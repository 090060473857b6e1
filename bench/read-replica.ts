/**
 * What DATABASE_READ_URL costs and moves (README, "Read replica"): the API in a child process over a private primary
 * and a streaming standby of it (tests/cluster/support/postgres-replica.ts), under autocannon, once with every read on
 * the primary and once with the replica; each with the primary quiet and with ingestion committing pages meanwhile.
 * Per phase: requests/s and latency of `GET /v1/transactions?accountId=…&limit=100`, which database served
 * (`jpm_read_db_requests_total` from the child's /metrics) and how many WAL-position queries the primary answered per
 * read (pg_stat_statements): the price of "never older than the request".
 */
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import autocannon from 'autocannon';
import type pg from 'pg';
import { createApiKey } from '../src/admin-api/api-keys.service.ts';
import { createDb } from '../src/storage/db.ts';
import { createAccount, createTenancy } from '../tests/factories/tenancy.ts';
import { ingestWire, wireTransaction } from '../tests/factories/transactions.ts';
import { migrate, startPostgresPair } from '../tests/cluster/support/postgres-replica.ts';
import { spawnServer } from './lib/children.ts';
import { startResult, type RunContext } from './lib/context.ts';
import { benchPrefix, processCpuSeconds, REDIS_URL, round, target, type BenchResult } from './lib/env.ts';

const ROWS = 5_000;
const CONNECTIONS = 16;
const SECONDS = Number(process.env.BENCH_READ_SECONDS ?? 10);

interface Phase {
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  non2xx: number;
  served: Record<string, number>;
  primaryPositionQueriesPerRead: number;
  /** CPU milliseconds per read: the API process, the primary's and the standby's processes. */
  cpuMsPerRead: { api: number; primary: number; standby: number };
}

/** CPU seconds used so far by a Postgres server: its postmaster and every process it started (that still runs). */
function serverCpuSeconds(dataDir: string): number {
  const postmaster = Number(readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
  let total = processCpuSeconds(postmaster);
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) {
      continue;
    }
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === postmaster) {
        total += processCpuSeconds(Number(entry));
      }
    } catch {
      // Gone meanwhile.
    }
  }
  return total;
}

async function servedCounts(base: string): Promise<Map<string, number>> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const out = new Map<string, number>();
  for (const m of text.matchAll(/^jpm_read_db_requests_total\{db="(\w+)",reason="(\w+)"\} (\d+)/gm)) {
    out.set(`${m[1]}/${m[2]}`, Number(m[3]));
  }
  return out;
}

async function positionQueries(query: (text: string) => Promise<pg.QueryResultRow[]>): Promise<number> {
  const rows = await query(
    "select coalesce(sum(calls), 0)::int as n from pg_stat_statements where query like '%pg_current_wal_flush_lsn%'",
  );
  return Number(rows[0]?.n ?? 0);
}

export async function runReadReplica(ctx: RunContext): Promise<BenchResult> {
  const finish = startResult(ctx, 'read-replica', 'Read API on a streaming replica: cost and offload');
  const preload = ['shared_preload_libraries=pg_stat_statements', 'pg_stat_statements.track=all'];
  const pair = await startPostgresPair('jpm_sync_bench_replica', migrate, preload);
  ctx.cleanups.push(() => pair.destroy());
  await pair.query('primary', 'create extension if not exists pg_stat_statements');
  const db = createDb({ url: pair.primaryUrl, poolMax: 4 });
  try {
    const tenancy = await createTenancy(db);
    const account = await createAccount(db, tenancy);
    // The writer's account: the pages read keep the same rows in every phase, only the WAL position moves.
    const other = await createAccount(db, tenancy);
    const page = (from: number, n: number, of = account) =>
      Array.from({ length: n }, (_, i) =>
        wireTransaction({
          transactionId: `B${from + i}`,
          jpmAccountId: of.jpmAccountId,
          amount: `${(from + i) % 9_000}.25`,
          asOfDate: `2026-10-${String(1 + ((from + i) % 28)).padStart(2, '0')}`,
        }),
      );
    for (let from = 0; from < ROWS; from += 500) {
      await ingestWire(db, account, page(from, 500));
    }
    const { token } = await createApiKey(db, {
      name: 'bench',
      role: 'viewer',
      organizationId: null,
      createdByKeyId: null,
    });
    const path = `/v1/transactions?accountId=${account.id}&limit=100`;
    const primaryQuery = (text: string) => pair.query('primary', text);

    const dirs = await Promise.all(
      (['primary', 'standby'] as const).map(async (on) => {
        const [row] = await pair.query<{ dir: string }>(on, "select current_setting('data_directory') as dir");
        return row?.dir ?? '';
      }),
    );
    const cpu = (apiPid: number) => ({
      api: processCpuSeconds(apiPid),
      primary: serverCpuSeconds(dirs[0] ?? ''),
      standby: serverCpuSeconds(dirs[1] ?? ''),
    });

    const phase = async (base: string, apiPid: number, writing: boolean): Promise<Phase> => {
      let stop = false;
      let written = ROWS;
      // Ingestion meanwhile (another account): pages of 100 rows back to back, the primary's WAL position moving.
      const writer = (async () => {
        while (writing && !stop) {
          await ingestWire(db, other, page(written, 100, other));
          written += 100;
        }
      })();
      const served0 = await servedCounts(base);
      const probes0 = await positionQueries(primaryQuery);
      const cpu0 = cpu(apiPid);
      const result = await autocannon({
        url: `${base}${path}`,
        connections: CONNECTIONS,
        duration: SECONDS,
        headers: { authorization: `Bearer ${token}` },
      });
      const cpu1 = cpu(apiPid);
      stop = true;
      await writer;
      const probes = (await positionQueries(primaryQuery)) - probes0;
      const served: Record<string, number> = {};
      for (const [k, v] of await servedCounts(base)) {
        if (v !== (served0.get(k) ?? 0)) {
          served[k] = v - (served0.get(k) ?? 0);
        }
      }
      const reads = Object.values(served).reduce((a, b) => a + b, 0);
      return {
        requestsPerSecond: round(result['2xx'] / result.duration),
        p50Ms: result.latency.p50,
        p99Ms: result.latency.p99,
        non2xx: result.non2xx,
        served,
        primaryPositionQueriesPerRead: reads === 0 ? 0 : round(probes / reads, 3),
        cpuMsPerRead: {
          api: round(((cpu1.api - cpu0.api) * 1000) / Math.max(1, reads), 2),
          primary: round(((cpu1.primary - cpu0.primary) * 1000) / Math.max(1, reads), 2),
          standby: round(((cpu1.standby - cpu0.standby) * 1000) / Math.max(1, reads), 2),
        },
      };
    };

    const figures: Record<string, Phase> = {};
    for (const withReplica of [false, true]) {
      const api = await spawnServer('api-child.ts', {
        NODE_ENV: 'production',
        DATABASE_URL: pair.primaryUrl,
        ...(withReplica ? { DATABASE_READ_URL: pair.standbyUrl } : {}),
        REDIS_URL,
        QUEUE_PREFIX: benchPrefix('replica'),
        HOST: '127.0.0.1',
        PORT: '0',
        LOG_LEVEL: 'warn',
        DB_POOL_MAX: '10',
        ROLES: 'api',
        CREDENTIALS_MASTER_KEY: randomBytes(32).toString('base64'),
      });
      try {
        const base = `http://127.0.0.1:${api.port}`;
        // Warm-up: connections, plans, the API key cache.
        await autocannon({
          url: `${base}${path}`,
          connections: 4,
          amount: 200,
          headers: { authorization: `Bearer ${token}` },
        });
        const name = withReplica ? 'replica' : 'primaryOnly';
        figures[`${name}Quiet`] = await phase(base, api.pid, false);
        figures[`${name}Writing`] = await phase(base, api.pid, true);
      } finally {
        await api.stop();
      }
    }
    const quiet = figures.replicaQuiet!;
    const writing = figures.replicaWriting!;
    const share = (p: Phase) => {
      const total = Object.values(p.served).reduce((a, b) => a + b, 0);
      return total === 0 ? 0 : round((p.served['replica/caught_up'] ?? 0) / total, 3);
    };
    return finish({
      parameters: { rows: ROWS, connections: CONNECTIONS, seconds: SECONDS, limit: 100 },
      figures: { ...figures, replicaShareQuiet: share(quiet), replicaShareWriting: share(writing) },
      targets: [
        target('reads served by the replica, primary quiet', share(quiet), '>=', 0.99),
        target('primary WAL-position queries per read, quiet', quiet.primaryPositionQueriesPerRead, '<=', 1),
        target('non-2xx answers', quiet.non2xx + writing.non2xx, '==', 0),
      ],
      notes: [
        'Same machine for API, load generator, primary and standby (2 cores): the replica adds CPU here that a separate host would not.',
      ],
    });
  } finally {
    await db.destroy();
  }
}
