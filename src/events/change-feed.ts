import { randomBytes } from 'node:crypto';
import { AppError, ValidationError } from '../shared/errors.ts';
import {
  committedChangeEventsAfter,
  feedEpochIssued,
  purgeChangeEventsThrough,
  readFeedState,
  resetFeed,
  type ChangeEventRow,
  type FeedPosition,
} from '../storage/change-feed.repo.ts';
import { analyzeChangedTables } from '../storage/analyze.repo.ts';
import { currentDatabaseIdentity, recordDatabaseIdentity } from '../storage/database-identity.repo.ts';
import type { Database } from '../storage/db.ts';
import { getTransactionsByIds, type TransactionReadRow } from '../storage/read.repo.ts';
import { readSearchPosition, rebuildSearch } from '../storage/search.repo.ts';
import { readProducerPosition } from '../storage/webhooks.repo.ts';
import { moveMilestonesBelow, xidsAheadOfCluster, type XidsAhead } from '../storage/xid-positions.repo.ts';

/**
 * The change feed: every `added`, `modified` and `removed` event of transactions, in commit-safe
 * order, with a cursor a consumer stores and passes back.
 *
 * WHY IT NEVER SKIPS OR REPEATS
 * A plain sequence number is not enough: writer A takes id 10, writer B takes id 11 and commits
 * first; a reader that sees 11 and stores "after 11" never sees 10 when A commits a moment later.
 * So every event carries `xid`, the id of the transaction that wrote it (xid8, never wraps), and a
 * reader returns only events whose transaction is older than every transaction still running:
 * `xid < pg_snapshot_xmin(pg_current_snapshot())`. Postgres hands out xids in increasing order,
 * so every transaction with an xid below xmin has already finished (committed, or aborted and
 * then it wrote nothing), and any transaction that writes later gets an xid >= xmin. Hence:
 *  - the set of events with xid < xmin is final: none can be added to it afterwards, and those that
 *    committed are all visible in our snapshot (same statement, same snapshot);
 *  - xmin never moves backwards, so each read's final set contains the previous one;
 *  - events are ordered by (xid, id), a total order, and the cursor is the last (xid, id) returned;
 *    the next read asks for (xid, id) > cursor within a larger final set: nothing before the
 *    cursor can appear later (no skip), nothing at or before it is returned again (no repeat).
 * When a page is not full, every final event after the cursor has been returned, so the cursor
 * may jump to (xmin - 1, max id): organization-scoped readers then never rescan other tenants'
 * events. The price: a long-running write transaction holds the feed back (latency, not loss);
 * read-only transactions do not (they have no xid). Read from the primary.
 *
 * Each event carries the transaction's CURRENT state, not the state at the event: applying events
 * in order as upserts by id ends with exactly the database's state (the last event for a row is
 * at or after its last change).
 *
 * RETENTION: `purgeChangeFeed` (daily job) deletes a prefix of the feed older than the retention and
 * not after the search step's position (search-index.ts) or the webhook producer's (webhooks.ts), recording the last
 * purged (xid, id) as the horizon. A cursor below the horizon might have missed purged events and gets 410
 * `cursor_expired`; so does a cursor of an older epoch (feed reset). A cursor of an epoch the feed never had, or of a
 * position past the feed's end, was never issued: 400 `invalid_cursor` (see `readChanges`).
 *
 * EPOCHS are random (`newEpoch`), recorded in change_feed_epochs when started. A counter would be reissued after a
 * restore of an older dump (the counter rolls back with it, and the next reset takes a number the lost history had
 * given out), and the cursors of that lost history would read on, skipping or repeating events. A random epoch
 * of 53 bits is never drawn twice in practice, so a cursor from before a restore is always refused. The feed's
 * first epochs were a counter (1, 2, …): they are recorded too, and their cursors keep their meaning.
 */

const MAX_ID = '9223372036854775807';
const MAX_XID = 18446744073709551615n;
const CURSOR_VERSION = 1;

interface Cursor extends FeedPosition {
  epoch: number;
}

export function encodeFeedCursor(c: Cursor): string {
  return Buffer.from(JSON.stringify({ v: CURSOR_VERSION, e: c.epoch, x: c.xid, i: c.id }), 'utf8').toString(
    'base64url',
  );
}

function invalidCursor(
  message = 'The change-feed cursor is invalid; pass a cursor this API returned, unchanged.',
): ValidationError {
  return new ValidationError(message, [{ path: 'query.cursor', message: 'invalid cursor' }], 'invalid_cursor');
}

/** Random epochs are drawn from [2^32, 2^53): above every counter epoch, exact as JSON numbers. */
const RANDOM_EPOCH_MIN = 2n ** 32n;
const EPOCH_LIMIT = 2n ** 53n;

function newEpoch(): number {
  for (;;) {
    const drawn = randomBytes(8).readBigUInt64BE() % EPOCH_LIMIT;
    if (drawn >= RANDOM_EPOCH_MIN) {
      return Number(drawn);
    }
  }
}

/**
 * A position this feed cannot have issued: cursors are not signed, so it is told apart by what the feed has been.
 * A position is issued at most at the xmin of the snapshot that issued it, less one, and xmin never moves backwards:
 * a position at or past the current xmin was never issued (read as a position, it would skip every event until the
 * feed reached it). Epochs are told apart by change_feed_epochs (`readChanges`).
 */
function positionNeverIssued(cursor: Cursor, state: { xmin: string }): boolean {
  return BigInt(cursor.xid) >= BigInt(state.xmin);
}

const RESYNC =
  'Resync: take a fresh cursor from GET /v1/changes/cursor, read the full state with GET /v1/transactions, then resume polling GET /v1/changes with the fresh cursor (changes made during the full read are delivered again; apply them as upserts by id).';

export function decodeFeedCursor(text: string): Cursor {
  if (text.length > 256 || !/^[A-Za-z0-9_-]+$/.test(text)) {
    throw invalidCursor();
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
  } catch {
    throw invalidCursor();
  }
  const p = parsed as { v?: unknown; e?: unknown; x?: unknown; i?: unknown } | null;
  if (
    p === null ||
    typeof p !== 'object' ||
    p.v !== CURSOR_VERSION ||
    typeof p.e !== 'number' ||
    !Number.isSafeInteger(p.e) ||
    typeof p.x !== 'string' ||
    !/^\d{1,20}$/.test(p.x) ||
    typeof p.i !== 'string' ||
    !/^\d{1,19}$/.test(p.i) ||
    // xid8 and bigint ranges: Postgres reads a larger xid8 as the largest one (a position the feed never passes).
    BigInt(p.x) > MAX_XID ||
    BigInt(p.i) > BigInt(MAX_ID)
  ) {
    throw invalidCursor();
  }
  return { epoch: p.e, xid: p.x, id: p.i };
}

/** Orders positions; xids and ids are decimal text of 64-bit integers, compared as bigint. */
export function comparePositions(a: FeedPosition, b: FeedPosition): number {
  const ax = BigInt(a.xid);
  const bx = BigInt(b.xid);
  if (ax !== bx) {
    return ax < bx ? -1 : 1;
  }
  const ai = BigInt(a.id);
  const bi = BigInt(b.id);
  return ai === bi ? 0 : ai < bi ? -1 : 1;
}

function maxPosition(a: FeedPosition, b: FeedPosition): FeedPosition {
  return comparePositions(a, b) >= 0 ? a : b;
}

/** Everything with xid < xmin has been returned or is after this position. */
function finalPosition(xmin: string): FeedPosition {
  return { xid: (BigInt(xmin) - 1n).toString(), id: MAX_ID };
}

export class CursorExpiredError extends AppError {
  constructor(reason: 'retention' | 'reset', retentionDays: number | undefined) {
    const why =
      reason === 'retention'
        ? `This cursor points before changes that were purged by the feed's retention${retentionDays === undefined ? '' : ` (${retentionDays} days)`}.`
        : 'The change feed was reset since this cursor was issued.';
    super(`${why} ${RESYNC}`, { code: 'cursor_expired', httpStatus: 410, expose: true, details: { reason } });
  }
}

export interface ChangeFeedEvent {
  /** The event's sequence number (unique, but NOT commit-ordered on its own: use cursors). */
  sequence: string;
  kind: 'added' | 'modified' | 'removed';
  entity: 'transaction';
  entityId: string;
  accountId: string;
  organizationId: string;
  occurredAt: Date;
  /** A cursor just after this event, for consumers that checkpoint inside a page. */
  cursor: string;
  /** The transaction's current state. */
  transaction: TransactionReadRow | null;
}

export interface ChangeFeedPage {
  events: ChangeFeedEvent[];
  nextCursor: string;
  /** More events are ready right now: poll again without waiting. */
  hasMore: boolean;
}

export interface ReadChangesOptions {
  /** null = all organizations (keys valid for all organizations only). */
  organizationId: string | null;
  /** null = from the oldest retained event. */
  cursor: string | null;
  limit: number;
  /** Only for the 410 message. */
  retentionDays?: number | undefined;
}

function toEvent(row: ChangeEventRow, epoch: number, transactions: Map<string, TransactionReadRow>): ChangeFeedEvent {
  return {
    sequence: row.id,
    kind: row.kind as ChangeFeedEvent['kind'],
    entity: 'transaction',
    entityId: row.entity_id,
    accountId: row.account_id,
    organizationId: row.organization_id,
    occurredAt: row.created_at,
    cursor: encodeFeedCursor({ epoch, xid: row.xid, id: row.id }),
    transaction: transactions.get(row.entity_id) ?? null,
  };
}

/**
 * One page of the feed after `cursor`. Runs in one REPEATABLE READ, read-only transaction, so the
 * purge horizon check, the events and the transactions' states all come from one snapshot (a purge
 * committing in between cannot open a gap).
 */
export async function readChanges(db: Database, options: ReadChangesOptions): Promise<ChangeFeedPage> {
  const cursor = options.cursor === null ? null : decodeFeedCursor(options.cursor);
  return db
    .transaction()
    .setIsolationLevel('repeatable read')
    .setAccessMode('read only')
    .execute(async (trx) => {
      const state = await readFeedState(trx);
      if (cursor && cursor.epoch !== state.epoch) {
        if (await feedEpochIssued(trx, cursor.epoch)) {
          throw new CursorExpiredError('reset', options.retentionDays);
        }
        // Also what a cursor gets that this service issued before its database was restored from an older backup
        // (the restored feed never knew that epoch): its consumer must resync, never simply take a fresh cursor.
        throw invalidCursor(
          `The change-feed cursor's epoch was never issued by this feed (the cursor was altered, comes from another installation, or was issued before the database was restored from a backup); pass a cursor this API returned, unchanged. If this service issued it: ${RESYNC}`,
        );
      }
      if (cursor && positionNeverIssued(cursor, state)) {
        throw invalidCursor(
          'The change-feed cursor was not issued by this feed (a position it never had); pass a cursor this API returned, unchanged, or take a fresh one from GET /v1/changes/cursor.',
        );
      }
      if (cursor && comparePositions(cursor, state.purgedThrough) < 0) {
        throw new CursorExpiredError('retention', options.retentionDays);
      }
      const after = cursor ?? state.purgedThrough;
      const rows = await committedChangeEventsAfter(trx, {
        organizationId: options.organizationId,
        after,
        limit: options.limit + 1,
      });
      const hasMore = rows.length > options.limit;
      const page = rows.slice(0, options.limit);
      const transactions = new Map(
        (
          await getTransactionsByIds(trx, [
            ...new Set(page.filter((r) => r.entity === 'transaction').map((r) => r.entity_id)),
          ])
        ).map((t) => [t.id, t]),
      );
      const last = page[page.length - 1];
      const next = hasMore && last ? { xid: last.xid, id: last.id } : maxPosition(after, finalPosition(state.xmin));
      return {
        events: page.map((r) => toEvent(r, state.epoch, transactions)),
        nextCursor: encodeFeedCursor({ epoch: state.epoch, ...next }),
        hasMore,
      };
    });
}

/**
 * A cursor at the feed's current end ("from now"): polling it returns every change that becomes
 * visible after this call, and possibly some committed moments before it (those after the oldest
 * write transaction still open on the server): at least once, never lost; consumers apply events
 * idempotently (by event id or the transaction's version). Take it BEFORE a full read when
 * (re)synchronising.
 */
export async function currentFeedCursor(db: Database): Promise<string> {
  const state = await readFeedState(db);
  return encodeFeedCursor({ epoch: state.epoch, ...maxPosition(state.purgedThrough, finalPosition(state.xmin)) });
}

export interface PurgeResult {
  deleted: number;
  horizon: FeedPosition;
}

/**
 * Deletes feed events older than `retentionDays`, oldest first, in batches. Only a prefix of the
 * feed order is ever deleted (it stops at the first event that is still young), so the horizon
 * check in `readChanges` stays exact. Safe to run concurrently (the state row is locked per batch).
 */
export async function purgeChangeFeed(
  db: Database,
  options: { retentionDays: number; now?: Date; batchSize?: number },
): Promise<PurgeResult> {
  const cutoff = (options.now ?? new Date()).getTime() - options.retentionDays * 86_400_000;
  const batchSize = options.batchSize ?? 5_000;
  let deleted = 0;
  for (;;) {
    const step = await db.transaction().execute(async (trx) => {
      const state = await readFeedState(trx, { forUpdate: true });
      const rows = await committedChangeEventsAfter(trx, {
        organizationId: null,
        after: state.purgedThrough,
        limit: batchSize,
      });
      // Events the search step has not applied yet stay: `q=` reads them for the rows changed since its position.
      // So do events the webhook producer has not turned into deliveries yet (workers down longer than the
      // retention): deleting them would lose those webhooks.
      const searched = await readSearchPosition(trx);
      const produced = await readProducerPosition(trx, 'change_events');
      const young = rows.findIndex(
        (r) =>
          r.created_at.getTime() >= cutoff ||
          comparePositions(r, searched) > 0 ||
          (produced !== undefined && comparePositions(r, produced) > 0),
      );
      const expired = young === -1 ? rows : rows.slice(0, young);
      const last = expired[expired.length - 1];
      if (!last) {
        return { n: 0, horizon: state.purgedThrough, done: true };
      }
      const horizon = { xid: last.xid, id: last.id };
      const n = await purgeChangeEventsThrough(trx, horizon);
      return { n, horizon, done: expired.length < rows.length || rows.length < batchSize };
    });
    deleted += step.n;
    if (step.done) {
      if (deleted > 0) {
        // A purge is bulk work: the feed's statistics follow it (throttled, see analyze.repo.ts).
        await analyzeChangedTables(db, ['change_events']);
      }
      return { deleted, horizon: step.horizon };
    }
  }
}

/**
 * What a database restore leaves to be done, for operators (`jpm-sync change-feed reset`; README, Operations: after a
 * database restore). Every xid-ordered value (src/storage/xid-positions.repo.ts lists them) is brought back in line
 * with the cluster's counter, and cursors issued after the backup was taken are refused:
 *  - change feed: a new epoch; the retained events are dropped and every existing cursor is refused (410, or 400 for
 *    an epoch the restored feed never knew), consumers resync as the answer explains; the webhook producer's
 *    change-feed position and the purge horizon move to the present; the text search table is filled again;
 *  - milestones (outbox_events, GET /v1/events): kept. Events whose xids are ahead of the cluster get xids of the
 *    present (`moveMilestonesBelow`), so they are readable and ordered before every new one, and the webhook and
 *    email producers' positions move with them: a milestone the restored database had not yet turned into webhook
 *    events or emails is produced once, one it had produced is not produced again (its pending deliveries go out
 *    with their stored ids). A /v1/events cursor naming an event whose xid moved is refused (400 invalid_cursor);
 *  - this database (system identifier, oid, timeline) is recorded as the feed's (src/events/feed-database.ts).
 * Returns the new epoch, a random one never issued before (see EPOCHS above).
 */
export async function resetChangeFeed(db: Database): Promise<number> {
  return db.transaction().execute(async (trx) => {
    const state = await readFeedState(trx, { forUpdate: true });
    const horizon = finalPosition(state.xmin);
    let epoch = newEpoch();
    while (!(await resetFeed(trx, horizon, epoch))) {
      epoch = newEpoch();
    }
    // The dropped events may include some the search step had not applied: its table is filled again.
    await rebuildSearch(trx, horizon);
    await moveMilestonesBelow(trx, horizon.xid);
    const identity = await currentDatabaseIdentity(trx);
    if (identity !== null) {
      await recordDatabaseIdentity(trx, identity);
    }
    return epoch;
  });
}

/**
 * The stored xids at or above the cluster's next xid (every xid-ordered value: src/storage/xid-positions.repo.ts),
 * or null when there are none. That happens after a database is restored from a dump of a cluster further along (a
 * logical dump keeps the xids as data; the new cluster counts from its own, lower, counter): every new row would get
 * a lower xid than the restored ones, so it would sort before positions already issued or stored, and readers
 * (feed consumers, the search step, the webhook and email producers, milestone pollers) would skip it, while the
 * restored rows stay invisible until the counter passes them. `npm start` refuses to start then; `resetChangeFeed`
 * brings every one of them to the cluster's present.
 */
export async function feedXidsAhead(db: Database): Promise<XidsAhead | null> {
  const check = await xidsAheadOfCluster(db);
  return check.ahead.length > 0 ? check : null;
}
