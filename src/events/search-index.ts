import type { Logger } from '../shared/logger.ts';
import { searchIndexBulkActive, searchIndexBulkRowsCopied, searchIndexLagEvents, searchIndexLagSeconds, searchIndexYielding } from '../shared/metrics.ts';
import { startPollingLoop, type PollingLoop } from '../shared/polling-loop.ts';
import { decideSearchBulk, runSearchBulk, type SearchBulkSettings } from './search-bulk.ts';
import { committedChangeEventsAfter, type FeedPosition } from '../storage/change-feed.repo.ts';
import { analyzeChangedTables } from '../storage/analyze.repo.ts';
import { readSearchBulkProgress, readSearchRebuild } from '../storage/search-bulk.repo.ts';
import type { Database } from '../storage/db.ts';
import { lockSearchPosition, readFeedActivity, refreshSearchRows, searchLag, setSearchPosition, type FeedActivity, type SearchLag } from '../storage/search.repo.ts';

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
 *
 * Far behind (SEARCH_INDEX_BULK_THRESHOLD events and more than the search table's rows), the step catches up in bulk
 * instead (search-bulk.ts): a fresh table filled from `transactions` and swapped in. While one is recorded the
 * batches do not run (`bulkPending`), so the position stays put until the swap moves it.
 */
export interface SearchBatchResult {
  /** False when another process holds the step, or a bulk catch-up is recorded (`bulkPending`). */
  ran: boolean;
  bulkPending?: boolean;
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
    if (await readSearchRebuild(trx)) {
      return { ran: false, bulkPending: true, events: 0, rowsWritten: 0, position };
    }
    const rows = await committedChangeEventsAfter(trx, { organizationId: null, after: position, limit: options.batchSize });
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

/**
 * Batches until one finds fewer events than `batchSize` (caught up) or another process holds the step. With `bulk`,
 * first the bulk catch-up when the lag calls for it or one is recorded (search-bulk.ts).
 */
export async function runSearchIndexUntilCaughtUp(
  db: Database, options: { batchSize: number; bulk?: SearchBulkSettings & { logger?: Logger } },
): Promise<{ events: number; batches: number; bulk?: boolean }> {
  let events = 0;
  let batches = 0;
  let bulk = false;
  let bulkTried = false;
  if (options.bulk && (await decideSearchBulk(db, options.bulk)).bulk) {
    bulkTried = true;
    bulk = (await runSearchBulk(db, options.bulk)).outcome === 'swapped';
  }
  for (;;) {
    const r = await runSearchIndexBatch(db, options);
    batches += 1;
    events += r.events;
    // A recorded rebuild (a crashed one, or one another process runs): resumed once here, else left to the loop.
    if (r.bulkPending && options.bulk && !bulkTried) {
      bulkTried = true;
      bulk = (await runSearchBulk(db, options.bulk)).outcome === 'swapped';
      continue;
    }
    if (!r.ran || r.events < options.batchSize) {
      return { events, batches, bulk };
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
  if (settings.busyShare >= 1 || input.newestEventAgeMs === undefined || input.newestEventAgeMs >= settings.busyWindowMs) {
    return 0;
  }
  if (input.oldestPendingAgeMs === undefined || input.oldestPendingAgeMs >= maxLagMs) {
    return 0;
  }
  const pause = Math.max(0, input.elapsedMs) * (1 / settings.busyShare - 1);
  return Math.min(pause, maxLagMs - input.oldestPendingAgeMs);
}

/** The pause after a full batch that ended at `position` and took `elapsedMs`: the feed read now, then the policy. */
export async function searchYieldDelayAfter(db: Database, position: FeedPosition, elapsedMs: number, settings: SearchYieldSettings): Promise<number> {
  if (settings.busyShare >= 1) {
    return 0;
  }
  return searchYieldDelayMs(settings, { ...(await readFeedActivity(db, position)), elapsedMs });
}

/** How often a step that keeps finding full batches (and does not yield) asks whether to catch up in bulk instead. */
const BULK_CHECK_INTERVAL_MS = 300_000;

/**
 * The step as a polling loop (in every worker process; the position's lock makes one of them work at a time):
 * after a full batch the next one at once, or after the pause of `searchYieldDelayMs` while ingestion is busy;
 * else every `intervalMs`. With `bulk`, a step that is not yielding and keeps finding full batches asks (at once,
 * then every BULK_CHECK_INTERVAL_MS) whether to catch up in bulk, and a recorded bulk catch-up is resumed.
 * `stop()` waits for the batch in progress, not for a pause; a bulk catch-up stops at its next chunk or stage.
 */
export function startSearchIndexLoop(
  db: Database,
  options: {
    batchSize: number; intervalMs: number; logger: Logger; yield: Omit<SearchYieldSettings, 'busyWindowMs'> & { busyWindowMs?: number };
    bulk?: SearchBulkSettings;
  },
): PollingLoop {
  const settings: SearchYieldSettings = { busyWindowMs: DEFAULT_BUSY_WINDOW_MS, ...options.yield };
  let stopping = false;
  let nextBulkCheck = 0;
  /** True when a bulk catch-up ran to its swap (then the next pass follows at once; else after the interval). */
  const bulk = async (): Promise<boolean> => {
    if (!options.bulk) {
      return false;
    }
    const r = await runSearchBulk(db, { ...options.bulk, logger: options.logger, shouldStop: () => stopping });
    return r.ran && r.outcome === 'swapped';
  };
  const loop = startPollingLoop(async () => {
    const started = performance.now();
    const r = await runSearchIndexBatch(db, { batchSize: options.batchSize });
    if (r.bulkPending) {
      // Resumed here, or run by another process (its lock): then this one waits an interval, not a busy loop.
      return (await bulk()) && !stopping;
    }
    if (r.events > 0) {
      options.logger.debug({ events: r.events, rowsWritten: r.rowsWritten }, 'search index batch');
    }
    if (r.rowsWritten > 0) {
      // Bulk work: the search table's statistics follow it (throttled; its plans do not need them, see read.repo.ts).
      await analyzeChangedTables(db, ['transaction_search']);
    }
    if (!r.ran || r.events < options.batchSize || !r.position) {
      nextBulkCheck = 0;
      return false;
    }
    const pause = await searchYieldDelayAfter(db, r.position, performance.now() - started, settings);
    if (pause > 0) {
      options.logger.debug({ pauseMs: Math.round(pause) }, 'search index yields to ingestion');
      return pause;
    }
    if (options.bulk && performance.now() >= nextBulkCheck) {
      nextBulkCheck = performance.now() + BULK_CHECK_INTERVAL_MS;
      const decision = await decideSearchBulk(db, options.bulk);
      if (decision.bulk) {
        options.logger.info({ lagEvents: decision.lagEvents, addedEvents: decision.addedEvents, searchRows: decision.searchRows, thresholdEvents: options.bulk.thresholdEvents }, 'search index bulk catch-up chosen');
        return await bulk();
      }
    }
    return true;
  }, { intervalMs: options.intervalMs, log: options.logger, failure: 'search index batch failed' });
  return {
    async stop() {
      stopping = true;
      await loop.stop();
    },
  };
}

/**
 * The step's state for /metrics, read at scrape time: its lag (`jpm_search_index_lag_events`,
 * `jpm_search_index_lag_seconds`) and `jpm_search_index_yielding`, 1 while changes wait, ingestion is busy and
 * the lag is under the bound (the step then runs at its busy share), else 0; `jpm_search_index_bulk_active` and
 * `jpm_search_index_bulk_rows_copied` while a bulk catch-up is recorded (whichever process runs it).
 */
export async function refreshSearchLagMetric(db: Database, settings?: SearchYieldSettings): Promise<SearchLag> {
  const lag = await searchLag(db);
  searchIndexLagEvents.set(lag.events);
  searchIndexLagSeconds.set(lag.seconds);
  const bulk = await readSearchBulkProgress(db);
  searchIndexBulkActive.set(bulk.active ? 1 : 0);
  searchIndexBulkRowsCopied.set(bulk.rowsCopied);
  if (settings) {
    const activity = await readFeedActivity(db, lag.position);
    const yielding = activity.oldestPendingAgeMs !== undefined && searchYieldDelayMs(settings, { ...activity, elapsedMs: 1 }) > 0;
    searchIndexYielding.set(yielding ? 1 : 0);
  }
  return lag;
}
