import type pg from 'pg';
import { ServicePausedError } from '../shared/errors.ts';
import { createLogger, type Logger } from '../shared/logger.ts';
import { sessionIdentity } from '../storage/database-identity.repo.ts';
import type { Database } from '../storage/db.ts';
import { checkFeedDatabase, compareFeedDatabase, feedDatabaseAdvice, type FeedDatabaseCheck } from './feed-database.ts';

/** What a paused feed answers: 503, the code, and what the operator runs (README, Operations: a failover). */
export class FeedDatabaseChangedError extends ServicePausedError {
  constructor(retryAfterSeconds: number) {
    super(
      'The change feed and the milestone feeds are paused: the database changed under the running service (a ' +
        'standby was promoted, or the database was restored or recovered to a point in time), so positions and ' +
        'cursors may no longer hold. An operator must decide: `jpm-sync change-feed status`, then ' +
        '`jpm-sync change-feed reset --yes` (transactions may have been lost: every consumer resyncs) or ' +
        '`jpm-sync change-feed confirm --yes` (nothing was lost: cursors read on); the feeds resume then, without a ' +
        'restart. Keep your cursor and retry later.',
      'feed_database_changed',
      retryAfterSeconds,
    );
  }
}

const PENDING_WAIT_MS = 5_000;

export interface FeedDatabaseGuardOptions {
  /** While paused, how often the recorded identity is read again (the operator's reset or confirm); default 2 s. */
  recheckMs?: number;
  logger?: Logger;
}

/**
 * The change feed's database, watched while the service runs (src/events/feed-database.ts checks it at start). A
 * failover while the API and workers run ends their sessions, and the pool reconnects to the promoted node: a new
 * timeline, maybe without the last transactions, whose ids are then handed out again. So every new session of the
 * primary's pool (`sessionOpened`, the pool's 'connect' event) runs one statement first, before the caller's:
 * this database's identity and the recorded one. While they differ the feed is paused (`assertOpen` throws
 * FeedDatabaseChangedError: GET /v1/changes and the milestone feeds answer 503; webhook and email production
 * skip their passes); one error is logged when it pauses. While paused, the recorded identity is read again at
 * most every `recheckMs` when asked, so the operator's `change-feed reset` or `confirm` resumes it without a
 * restart. Writes go on: what the promoted node takes is real data; only the feed's order is in doubt.
 *
 * Sessions opened before the failover never reach the promoted node (the failover ends them), so the check on new
 * sessions sees every session that can. A connection pooler between the service and Postgres (PgBouncer) keeps the
 * service's sessions across a failover and is not seen: README, Operations.
 */
export class FeedDatabaseGuard {
  private db: Database | undefined;
  private readonly log: Logger;
  private readonly recheckMs: number;
  private paused: FeedDatabaseCheck | undefined;
  private readonly pending = new Set<Promise<void>>();
  private systemReadable: boolean | undefined;
  /** Results apply in the order their checks started: an older session's late answer never overrides. */
  private started = 0;
  private applied = 0;
  private checkedAt = 0;
  private recheck: Promise<void> | undefined;

  constructor(options: FeedDatabaseGuardOptions = {}) {
    this.recheckMs = options.recheckMs ?? 2_000;
    this.log = options.logger ?? createLogger('events', { component: 'feed-database' });
  }

  /** The primary's database, for the rechecks while paused. */
  attach(db: Database): void {
    this.db = db;
  }

  /** The pool's 'connect' listener: queues the check as the session's first statement (synchronously). */
  sessionOpened(client: pg.ClientBase): void {
    const seq = ++this.started;
    const asked = this.systemReadable === true;
    const p = sessionIdentity(client, asked).then(
      (s) => {
        this.systemReadable = s.systemReadable;
        this.apply(seq, compareFeedDatabase(s.recorded, s.current));
        if (s.systemReadable && !asked && s.current !== null && s.recorded !== null) {
          // The first session could not ask for the system identifier (the privilege was not known yet).
          void this.recheckNow();
        }
      },
      (err: unknown) => {
        // The session failed: its caller sees that; the next session checks again.
        this.log.debug({ err }, 'feed database check on a new session failed');
      },
    );
    const tracked = p.finally(() => this.pending.delete(tracked));
    this.pending.add(tracked);
  }

  /** Whether the feed may hand out positions now (waits for the checks of sessions already opened). */
  async isOpen(): Promise<boolean> {
    // Bounded: a session whose server stopped answering must not hold up every other caller.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled([...this.pending]),
      new Promise((resolve) => {
        timer = setTimeout(resolve, PENDING_WAIT_MS);
      }),
    ]);
    clearTimeout(timer);
    if (this.paused !== undefined && Date.now() - this.checkedAt >= this.recheckMs) {
      await this.recheckNow();
    }
    return this.paused === undefined;
  }

  /** Throws FeedDatabaseChangedError while paused. Call it before a feed read AND after it, before answering. */
  async assertOpen(): Promise<void> {
    if (!(await this.isOpen())) {
      throw new FeedDatabaseChangedError(Math.ceil(this.recheckMs / 1_000) * 5);
    }
  }

  private recheckNow(): Promise<void> {
    const db = this.db;
    if (db === undefined) {
      return Promise.resolve();
    }
    this.recheck ??= (async () => {
      const seq = ++this.started;
      try {
        this.apply(seq, await checkFeedDatabase(db));
      } catch (err) {
        this.log.debug({ err }, 'feed database recheck failed');
      } finally {
        this.recheck = undefined;
      }
    })();
    return this.recheck;
  }

  private apply(seq: number, check: FeedDatabaseCheck): void {
    if (seq < this.applied || check.current === null) {
      // An older check, or a standby (writes fail there anyway): nothing learned.
      return;
    }
    this.applied = seq;
    this.checkedAt = Date.now();
    const advice = feedDatabaseAdvice(check);
    if (advice !== undefined && this.paused === undefined) {
      this.paused = check;
      this.log.error(
        { database: check.current, recorded: check.recorded, changed: check.changed, fix: advice },
        "the change feed's database changed under the running service (failover, restore or point-in-time recovery): GET /v1/changes and the milestone feeds answer 503 feed_database_changed, webhook and email production pause, until an operator runs `jpm-sync change-feed reset --yes` or `confirm --yes`",
      );
    } else if (advice === undefined && this.paused !== undefined) {
      this.paused = undefined;
      this.log.info({ database: check.current }, "the change feed's database is the recorded one again: feeds resume");
    } else if (advice !== undefined) {
      this.paused = check;
    }
  }
}
