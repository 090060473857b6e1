import { ValidationError } from '../shared/errors.ts';
import type { FeedPosition } from '../storage/change-feed.repo.ts';
import { decodeCursor, pageOf, type Page } from '../storage/pagination.ts';
import type { OutboxFeedRow } from '../storage/outbox.repo.ts';

/**
 * One keyset page of milestone events in commit order; `fetch` reads the events of finished transactions after a
 * feed position (onboarding's listMilestones, the outbox's committedOutboxEventsAfter). The cursor is the last
 * event's (xid, id): resuming after it skips no event that committed late and repeats none (src/events/change-feed.ts
 * explains why a sequence number alone cannot promise that).
 */
export async function pageMilestoneEvents(
  page: { cursor?: string | undefined; limit: number },
  fetch: (p: { after?: FeedPosition; limit: number }) => Promise<OutboxFeedRow[]>,
  issued: (p: FeedPosition) => Promise<boolean>,
): Promise<Page<OutboxFeedRow>> {
  const after = page.cursor === undefined ? undefined : decodeMilestoneCursor(page.cursor);
  // A cursor names the event it was issued after. One naming no event was altered, or issued before the database was
  // restored from a backup (its xids then belong to another history): read on, it would skip events.
  if (after !== undefined && !(await issued(after))) {
    throw new ValidationError(
      'This cursor names no milestone event of this feed (it was altered, or issued before the database was ' +
        'restored from a backup). Read the events again from the start, without a cursor (skip those whose id and ' +
        'occurredAt you already have), and keep the cursors it returns from now on.',
      [{ path: 'query.cursor', message: 'cursor not issued by this feed' }],
      'invalid_cursor',
    );
  }
  const rows = await fetch({ ...(after !== undefined ? { after } : {}), limit: page.limit + 1 });
  return pageOf(rows, page.limit, milestoneCursorKey);
}

/** The cursor key just after this event (each event's `cursor`, the page's `nextCursor`). */
export function milestoneCursorKey(row: { xid: string; id: string }): [string, string] {
  return [row.xid, row.id];
}

function decodeMilestoneCursor(cursor: string): FeedPosition {
  let key: [string, string];
  try {
    key = decodeCursor(cursor, ['int', 'int']);
  } catch (err) {
    if (isFormerCursor(cursor)) {
      throw new ValidationError(
        'This cursor is of the former format (a sequence number), which could skip events that committed late. ' +
          'Read the events again from the start, without a cursor (skip those whose id you already have), and keep ' +
          'the cursors of this format from now on.',
        [{ path: 'query.cursor', message: 'cursor of the former format' }],
        'invalid_cursor',
      );
    }
    throw err;
  }
  return { xid: key[0], id: key[1] };
}

/** A cursor the feed handed out before it was commit-ordered: the last event's sequence number alone. */
function isFormerCursor(cursor: string): boolean {
  try {
    decodeCursor(cursor, ['int']);
    return true;
  } catch {
    return false;
  }
}
