/**
 * Benchmark 5: a consumer reading the whole change feed of the backfill (an `added` event per posted
 * transaction, `added` and `modified` per intraday pending row, each with the transaction's current state)
 * page by page with its cursor, as `GET /v1/changes` serves it (`readChanges`, src/events/change-feed.ts), at
 * the largest page the API allows: first with no planner statistics (as a never-analyzed table), then after ANALYZE.
 */
import { sql } from 'kysely';
import { readChanges } from '../src/events/change-feed.ts';
import { createDb } from '../src/storage/db.ts';
import { readBenchDb, startResult, type RunContext } from './lib/context.ts';
import { analyzeAll, forgetStatistics } from './lib/intraday.ts';
import { round, target, type BenchResult } from './lib/env.ts';

const PAGE = 1000;
/** Reads stop after this many events (the scale run sets it: three reads of a 14M-event feed take too long). */
const MAX_EVENTS = Number(process.env.BENCH_FEED_MAX_EVENTS ?? Infinity);

export async function runChangeFeed(ctx: RunContext): Promise<BenchResult> {
  const source = await readBenchDb(ctx);
  const finish = startResult(ctx, 'change-feed', 'Change feed consumer');
  const db = createDb({ url: source.url, poolMax: 2, applicationName: 'jpm-sync-bench-feed' });
  try {
    const total = Number(
      (await sql<{ n: string }>`select count(*)::text as n from change_events`.execute(db)).rows[0]?.n ?? 0,
    );
    const pass = async () => {
      let cursor: string | null = null;
      let events = 0;
      let pages = 0;
      let withState = 0;
      let slowestPageMs = 0;
      const started = performance.now();
      for (;;) {
        const t = performance.now();
        const page = await readChanges(db, { organizationId: null, cursor, limit: PAGE });
        slowestPageMs = Math.max(slowestPageMs, performance.now() - t);
        pages++;
        events += page.events.length;
        withState += page.events.reduce((n, e) => n + (e.transaction ? 1 : 0), 0);
        cursor = page.nextCursor;
        if (!page.hasMore || events >= MAX_EVENTS) {
          break;
        }
      }
      const seconds = (performance.now() - started) / 1000;
      return {
        events,
        pages,
        seconds: round(seconds, 1),
        changesPerSecond: round(events / seconds),
        eventsWithTransactionState: withState,
        slowestPageMs: round(slowestPageMs),
      };
    };
    // No statistics: a first read from whatever the cache holds after the previous benchmark, then a warm one
    // (a consumer tails a feed whose recent pages are hot). Then ANALYZE and a third read.
    const statisticsRowsRemoved = await forgetStatistics(db);
    const first = await pass();
    const warm = await pass();
    const analyzeSeconds = await analyzeAll(db);
    const analyzed = await pass();
    return finish({
      parameters: {
        pageSize: PAGE,
        eventsInFeed: total,
        eventsPerRead: Math.min(total, Math.ceil(MAX_EVENTS / PAGE) * PAGE),
        intraday: ctx.intraday,
      },
      figures: {
        changesPerSecond: Math.min(warm.changesPerSecond, analyzed.changesPerSecond),
        beforeAnalyze: { statisticsRowsRemoved, firstRead: first, warm },
        afterAnalyze: { analyzeSeconds, read: analyzed },
      },
      targets: [
        target('changes per second (no statistics, warm read)', warm.changesPerSecond, '>=', 50_000),
        target('changes per second (after ANALYZE)', analyzed.changesPerSecond, '>=', 50_000),
        target(
          'events read (each read)',
          Math.min(first.events, warm.events, analyzed.events),
          '==',
          Math.min(total, Math.ceil(MAX_EVENTS / PAGE) * PAGE),
        ),
      ],
      notes: [
        'In-process consumer of readChanges (the function behind GET /v1/changes): REPEATABLE READ snapshot per page, events joined with the current transaction rows.',
        'No statistics: every pg_statistic row of the database deleted (superuser) first, as on a never-analyzed table; firstRead starts from the page cache the previous benchmark left; then ANALYZE and one more read.',
      ],
    });
  } finally {
    await db.destroy();
  }
}
