import type { Database } from '../storage/db.ts';
import {
  currentDatabaseIdentity,
  recordDatabaseIdentity,
  recordedDatabaseIdentity,
  type DatabaseIdentity,
  type RecordedDatabaseIdentity,
} from '../storage/database-identity.repo.ts';

/**
 * The database the change feed's positions belong to (README, Operations: after a database restore). Cursors that
 * consumers hold, and the positions of the feed's own readers, name transaction ids of one history of one database.
 * A restore that leaves the stored ids behind the cluster's counter is caught by feedXidsAhead; these are not:
 *  - a dump restored into another cluster (new system identifier) or into a recreated database (new oid), whose
 *    counter is further along: cursors issued after the dump read on and their consumers keep changes it lost;
 *  - a point-in-time recovery, or a failover to a standby that had not received the last transactions (new
 *    timeline): the lost transactions' ids are handed out again, so a cursor past them, once the counter passes it,
 *    reads on and skips the changes written meanwhile.
 * So the identity is recorded beside the epoch (at the first start, by every reset and by `confirm`) and `npm start`
 * refuses while it differs. A new timeline is also what a switchover that lost nothing leaves, and nothing in the
 * database tells the two apart (what was lost is gone from it): the operator, who knows how the standby was
 * promoted, chooses between the reset (every consumer resyncs) and `confirm` (nothing changes for consumers).
 */

export type DatabaseChange = 'system' | 'database' | 'timeline';

export interface FeedDatabaseCheck {
  recorded: RecordedDatabaseIdentity | null;
  /** null on a standby (not checked there: the service writes to the primary only). */
  current: DatabaseIdentity | null;
  /** What differs from the recorded identity; empty when nothing does or nothing can be compared. */
  changed: DatabaseChange[];
  /** Whether this check recorded the identity (none was recorded: the first start on this database). */
  recordedNow: boolean;
}

function differences(recorded: RecordedDatabaseIdentity, current: DatabaseIdentity): DatabaseChange[] {
  const changed: DatabaseChange[] = [];
  // A system identifier this role could not read (then or now) is not compared: the oid and timeline still are.
  if (recorded.system !== null && current.system !== null && recorded.system !== current.system) {
    changed.push('system');
  }
  if (recorded.database !== current.database) {
    changed.push('database');
  }
  if (recorded.timeline !== current.timeline) {
    changed.push('timeline');
  }
  return changed;
}

/** The comparison of an identity read elsewhere (one statement on a new session: feed-database-guard.ts). */
export function compareFeedDatabase(
  recorded: RecordedDatabaseIdentity | null,
  current: DatabaseIdentity | null,
): FeedDatabaseCheck {
  const changed = recorded !== null && current !== null ? differences(recorded, current) : [];
  return { recorded, current, changed, recordedNow: false };
}

/**
 * Compares this database's identity with the one recorded beside the feed's epoch. `recordIfNone`: when none is
 * recorded (the first start on this database, or a database cloned from a template never started), records this one.
 */
export async function checkFeedDatabase(
  db: Database,
  options: { recordIfNone?: boolean } = {},
): Promise<FeedDatabaseCheck> {
  const current = await currentDatabaseIdentity(db);
  const recorded = await recordedDatabaseIdentity(db);
  if (current === null) {
    return { recorded, current, changed: [], recordedNow: false };
  }
  if (recorded === null) {
    const recordedNow =
      options.recordIfNone === true && (await recordDatabaseIdentity(db, current, { onlyIfNone: true }));
    return { recorded, current, changed: [], recordedNow };
  }
  return { recorded, current, changed: differences(recorded, current), recordedNow: false };
}

/**
 * Records this database as the feed's without a reset (`jpm-sync change-feed confirm --yes`): for when nothing the
 * feed handed out can have been lost. Returns the identity recorded, or null on a standby (nothing recorded).
 */
export async function confirmFeedDatabase(db: Database): Promise<DatabaseIdentity | null> {
  const current = await currentDatabaseIdentity(db);
  if (current !== null) {
    await recordDatabaseIdentity(db, current);
  }
  return current;
}

function describe(identity: { system: string | null; database: string; timeline: string }): string {
  return `system identifier ${identity.system ?? 'unreadable'}, database oid ${identity.database}, timeline ${identity.timeline}`;
}

/** One line for `change-feed status`: the identity and when it was recorded. */
export function describeFeedDatabase(check: FeedDatabaseCheck): string {
  if (check.current === null) {
    return 'database: a standby (in recovery): not checked';
  }
  const recorded = check.recorded
    ? `recorded ${check.recorded.recordedAt.toISOString()}${check.changed.length > 0 ? ` as ${describe(check.recorded)}` : ''}`
    : 'not recorded yet (the next start records it)';
  const unreadable =
    check.current.system === null
      ? '; pg_control_system() is not executable by this role, so a restore into another cluster is seen only when the database oid differs'
      : '';
  return `database: ${describe(check.current)}, ${recorded}${unreadable}`;
}

/** What the operator must decide when the identity differs, with the exact commands; undefined when it does not. */
export function feedDatabaseAdvice(check: FeedDatabaseCheck): string | undefined {
  const { recorded, current, changed } = check;
  if (!recorded || !current || changed.length === 0) {
    return undefined;
  }
  const at = recorded.recordedAt.toISOString();
  if (changed.includes('system') || changed.includes('database')) {
    return (
      `not the database the change feed was recorded on (${describe(current)}; recorded ${at}: ${describe(recorded)}): ` +
      'it was restored from a dump into another cluster or a recreated database, or copied, and cursors its ' +
      'consumers hold would read on past changes it lost; run `jpm-sync change-feed reset --yes` (every consumer ' +
      'resyncs; README, Operations: after a database restore). Only when nothing can have been lost (the same ' +
      'database after pg_upgrade, which gives the cluster a new system identifier): `jpm-sync change-feed confirm --yes`'
    );
  }
  return (
    `on WAL timeline ${current.timeline}, the change feed was recorded on timeline ${recorded.timeline} (${at}): a ` +
    'standby was promoted (failover or switchover) or the database was recovered from a backup or to a point in ' +
    'time. If transactions may have been lost (point-in-time recovery, failover to a standby that was behind): ' +
    '`jpm-sync change-feed reset --yes` (every consumer resyncs; README, Operations: after a database restore). If ' +
    'nothing was lost (a switchover after a clean shutdown of the old primary): ' +
    '`jpm-sync change-feed confirm --yes` (consumers read on)'
  );
}
