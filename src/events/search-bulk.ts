import type { Logger } from '../shared/logger.ts';
import type { Database } from '../storage/db.ts';
import { readSearchPosition } from '../storage/search.repo.ts';
import {
  buildSearchRebuildIndexes, countSearchLag, countSearchRows, fillSearchRebuildChunk, readSearchRebuild, searchRebuildTableExists,
  startSearchRebuild, swapSearchRebuild, tryLockSearchBulk, unlockSearchBulk, type SearchRebuildState,
} from '../storage/search-bulk.repo.ts';

/**
 * The search step's bulk catch-up: when the step is far behind (after a bulk backfill, a restore, workers down for
 * long), applying millions of change events one transaction at a time costs ~100 µs of Postgres CPU each, mostly
 * the trigram GIN's insertions. Instead a fresh search table is filled from `transactions` (set-wise, in
 * primary-key chunks of one committed transaction each), its indexes built once, and it is swapped in for the old
 * one; the change events after the rebuild's position (recorded before the fill) are then applied by the ordinary
 * step. Exactness, crash safety and the swap: src/storage/search-bulk.repo.ts.
 *
 * While a rebuild is recorded in the step's state row the incremental batches do not run (runSearchIndexBatch
 * returns `bulkPending`), so the step's position stays where it was; `q=` is exact meanwhile exactly as while the
 * step lags (it reads the rows changed since the position from `transactions`). A process killed mid-way leaves
 * the state; the next run (any worker process) resumes it: the fill from its cursor, the indexes not yet built,
 * the swap.
 */

/**
 * The bulk path is taken only while the search table holds fewer rows than this many per row added since the
 * position (its `added` change events): most rows missing. A rebuild indexes every transaction again, the rows
 * already searchable for nothing, and per row it costs about what the incremental step costs per new row (both are
 * mostly the trigram GIN's work: 112-140 against 128-146 µs of Postgres CPU on the same 250k rows, see the README's
 * Benchmarks), so it pays only when it re-indexes few rows. A modified event of a row already searchable costs the
 * incremental step little (its description rarely changes), so only the added ones count. The rule also bounds
 * repeated rebuilds during one long backfill: the next needs four times as many new rows as the last one indexed.
 */
const SEARCH_ROWS_PER_ADDED_ROW = 0.25;

export interface SearchBulkSettings {
  /** Below this many transaction change events after the position the step always goes event by event. */
  thresholdEvents: number;
  /** Transactions copied per fill transaction. */
  chunkRows?: number;
  /** Memory of the index builds. */
  maintenanceWorkMem?: string;
  /** Longest wait for `q=` readers at the swap before trying again. */
  swapLockTimeoutMs?: number;
}

export const DEFAULT_BULK_CHUNK_ROWS = 50_000;
const DEFAULT_MAINTENANCE_WORK_MEM = '256MB';
const DEFAULT_SWAP_LOCK_TIMEOUT_MS = 2_000;
const SWAP_ATTEMPTS = 10;

export interface SearchBulkDecision {
  bulk: boolean;
  /** A rebuild was already recorded (a crashed or stopped one): resume it. */
  resume: boolean;
  lagEvents: number;
  /** Of the lag, `added` events (rows new since the position). */
  addedEvents: number;
  searchRows: number;
}

/**
 * Whether the step should catch up in bulk now: a rebuild is already recorded, or the lag is at least
 * `thresholdEvents` and the search table holds fewer rows than SEARCH_ROWS_PER_ADDED_ROW per row added since.
 * Both counts stop at what the decision needs (the lag at 100 × the threshold, the rows at the bound), a small
 * fraction of the work either path then does.
 */
export async function decideSearchBulk(db: Database, settings: Pick<SearchBulkSettings, 'thresholdEvents'>): Promise<SearchBulkDecision> {
  if (await readSearchRebuild(db)) {
    return { bulk: true, resume: true, lagEvents: 0, addedEvents: 0, searchRows: 0 };
  }
  const position = await readSearchPosition(db);
  const lag = await countSearchLag(db, position, settings.thresholdEvents * 100);
  if (lag.events < settings.thresholdEvents) {
    return { bulk: false, resume: false, lagEvents: lag.events, addedEvents: lag.added, searchRows: 0 };
  }
  const bound = Math.ceil(lag.added * SEARCH_ROWS_PER_ADDED_ROW);
  const searchRows = await countSearchRows(db, bound + 1);
  return { bulk: searchRows < bound, resume: false, lagEvents: lag.events, addedEvents: lag.added, searchRows };
}

export type SearchBulkOutcome = 'swapped' | 'stopped' | 'busy' | 'discarded';

export interface SearchBulkResult {
  /** False when another process runs the bulk catch-up. */
  ran: boolean;
  outcome: SearchBulkOutcome;
  rowsCopied: number;
  seconds: number;
}

/**
 * Runs (or resumes) the bulk catch-up to the swap on one connection of `db`, holding the bulk lock (one process at a
 * time; a dead session releases it). `shouldStop` is checked between chunks and stages (a worker shutting down): the
 * state stays and the next run resumes. `pauseAfterChunk` lets the caller yield between chunks (busy ingestion).
 */
export async function runSearchBulk(
  db: Database,
  options: SearchBulkSettings & { logger?: Logger; shouldStop?: () => boolean; pauseAfterChunk?: (elapsedMs: number) => Promise<void> },
): Promise<SearchBulkResult> {
  const started = performance.now();
  return db.connection().execute(async (conn) => {
    if (!(await tryLockSearchBulk(conn))) {
      return { ran: false, outcome: 'busy', rowsCopied: 0, seconds: 0 };
    }
    try {
      const outcome = await rebuildAndSwap(conn, options);
      const seconds = Math.round((performance.now() - started) / 10) / 100;
      options.logger?.info({ outcome: outcome.outcome, rowsCopied: outcome.rowsCopied, seconds }, 'search index bulk catch-up ended');
      return { ran: true, ...outcome, seconds };
    } finally {
      await unlockSearchBulk(conn).catch(() => undefined);
    }
  });
}

async function rebuildAndSwap(
  conn: Database,
  options: SearchBulkSettings & { logger?: Logger; shouldStop?: () => boolean; pauseAfterChunk?: (elapsedMs: number) => Promise<void> },
): Promise<{ outcome: SearchBulkOutcome; rowsCopied: number }> {
  const log = options.logger;
  let state = await readSearchRebuild(conn);
  if (state && !(await searchRebuildTableExists(conn))) {
    state = undefined;
  }
  if (state) {
    log?.info({ position: state.position, after: state.after, filled: state.filled, startedAt: state.startedAt }, 'search index bulk catch-up resumed');
  } else {
    state = await startSearchRebuild(conn);
    log?.info({ position: state.position }, 'search index bulk catch-up started');
  }
  const rowsCopied = await fill(conn, state, options);
  if (rowsCopied === undefined) {
    return { outcome: 'stopped', rowsCopied: 0 };
  }
  if (options.shouldStop?.()) {
    return { outcome: 'stopped', rowsCopied };
  }
  const indexStarted = performance.now();
  const built = await buildSearchRebuildIndexes(conn, { maintenanceWorkMem: options.maintenanceWorkMem ?? DEFAULT_MAINTENANCE_WORK_MEM });
  log?.info({ built, seconds: Math.round(performance.now() - indexStarted) / 1000 }, 'search index bulk indexes built');
  for (let attempt = 1; attempt <= SWAP_ATTEMPTS; attempt++) {
    if (options.shouldStop?.()) {
      return { outcome: 'stopped', rowsCopied };
    }
    const outcome = await swapSearchRebuild(conn, state.position, { lockTimeoutMs: options.swapLockTimeoutMs ?? DEFAULT_SWAP_LOCK_TIMEOUT_MS });
    if (outcome !== 'busy') {
      log?.info({ outcome, position: state.position }, 'search index bulk swap');
      return { outcome, rowsCopied };
    }
    log?.warn({ attempt }, 'search index bulk swap waits for text searches');
    await new Promise((r) => setTimeout(r, 100 * attempt));
  }
  return { outcome: 'busy', rowsCopied };
}

/** The fill from the rebuild's cursor; the rows copied by this run, undefined when stopped before it was complete. */
async function fill(
  conn: Database,
  state: SearchRebuildState,
  options: SearchBulkSettings & { logger?: Logger; shouldStop?: () => boolean; pauseAfterChunk?: (elapsedMs: number) => Promise<void> },
): Promise<number | undefined> {
  const chunkRows = options.chunkRows ?? DEFAULT_BULK_CHUNK_ROWS;
  let { after } = state;
  let copied = 0;
  let filled = state.filled;
  let lastLog = performance.now();
  while (!filled) {
    if (options.shouldStop?.()) {
      return undefined;
    }
    const chunkStarted = performance.now();
    const r = await fillSearchRebuildChunk(conn, after, chunkRows);
    copied += r.rows;
    after = r.last;
    filled = r.rows < chunkRows;
    if (performance.now() - lastLog >= 10_000 || filled) {
      options.logger?.info({ rowsCopied: copied, after, filled }, 'search index bulk fill');
      lastLog = performance.now();
    }
    if (!filled && options.pauseAfterChunk) {
      await options.pauseAfterChunk(performance.now() - chunkStarted);
    }
  }
  return copied;
}
