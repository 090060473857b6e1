/**
 * The search step (src/events/search-index.ts) in the backfill benchmark: how far it lags while the backfill
 * runs (it runs in the worker process, as in production), and how long it takes to catch up afterwards.
 */
import { sql } from 'kysely';
import { comparePositions } from '../../src/events/change-feed.ts';
import { runSearchIndexUntilCaughtUp } from '../../src/events/search-index.ts';
import type { FeedPosition } from '../../src/storage/change-feed.repo.ts';
import { createDb, type Database } from '../../src/storage/db.ts';
import { readSearchPosition } from '../../src/storage/search.repo.ts';
import { processCpuSeconds, round, sleep } from './env.ts';

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
      return {
        maxLagEvents: samples.reduce((m, [, n]) => Math.max(m, n), 0),
        maxLagSeconds: samples.reduce((m, [, , s]) => Math.max(m, s), 0),
        samples,
      };
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

/** Runs the step on `db` until its position reaches the newest change event. */
export async function runSearchStepToEnd(db: Database, batchSize = 5_000): Promise<void> {
  // ORDER BY names the table's columns: bare `xid, id` would sort by the text aliases ("999999" > "1314336"), and the
  // target would be an event in the middle of the feed (the step stopped there, leaving the rest to every `q=` page).
  const newest = await sql<FeedPosition>`
    select e.xid::text as xid, e.id::text as id from change_events e order by e.xid desc, e.id desc limit 1`.execute(
    db,
  );
  const target = newest.rows[0] ?? { xid: '0', id: '0' };
  for (let i = 0; comparePositions(await readSearchPosition(db), target) < 0; i++) {
    await runSearchIndexUntilCaughtUp(db, { batchSize });
    if (i > 0) {
      // Events become readable once every older write transaction of the cluster has ended.
      await sleep(50);
    }
  }
  const left = await lagEvents(db);
  if (left > 0) {
    throw new Error(`the search step stopped with ${left} transaction change events after its position`);
  }
}

/** Runs the step alone (one connection) until its position reaches the newest event; timed, with its backend's CPU. */
export async function catchUpSearch(url: string, batchSize = 5_000): Promise<CatchUp> {
  const db = createDb({ url, poolMax: 1, applicationName: 'jpm-sync-bench-search' });
  try {
    const eventsLeft = await lagEvents(db);
    const pid = (await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(db)).rows[0]?.pid ?? 0;
    const cpu0 = processCpuSeconds(pid);
    const started = performance.now();
    await runSearchStepToEnd(db, batchSize);
    const seconds = (performance.now() - started) / 1000;
    const cpu = processCpuSeconds(pid) - cpu0;
    const rows = await sql<{ n: string }>`select count(*)::text as n from transaction_search`.execute(db);
    return {
      eventsLeft,
      seconds: round(seconds, 2),
      eventsPerSecond: round(eventsLeft / (seconds || 1)),
      backendCpuMicrosecondsPerEvent: round((cpu * 1e6) / (eventsLeft || 1), 1),
      searchRows: Number(rows.rows[0]?.n ?? 0),
    };
  } finally {
    await db.destroy();
  }
}
