import { sql } from 'kysely';
import { comparePositions } from '../../src/events/change-feed.ts';
import { runSearchIndexUntilCaughtUp } from '../../src/events/search-index.ts';
import { produceWebhookEvents } from '../../src/events/webhooks.ts';
import type { FeedPosition } from '../../src/storage/change-feed.repo.ts';
import type { Database } from '../../src/storage/db.ts';
import { readSearchPosition } from '../../src/storage/search.repo.ts';

/**
 * Runs the search step (src/events/search-index.ts) until its position is at or after the newest change event
 * (ORDER BY names the table's columns: the bare names would sort by the text aliases, "99" after "100"),
 * as the worker's loop would. Events become readable once every older write transaction of the Postgres cluster
 * has ended (other test files share it), hence the short waits. The change-feed purge stops at this position.
 */
export async function catchUpSearch(db: Database): Promise<void> {
  const newest =
    await sql<FeedPosition>`select e.xid::text as xid, e.id::text as id from change_events e order by e.xid desc, e.id desc limit 1`.execute(
      db,
    );
  const target = newest.rows[0] ?? { xid: '0', id: '0' };
  for (let i = 0; i < 400; i++) {
    await runSearchIndexUntilCaughtUp(db, { batchSize: 500 });
    if (comparePositions(await readSearchPosition(db), target) >= 0) {
      return;
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error('the search step did not catch up with the change feed');
}

/**
 * Runs the webhook producer (src/events/webhooks.ts) until its position is at or after the newest change event,
 * as the worker's delivery loop would; the change-feed purge also stops at its position.
 */
export async function catchUpWebhookProducer(db: Database): Promise<void> {
  const newest =
    await sql<FeedPosition>`select e.xid::text as xid, e.id::text as id from change_events e order by e.xid desc, e.id desc limit 1`.execute(
      db,
    );
  const target = newest.rows[0] ?? { xid: '0', id: '0' };
  for (let i = 0; i < 400; i++) {
    await produceWebhookEvents(db);
    const at = (
      await sql<FeedPosition>`select position_xid::text as xid, position_id::text as id from webhook_producer_state where source = 'change_events'`.execute(
        db,
      )
    ).rows[0];
    if (at && comparePositions(at, target) >= 0) {
      return;
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error('the webhook producer did not catch up with the change feed');
}

/** Both readers the change-feed purge waits for (the search step and the webhook producer), caught up. */
export async function catchUpFeedReaders(db: Database): Promise<void> {
  await catchUpSearch(db);
  await catchUpWebhookProducer(db);
}
