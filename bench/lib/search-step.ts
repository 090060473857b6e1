/**
 * The search step (src/events/search-index.ts) in the backfill benchmark: how far it lags while the backfill
 * runs (it runs in the worker process, as in production), and how long it takes to catch up afterwards: as
 * production would (in bulk past SEARCH_INDEX_BULK_THRESHOLD, src/events/search-bulk.ts), and with
 * BENCH_SEARCH_COMPARE=1 the same catch-up again event by event, for the cost of each path on the same rows.
 */
import { readFileSync } from 'node:fs';
import { sql } from 'kysely';
import { comparePositions } from '../../src/events/change-feed.ts';
import { runSearchIndexUntilCaughtUp } from '../../src/events/search-index.ts';
import type { FeedPosition } from '../../src/storage/change-feed.repo.ts';
import { createDb, type Database } from '../../src/storage/db.ts';
import { readSearchPosition } from '../../src/storage/search.repo.ts';
import { processCpuSeconds, round, sleep } from './env.ts';

const defaults = JSON.parse(readFileSync(new URL('../../config/default.json', import.meta.url), 'utf8')) as Record<string, string>;
/** Production's bulk threshold (BENCH_SEARCH_BULK_THRESHOLD overrides it, e.g. a huge value for event by event only). */
export const BULK_THRESHOLD = Number(process.env.BENCH_SEARCH_BULK_THRESHOLD ?? defaults.SEARCH_INDEX_BULK_THRESHOLD);

/**
 * Transaction change events after the step's position (what `q=` reads from `transactions` directly) and the age
 * of the oldest of them in seconds (what SEARCH_INDEX_MAX_LAG_SECONDS bounds while the step yields).
 */
async function lagOf(db: Database): Promise<{ events: number; seconds: number }> {
  const r = await sql<{ n: string; oldest: number | null }>`
    select count(*)::text as n, extract(epoch from now() - min(e.created_at))::float8 as oldest from change_events e, transaction_search_state p
    where p.id = 1 and (e.xid, e.id) > (p.position_xid, p.position_id) and e.entity = 'transaction'`.execute(db);
  return { events: Number(r.rows[0]?.n ?? 0), seconds: round(Math.max(0, r.rows[0]?.oldest ?? 0), 1) };
}

async function lagEvents(db: Database): Promise<number> {
  return (await lagOf(db)).events;
}

export interface LagSampler {
  /** Stops sampling; the largest lag seen (events, age of the oldest in seconds) and the samples ([seconds since start, events, age]). */
  stop(): Promise<{ maxLagEvents: number; maxLagSeconds: number; samples: [number, number, number][] }>;
}

/** Samples the step's lag every `everyMs` (a count over the feed's (xid, id) index: a little CPU of its own). */
export function sampleSearchLag(db: Database, everyMs = 5_000): LagSampler {
  const samples: [number, number, number][] = [];
  const started = performance.now();
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      await sleep(everyMs);
      if (!stopped) {
        const lag = await lagOf(db);
        samples.push([round((performance.now() - started) / 1000, 1), lag.events, lag.seconds]);
      }
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
      return { maxLagEvents: samples.reduce((m, [, n]) => Math.max(m, n), 0), maxLagSeconds: samples.reduce((m, [, , s]) => Math.max(m, s), 0), samples };
    },
  };
}

export interface CatchUp {
  /** Events left for the step when the backfill's last run finished. */
  eventsLeft: number;
  seconds: number;
  eventsPerSecond: number;
  /** CPU of the Postgres backend that ran the step, per event applied. */
  backendCpuMicrosecondsPerEvent: number;
  searchRows: number;
}

/**
 * Runs the step on `db` until its position reaches the newest change event: in bulk when production's rule would
 * (`bulk: false` forces event by event). Returns whether the bulk path ran.
 */
export async function runSearchStepToEnd(db: Database, batchSize = 5_000, options: { bulk?: boolean } = {}): Promise<{ bulk: boolean }> {
  // ORDER BY names the table's columns: bare `xid, id` would sort by the text aliases ("999999" > "1314336"), and the
  // target would be an event in the middle of the feed (the step stopped there, leaving the rest to every `q=` page).
  const newest = await sql<FeedPosition>`
    select e.xid::text as xid, e.id::text as id from change_events e order by e.xid desc, e.id desc limit 1`.execute(db);
  const target = newest.rows[0] ?? { xid: '0', id: '0' };
  const bulk = options.bulk === false ? {} : { bulk: { thresholdEvents: BULK_THRESHOLD } };
  let usedBulk = false;
  for (let i = 0; comparePositions(await readSearchPosition(db), target) < 0; i++) {
    const r = await runSearchIndexUntilCaughtUp(db, { batchSize, ...bulk });
    usedBulk ||= r.bulk === true;
    if (i > 0) {
      // Events become readable once every older write transaction of the cluster has ended.
      await sleep(50);
    }
  }
  const left = await lagEvents(db);
  if (left > 0) {
    throw new Error(`the search step stopped with ${left} transaction change events after its position`);
  }
  return { bulk: usedBulk };
}

export interface CatchUp {
  /** Events left for the step when the backfill's last run finished. */
  eventsLeft: number;
  /** 'bulk': a fresh search table filled, indexed and swapped in (search-bulk.ts); 'events': event by event. */
  path: 'bulk' | 'events';
  seconds: number;
  eventsPerSecond: number;
  /** CPU of the Postgres backend that ran the step, per event applied (and per transaction row). */
  backendCpuMicrosecondsPerEvent: number;
  backendCpuMicrosecondsPerRow: number;
  searchRows: number;
  /** BENCH_SEARCH_COMPARE=1: the same catch-up again event by event (search table emptied, position at the start). */
  eventByEvent?: { events: number; seconds: number; backendCpuMicrosecondsPerEvent: number };
}

/** One timed catch-up on a connection of its own: seconds and that backend's CPU. */
async function timedCatchUp(url: string, batchSize: number, bulk: boolean): Promise<{ seconds: number; cpu: number; bulk: boolean }> {
  const db = createDb({ url, poolMax: 1, applicationName: 'jpm-sync-bench-search' });
  try {
    const pid = (await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(db)).rows[0]?.pid ?? 0;
    const cpu0 = processCpuSeconds(pid);
    const started = performance.now();
    const r = await runSearchStepToEnd(db, batchSize, { bulk });
    return { seconds: (performance.now() - started) / 1000, cpu: processCpuSeconds(pid) - cpu0, bulk: r.bulk };
  } finally {
    await db.destroy();
  }
}

/**
 * Runs the step alone (one connection) until its position reaches the newest event, as production would (in bulk
 * past the threshold); timed, with its backend's CPU. The bulk path's index builds run in that backend (the trigram
 * GIN's build is not parallel in Postgres 15; the btrees' may use parallel workers, a few µs a row not counted).
 */
export async function catchUpSearch(url: string, batchSize = 5_000): Promise<CatchUp> {
  const db = createDb({ url, poolMax: 1, applicationName: 'jpm-sync-bench-search-count' });
  try {
    const eventsLeft = await lagEvents(db);
    const rows = Number((await sql<{ n: string }>`select count(*)::text as n from transactions`.execute(db)).rows[0]?.n ?? 0);
    const run = await timedCatchUp(url, batchSize, true);
    const searchRows = Number((await sql<{ n: string }>`select count(*)::text as n from transaction_search`.execute(db)).rows[0]?.n ?? 0);
    const result: CatchUp = {
      eventsLeft, path: run.bulk ? 'bulk' : 'events', seconds: round(run.seconds, 2), eventsPerSecond: round(eventsLeft / (run.seconds || 1)),
      backendCpuMicrosecondsPerEvent: round((run.cpu * 1e6) / (eventsLeft || 1), 1), backendCpuMicrosecondsPerRow: round((run.cpu * 1e6) / (rows || 1), 1),
      searchRows,
    };
    if (process.env.BENCH_SEARCH_COMPARE === '1') {
      await sql`truncate transaction_search`.execute(db);
      await sql`update transaction_search_state set position_xid = '0'::xid8, position_id = 0 where id = 1`.execute(db);
      const events = await lagEvents(db);
      const again = await timedCatchUp(url, batchSize, false);
      result.eventByEvent = { events, seconds: round(again.seconds, 2), backendCpuMicrosecondsPerEvent: round((again.cpu * 1e6) / (events || 1), 1) };
    }
    return result;
  } finally {
    await db.destroy();
  }
}
