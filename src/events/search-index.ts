import type { Logger } from '../shared/logger.ts';
import { searchIndexLagEvents, searchIndexLagSeconds, searchIndexYielding } from '../shared/metrics.ts';
import { startPollingLoop, type PollingLoop } from '../shared/polling-loop.ts';
import { committedChangeEventsAfter, type FeedPosition } from '../storage/change-feed.repo.ts';
import { analyzeChangedTables } from '../storage/analyze.repo.ts';
import type { Database } from '../storage/db.ts';
import {
  lockSearchPosition,
  readFeedActivity,
  refreshSearchRows,
  searchLag,
  setSearchPosition,
  type FeedActivity,
  type SearchLag,
} from '../storage/search.repo.ts';

/**
 * The search step: keeps `transaction_search` (what `q=` searches, with its trigram index) up to date after
 * commit, so extracting trigrams is not part of storing a transaction.
 *
 * One batch, in one transaction: lock the step's position (SKIP LOCKED: with several worker processes one
 * works, the others skip), read the next committed change events in the feed's `(xid, id)` order (the same
 * commit-safe read as the change feed, see change-feed.ts), write the search rows of the transactions they
 * name from their current state, and store the new position. A crash anywhere rolls the batch back whole and
 * the next batch re-applies it; the writes are upserts by transaction id from the current row, so applying
 * an event again writes nothing new: nothing is missed and nothing is there twice.
 *
 * The position is the last event applied (an idle step writes nothing): every committed event at or before it
 * has been applied, because the feed's read returns only events whose transaction has ended, in final order.
 *
 * The position is also the change-feed purge's limit (purgeChangeFeed never deletes an event after it), so
 * the events `q=` reads for rows changed since the position are always there.
 */
export interface SearchBatchResult {
  /** False when another process holds the step. */
  ran: boolean;
  events: number;
  rowsWritten: number;
  position: FeedPosition | undefined;
}

export async function runSearchIndexBatch(db: Database, options: { batchSize: number }): Promise<SearchBatchResult> {
  return db.transaction().execute(async (trx) => {
    const position = await lockSearchPosition(trx);
    if (!position) {
      return { ran: false, events: 0, rowsWritten: 0, position: undefined };
    }
    const rows = await committedChangeEventsAfter(trx, {
      organizationId: null,
      after: position,
      limit: options.batchSize,
    });
    const ids = [...new Set(rows.filter((r) => r.entity === 'transaction').map((r) => r.entity_id))];
    const rowsWritten = await refreshSearchRows(trx, ids);
    const last = rows[rows.length - 1];
    if (!last) {
      return { ran: true, events: 0, rowsWritten, position };
    }
    const next = { xid: last.xid, id: last.id };
    await setSearchPosition(trx, next);
    return { ran: true, events: rows.length, rowsWritten, position: next };
  });
}

/** Batches until one finds fewer events than `batchSize` (caught up) or another process holds the step. */
export async function runSearchIndexUntilCaughtUp(
  db: Database,
  options: { batchSize: number },
): Promise<{ events: number; batches: number }> {
  let events = 0;
  let batches = 0;
  for (;;) {
    const r = await runSearchIndexBatch(db, options);
    batches += 1;
    events += r.events;
    if (!r.ran || r.events < options.batchSize) {
      return { events, batches };
    }
  }
}

/**
 * How the step shares the machine with ingestion during a backfill (SEARCH_INDEX_BUSY_SHARE,
 * SEARCH_INDEX_MAX_LAG_SECONDS). Ingestion counts as busy while the feed's newest event is younger than
 * `busyWindowMs`.
 */
export interface SearchYieldSettings {
  /** Fraction of its time the step may run while ingestion is busy (1 = never yield). */
  busyShare: number;
  /** The step stops yielding once the oldest change it has not applied is this old. */
  maxLagSeconds: number;
  busyWindowMs: number;
}

export const DEFAULT_BUSY_WINDOW_MS = 5_000;

/**
 * The pause before the next batch after a full one (more work waiting), in ms; 0 = at once. While ingestion
 * is busy and the step's lag is under the bound, the step runs `busyShare` of the time: it waits
 * `elapsedMs × (1/busyShare − 1)`, never past the bound. An idle feed or a lag at the bound: no pause.
 */
export function searchYieldDelayMs(settings: SearchYieldSettings, input: FeedActivity & { elapsedMs: number }): number {
  const maxLagMs = settings.maxLagSeconds * 1000;
  if (
    settings.busyShare >= 1 ||
    input.newestEventAgeMs === undefined ||
    input.newestEventAgeMs >= settings.busyWindowMs
  ) {
    return 0;
  }
  if (input.oldestPendingAgeMs === undefined || input.oldestPendingAgeMs >= maxLagMs) {
    return 0;
  }
  const pause = Math.max(0, input.elapsedMs) * (1 / settings.busyShare - 1);
  return Math.min(pause, maxLagMs - input.oldestPendingAgeMs);
}

/** The pause after a full batch that ended at `position` and took `elapsedMs`: the feed read now, then the policy. */
export async function searchYieldDelayAfter(
  db: Database,
  position: FeedPosition,
  elapsedMs: number,
  settings: SearchYieldSettings,
): Promise<number> {
  if (settings.busyShare >= 1) {
    return 0;
  }
  return searchYieldDelayMs(settings, { ...(await readFeedActivity(db, position)), elapsedMs });
}

/**
 * The step as a polling loop (in every worker process; the position's lock makes one of them work at a time):
 * after a full batch the next one at once, or after the pause of `searchYieldDelayMs` while ingestion is busy;
 * else every `intervalMs`. `stop()` waits for the batch in progress, not for a pause.
 */
export function startSearchIndexLoop(
  db: Database,
  options: {
    batchSize: number;
    intervalMs: number;
    logger: Logger;
    yield: Omit<SearchYieldSettings, 'busyWindowMs'> & { busyWindowMs?: number };
  },
): PollingLoop {
  const settings: SearchYieldSettings = { busyWindowMs: DEFAULT_BUSY_WINDOW_MS, ...options.yield };
  return startPollingLoop(
    async () => {
      const started = performance.now();
      const r = await runSearchIndexBatch(db, { batchSize: options.batchSize });
      if (r.events > 0) {
        options.logger.debug({ events: r.events, rowsWritten: r.rowsWritten }, 'search index batch');
      }
      if (r.rowsWritten > 0) {
        // Bulk work: the search table's statistics follow it (throttled; its plans do not need them, see read.repo.ts).
        await analyzeChangedTables(db, ['transaction_search']);
      }
      if (!r.ran || r.events < options.batchSize || !r.position) {
        return false;
      }
      const pause = await searchYieldDelayAfter(db, r.position, performance.now() - started, settings);
      if (pause > 0) {
        options.logger.debug({ pauseMs: Math.round(pause) }, 'search index yields to ingestion');
      }
      return pause > 0 ? pause : true;
    },
    { intervalMs: options.intervalMs, log: options.logger, failure: 'search index batch failed' },
  );
}

/**
 * The step's state for /metrics, read at scrape time: its lag (`jpm_search_index_lag_events`,
 * `jpm_search_index_lag_seconds`) and `jpm_search_index_yielding`, 1 while changes wait, ingestion is busy and
 * the lag is under the bound (the step then runs at its busy share), else 0.
 */
export async function refreshSearchLagMetric(db: Database, settings?: SearchYieldSettings): Promise<SearchLag> {
  const lag = await searchLag(db);
  searchIndexLagEvents.set(lag.events);
  searchIndexLagSeconds.set(lag.seconds);
  if (settings) {
    const activity = await readFeedActivity(db, lag.position);
    const yielding =
      activity.oldestPendingAgeMs !== undefined && searchYieldDelayMs(settings, { ...activity, elapsedMs: 1 }) > 0;
    searchIndexYielding.set(yielding ? 1 : 0);
  }
  return lag;
}
