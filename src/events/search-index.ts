import type { Logger } from '../shared/logger.ts';
import { searchIndexLagEvents, searchIndexLagSeconds } from '../shared/metrics.ts';
import { startPollingLoop, type PollingLoop } from '../shared/polling-loop.ts';
import { committedChangeEventsAfter, type FeedPosition } from '../storage/change-feed.repo.ts';
import { analyzeChangedTables } from '../storage/analyze.repo.ts';
import type { Database } from '../storage/db.ts';
import { lockSearchPosition, refreshSearchRows, searchLag, setSearchPosition, type SearchLag } from '../storage/search.repo.ts';

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

/** Batches until one finds fewer events than `batchSize` (caught up) or another process holds the step. */
export async function runSearchIndexUntilCaughtUp(db: Database, options: { batchSize: number }): Promise<{ events: number; batches: number }> {
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
 * The step as a polling loop (in every worker process; the position's lock makes one of them work at a time):
 * a batch at once after a full one, else every `intervalMs`. `stop()` waits for the batch in progress.
 */
export function startSearchIndexLoop(db: Database, options: { batchSize: number; intervalMs: number; logger: Logger }): PollingLoop {
  return startPollingLoop(async () => {
    const r = await runSearchIndexBatch(db, { batchSize: options.batchSize });
    if (r.events > 0) {
      options.logger.debug({ events: r.events, rowsWritten: r.rowsWritten }, 'search index batch');
    }
    if (r.rowsWritten > 0) {
      // Bulk work: the search table's statistics follow it (throttled; its plans do not need them, see read.repo.ts).
      await analyzeChangedTables(db, ['transaction_search']);
    }
    return r.ran && r.events >= options.batchSize;
  }, { intervalMs: options.intervalMs, log: options.logger, failure: 'search index batch failed' });
}

/** The step's lag for /metrics (`jpm_search_index_lag_events`, `jpm_search_index_lag_seconds`), read at scrape time. */
export async function refreshSearchLagMetric(db: Database): Promise<SearchLag> {
  const lag = await searchLag(db);
  searchIndexLagEvents.set(lag.events);
  searchIndexLagSeconds.set(lag.seconds);
  return lag;
}
