import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pageMilestoneEvents } from '../../src/admin-api/events.service.ts';
import { feedXidsAhead, resetChangeFeed } from '../../src/events/change-feed.ts';
import { createWebhookEndpoint } from '../../src/events/webhook-endpoints.ts';
import { produceWebhookEvents } from '../../src/events/webhooks.ts';
import { loadConfig } from '../../src/config/index.ts';
import { produceNotifications } from '../../src/notifications/produce.ts';
import type { Database } from '../../src/storage/db.ts';
import {
  committedOutboxEventsAfter,
  insertOutboxEvents,
  OUTBOX_FEED_START,
  outboxEventAt,
} from '../../src/storage/outbox.repo.ts';
import { encodeCursor } from '../../src/storage/pagination.ts';
import { uuidv7 } from '../../src/shared/ids.ts';
import { XID_ORDERED } from '../../src/storage/xid-positions.repo.ts';
import { createAccount, createTenancy, type Tenancy } from '../factories/tenancy.ts';
import { createTestDb, feedSettled, type TestDb } from '../helpers/db.ts';
import { REDIS_URL } from '../helpers/env.ts';
import { startService } from '../helpers/start-service.ts';

/**
 * Every value ordered by the writing transaction's xid (the milestone feed and its webhook and email producers, not
 * only the change feed) after a database restore: `npm start` refuses while any is ahead of the cluster, and the
 * reset brings every one of them to the present without dropping or repeating a milestone.
 */

async function nextXid(db: Database): Promise<bigint> {
  const r = await sql<{ next: string }>`select pg_snapshot_xmax(pg_current_snapshot())::text as next`.execute(db);
  return BigInt(r.rows[0]!.next);
}

/** Stores milestone events named `names` (payload `{ n }`), one transaction, and returns their ids in order. */
async function milestones(db: Database, t: Tenancy, names: string[]): Promise<string[]> {
  await insertOutboxEvents(
    db,
    names.map((n) => ({
      organizationId: t.organizationId,
      integrationId: t.integrationId,
      type: 'test.milestone',
      payload: { n },
    })),
  );
  const r = await sql<{ id: string }>`
    select id::text as id from outbox_events where payload->>'n' in (${sql.join(names)}) order by id`.execute(db);
  return r.rows.map((x) => x.id);
}

/** The names of the milestone events after `after`, in feed order (what a reader at `after` reads next). */
async function namesAfter(db: Database, after: { xid: string; id: string }): Promise<string[]> {
  const rows = await committedOutboxEventsAfter(db, after, 100);
  return rows.map((r) => (r.payload as { n: string }).n);
}

async function position(db: Database, table: 'webhook_producer_state' | 'notification_producer_state') {
  const r = await sql<{ xid: string; id: string }>`
    select position_xid::text as xid, position_id::text as id from ${sql.table(table)}
    where source = 'outbox_events'`.execute(db);
  return r.rows[0]!;
}

describe('xid-ordered positions after a database restore', () => {
  let t: TestDb;
  beforeAll(async () => {
    t = await createTestDb();
  });
  afterAll(async () => {
    await t.drop();
  });

  it('every xid8 column of the schema is listed for the restore check and reset', async () => {
    const r = await sql<{ table_name: string; column_name: string }>`
      select table_name, column_name from information_schema.columns
      where table_schema = 'public' and udt_name = 'xid8' order by 1, 2`.execute(t.db);
    expect(r.rows.map((c) => `${c.table_name}.${c.column_name}`)).toEqual(
      XID_ORDERED.map((e) => `${e.table}.${e.column}`).sort(),
    );
  });

  it('milestones ahead of the cluster (a dump of a cluster further along): npm start refuses; the reset orders them before new ones, and each producer reads exactly what it had not read', async () => {
    const own = await createTestDb();
    try {
      const tenancy = await createTenancy(own.db);
      await createAccount(own.db, tenancy);
      // What pg_restore writes from a dump of a cluster a million transactions further: three milestones by three
      // transactions there; its webhook producer had read the first, its email producer the first two. Only the
      // milestone feed is ahead (the change feed is not).
      const ahead = (await nextXid(own.db)) + 1_000_000n;
      const [m1, m2] = await milestones(own.db, tenancy, ['m1', 'm2', 'm3']);
      await sql`update outbox_events set xid = (${ahead.toString()}::numeric + case payload->>'n'
          when 'm1' then 0 when 'm2' then 1 else 2 end)::text::xid8
        where payload->>'n' in ('m1', 'm2', 'm3')`.execute(own.db);
      await sql`update webhook_producer_state set position_xid = ${ahead.toString()}::xid8, position_id = ${m1!}::bigint
        where source = 'outbox_events'`.execute(own.db);
      await sql`update notification_producer_state set position_xid = ${(ahead + 1n).toString()}::xid8,
          position_id = ${m2!}::bigint where source = 'outbox_events'`.execute(own.db);
      // A poller of GET /v1/events had read m1 before the restore.
      const held = encodeCursor([ahead.toString(), m1!]);

      const check = await feedXidsAhead(own.db);
      expect(check?.stored).toBe((ahead + 2n).toString());
      const refused = await startService(own.url, { ROLES: 'api', PORT: '0' });
      expect(refused.code, refused.output).toBe(3);
      expect(refused.output).toContain(`holds transaction ids up to ${(ahead + 2n).toString()}`);
      expect(refused.output).toContain('milestone events');

      await resetChangeFeed(own.db);
      expect(await feedXidsAhead(own.db)).toBeNull();
      await milestones(own.db, tenancy, ['m4']);
      await feedSettled(own.db);

      // The restored milestones are readable and before the new one; no reader skips or repeats one.
      expect(await namesAfter(own.db, OUTBOX_FEED_START)).toEqual(['m1', 'm2', 'm3', 'm4']);
      expect(await namesAfter(own.db, await position(own.db, 'webhook_producer_state'))).toEqual(['m2', 'm3', 'm4']);
      expect(await namesAfter(own.db, await position(own.db, 'notification_producer_state'))).toEqual(['m3', 'm4']);
      expect((await produceWebhookEvents(own.db)).milestones).toBe(3);
      expect((await produceNotifications(own.db)).events).toBe(2);
      // The poller's cursor from before the restore names a position the feed no longer has: refused, never read on.
      const page = pageMilestoneEvents(
        { cursor: held, limit: 10 },
        (p) => committedOutboxEventsAfter(own.db, p.after ?? OUTBOX_FEED_START, p.limit),
        (p) => outboxEventAt(own.db, p),
      );
      await expect(page).rejects.toMatchObject({ code: 'invalid_cursor' });
    } finally {
      await own.drop();
    }
  });

  it('the reset keeps each producer on its events when the restored milestones were not stored in commit order (the email producer behind the webhook one)', async () => {
    const own = await createTestDb();
    try {
      const tenancy = await createTenancy(own.db);
      const ahead = (await nextXid(own.db)) + 1_000_000n;
      // Feed order there: b, c, a (a's transaction committed last). The email producer had read b, the webhook one b, c.
      const [, b, c] = await milestones(own.db, tenancy, ['a', 'b', 'c']);
      await sql`update outbox_events set xid = (${ahead.toString()}::numeric + case payload->>'n'
          when 'b' then 0 when 'c' then 1 else 2 end)::text::xid8
        where payload->>'n' in ('a', 'b', 'c')`.execute(own.db);
      await sql`update notification_producer_state set position_xid = ${ahead.toString()}::xid8, position_id = ${b!}::bigint
        where source = 'outbox_events'`.execute(own.db);
      await sql`update webhook_producer_state set position_xid = ${(ahead + 1n).toString()}::xid8,
          position_id = ${c!}::bigint where source = 'outbox_events'`.execute(own.db);

      await resetChangeFeed(own.db);
      await milestones(own.db, tenancy, ['new']);
      await feedSettled(own.db);
      expect(await namesAfter(own.db, OUTBOX_FEED_START)).toEqual(['b', 'c', 'a', 'new']);
      expect(await namesAfter(own.db, await position(own.db, 'notification_producer_state'))).toEqual([
        'c',
        'a',
        'new',
      ]);
      expect(await namesAfter(own.db, await position(own.db, 'webhook_producer_state'))).toEqual(['a', 'new']);
    } finally {
      await own.drop();
    }
  });

  it.each([
    ['notification_producer_state', 'position_xid', "email notifications' position"],
    ['webhook_producer_state', 'position_xid', "webhook producer's positions"],
    ['outbox_events', 'xid', 'milestone events (GET /v1/events)'],
  ] as const)('a restored %s.%s ahead of the cluster is reported', async (table, column, what) => {
    const own = await createTestDb();
    try {
      const tenancy = await createTenancy(own.db);
      await milestones(own.db, tenancy, ['x']);
      const ahead = ((await nextXid(own.db)) + 1_000_000n).toString();
      await sql`update ${sql.table(table)} set ${sql.ref(column)} = ${ahead}::xid8`.execute(own.db);
      const check = await feedXidsAhead(own.db);
      expect(check?.stored).toBe(ahead);
      expect(check?.ahead).toEqual([{ what, stored: ahead }]);
      await resetChangeFeed(own.db);
      expect(await feedXidsAhead(own.db)).toBeNull();
    } finally {
      await own.drop();
    }
  });

  it('a reset after a restore into a cluster further along keeps the milestones the restored database had not yet turned into webhooks and emails, and repeats none', async () => {
    const own = await createTestDb();
    try {
      const tenancy = await createTenancy(own.db);
      await milestones(own.db, tenancy, ['done-1', 'done-2']);
      await feedSettled(own.db);
      await produceWebhookEvents(own.db);
      await produceNotifications(own.db);
      // The milestone the restored database had stored but not produced yet.
      await milestones(own.db, tenancy, ['pending']);
      await feedSettled(own.db);

      await resetChangeFeed(own.db);
      expect(await namesAfter(own.db, await position(own.db, 'webhook_producer_state'))).toEqual(['pending']);
      expect(await namesAfter(own.db, await position(own.db, 'notification_producer_state'))).toEqual(['pending']);
      expect((await produceWebhookEvents(own.db)).milestones).toBe(1);
      expect((await produceNotifications(own.db)).events).toBe(1);
      expect(await namesAfter(own.db, OUTBOX_FEED_START)).toEqual(['done-1', 'done-2', 'pending']);
    } finally {
      await own.drop();
    }
  });

  it('a milestone webhook sent again after a restore (sent after the backup was taken, in the lost history) carries the event id it had', async () => {
    const own = await createTestDb();
    try {
      const { secrets } = loadConfig({ NODE_ENV: 'test', DATABASE_URL: own.url, REDIS_URL });
      const tenancy = await createTenancy(own.db);
      await createWebhookEndpoint(
        { db: own.db, keys: secrets, allowHttpEndpoints: true },
        {
          organizationId: tenancy.organizationId,
          url: 'http://127.0.0.1:9/hook',
          eventTypes: ['*'],
          description: 'receiver',
          createdBy: 'ops',
        },
      );
      await milestones(own.db, tenancy, ['sent-after-backup']);
      await feedSettled(own.db);
      // The backup: the milestone stored, not produced yet.
      const atBackup = await position(own.db, 'webhook_producer_state');
      await produceWebhookEvents(own.db);
      const eventIds = async () =>
        (
          await sql<{ id: string }>`select id::text as id from webhook_events where type = 'test.milestone'`.execute(
            own.db,
          )
        ).rows.map((r) => r.id);
      const sent = await eventIds();
      expect(sent).toHaveLength(1);
      // The database restored to the backup: the webhook event and its delivery are gone, the producer is back.
      await sql`delete from webhook_deliveries`.execute(own.db);
      await sql`delete from webhook_events`.execute(own.db);
      await sql`update webhook_producer_state set position_xid = ${atBackup.xid}::xid8, position_id = ${atBackup.id}::bigint
        where source = 'outbox_events'`.execute(own.db);
      await resetChangeFeed(own.db);
      expect((await produceWebhookEvents(own.db)).milestones).toBe(1);
      expect(await eventIds()).toEqual(sent);
    } finally {
      await own.drop();
    }
  });

  it("milestone emails and a report's review link made again after a restore (sent after the backup was taken, in the lost history) carry the Message-ID and the link they had", async () => {
    const own = await createTestDb();
    try {
      const tenancy = await createTenancy(own.db);
      await own.db
        .updateTable('integrations')
        .set({ stage: 'validating' })
        .where('id', '=', tenancy.integrationId)
        .execute();
      await own.db
        .insertInto('integration_contacts')
        .values(
          (['finance_owner', 'controller'] as const).map((role) => ({
            id: uuidv7(),
            organization_id: tenancy.organizationId,
            integration_id: tenancy.integrationId,
            role,
            name: role,
            email: `${role}@customer.example`,
            created_by: 'test',
          })),
        )
        .execute();
      await insertOutboxEvents(own.db, [
        {
          organizationId: tenancy.organizationId,
          integrationId: tenancy.integrationId,
          type: 'integration.live',
          payload: {},
        },
      ]);
      await own.db
        .insertInto('validation_reports')
        .values({
          id: uuidv7(),
          organization_id: tenancy.organizationId,
          integration_id: tenancy.integrationId,
          period_from: '2026-11-02',
          period_to: '2026-11-03',
          requested_by: 'test',
          status: 'completed',
          passed: true,
          completed_at: new Date(),
        })
        .execute();
      await feedSettled(own.db);
      // The backup: the milestone and the report stored, no email made yet.
      const atBackup = await position(own.db, 'notification_producer_state');
      const sent = async () => ({
        // The delivery id makes the Message-ID (src/notifications/delivery.ts).
        deliveries: (
          await sql<{ d: string }>`select source || ' ' || recipient_email || ' ' || id::text as d
            from notification_deliveries order by 1`.execute(own.db)
        ).rows.map((r) => r.d),
        links: (
          await sql<{
            l: string;
          }>`select id::text || ' ' || expires_at::text as l from review_links order by 1`.execute(own.db)
        ).rows.map((r) => r.l),
      });
      expect(await produceNotifications(own.db)).toEqual({ events: 1, reports: 2 });
      const first = await sent();
      expect(first.deliveries).toHaveLength(4);
      expect(first.links).toHaveLength(1);
      // The database restored to the backup: the deliveries and the link are gone, the producer is back.
      await sql`delete from notification_deliveries`.execute(own.db);
      await sql`delete from review_links`.execute(own.db);
      await sql`update notification_producer_state set position_xid = ${atBackup.xid}::xid8,
        position_id = ${atBackup.id}::bigint where source = 'outbox_events'`.execute(own.db);
      await resetChangeFeed(own.db);
      // Later than the first pass: a link's expiry counted from the pass would differ.
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(await produceNotifications(own.db)).toEqual({ events: 1, reports: 2 });
      expect(await sent()).toEqual(first);
    } finally {
      await own.drop();
    }
  });
});
