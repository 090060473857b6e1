import { sql } from 'kysely';
import pg from 'pg';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runWebhookDeliveries } from '../../src/events/webhook-delivery.ts';
import { checkFeedDatabase } from '../../src/events/feed-database.ts';
import { createMailer, runNotificationPass } from '../../src/notifications/index.ts';
import { createIntegration } from '../../src/onboarding/index.ts';
import { createAccount, createTenancy, type Tenancy } from '../factories/tenancy.ts';
import { ingestWire, wireTransaction } from '../factories/transactions.ts';
import { bearer, createTestApi, expectProblem, type TestApi } from '../helpers/api-app.ts';
import { feedSettled } from '../helpers/db.ts';
import { PG_ADMIN_URL } from '../helpers/env.ts';
import { captureLogLines } from '../helpers/log-capture.ts';
import { cliAgainst } from '../helpers/cli.ts';

const logLines = captureLogLines();
const SETTLE_MS = 120_000;

/** Ends every session of the database but the admin's: the service's pools reconnect, as after a failover. */
async function endSessions(database: string): Promise<void> {
  const c = new pg.Client({ connectionString: PG_ADMIN_URL });
  await c.connect();
  try {
    await c.query(
      'select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()',
      [database],
    );
  } finally {
    await c.end();
  }
}

/** Polls `fn` until it returns true (or fails after `ms`). */
async function until(what: string, fn: () => Promise<boolean>, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > end) {
      throw new Error(`timed out waiting for ${what}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('change feed: a failover while the service runs (new sessions reach a database of another timeline)', () => {
  let api: TestApi;
  let tenancy: Tenancy;
  let account: Awaited<ReturnType<typeof createAccount>>;
  beforeAll(async () => {
    api = await createTestApi();
    tenancy = await createTenancy(api.t.db);
    account = await createAccount(api.t.db, tenancy);
    // What `npm start` does on a database's first start.
    expect((await checkFeedDatabase(api.t.db, { recordIfNone: true })).recordedNow).toBe(true);
  });
  afterAll(async () => {
    await api.close();
  });

  const changes = (cursor?: string) =>
    request(api.app)
      .get('/v1/changes')
      .query(cursor === undefined ? {} : { cursor })
      .set(bearer(api.adminKey));

  it(
    'pauses the feeds, webhook production and readiness with one logged error, keeps ingestion, and resumes after `change-feed confirm` without a restart',
    { timeout: SETTLE_MS + 60_000 },
    async () => {
      const first = await changes();
      expect(first.status, JSON.stringify(first.body)).toBe(200);
      const cursor = (first.body as { nextCursor: string }).nextCursor;
      const deps = { db: api.ctx.db, keys: api.ctx.secrets, feedDatabase: api.ctx.feedDatabase, batchSize: 0 };
      await runWebhookDeliveries(deps);
      // No contact is added, so nothing is sent: production alone is looked at.
      const mailer = createMailer({ url: 'smtp://127.0.0.1:1', from: 'onboarding@jpm-sync.example' });
      const mail = { db: api.ctx.db, mailer, feedDatabase: api.ctx.feedDatabase };
      await runNotificationPass(mail);

      // The failover: the feed was recorded on the timeline before this one, and every session is ended.
      await sql`update change_feed_state set database_timeline = database_timeline + 1`.execute(api.t.db);
      await endSessions(api.t.name);

      await until('GET /v1/changes to answer 503', async () => (await changes(cursor)).status === 503);
      const paused = await changes(cursor);
      const problem = expectProblem(paused, 503, 'feed_database_changed');
      expect(problem.detail).toContain('`jpm-sync change-feed reset --yes`');
      expect(problem.detail).toContain('`jpm-sync change-feed confirm --yes`');
      expect(paused.headers['retry-after']).toMatch(/^\d+$/);
      expectProblem(
        await request(api.app).get('/v1/changes/cursor').set(bearer(api.adminKey)),
        503,
        'feed_database_changed',
      );
      expectProblem(await request(api.app).get('/v1/events').set(bearer(api.adminKey)), 503, 'feed_database_changed');
      const ready = await request(api.app).get('/readyz');
      expect(ready.status).toBe(200);
      expect(ready.body).toMatchObject({
        status: 'degraded',
        checks: {
          postgres: { status: 'ok' },
          'change-feed-database': { status: 'unavailable', reason: 'feed_database_changed' },
        },
      });
      // Transactions are the promoted node's, real data: still served, and ingestion writes on.
      expect((await request(api.app).get('/v1/transactions').set(bearer(api.adminKey))).status).toBe(200);
      await ingestWire(api.t.db, account, [
        wireTransaction({ transactionId: 'DURING-1', jpmAccountId: account.jpmAccountId }),
      ]);
      // A milestone (integration.created) too: webhooks and emails are made from it once the feed resumes.
      await createIntegration(api.t.db, {
        organizationId: tenancy.organizationId,
        name: 'Failover Co',
        environment: 'cat',
        actor: 'ops',
      });
      // Other test files share the cluster: the change is in the feed once every older transaction of it ended.
      await feedSettled(api.t.db, SETTLE_MS);
      // No webhook events from the change feed (nor the milestones) while paused.
      expect((await runWebhookDeliveries(deps)).produced).toEqual({ changes: 0, milestones: 0 });
      expect((await runNotificationPass(mail)).produced).toEqual({ events: 0, reports: 0 });
      expect((await changes(cursor)).status).toBe(503);
      const errors = logLines.filter((l) => l.includes("the change feed's database changed under the running service"));
      expect(errors).toHaveLength(1);
      expect(JSON.parse(errors[0]!)).toMatchObject({ level: 50, changed: ['timeline'] });

      // The operator, knowing nothing was lost, confirms: the feed reads on from the cursor, no restart.
      const confirmed = await cliAgainst(api.t.url, ['change-feed', 'confirm', '--yes']);
      expect(confirmed.code, confirmed.stderr).toBe(0);
      await until('GET /v1/changes to answer again', async () => (await changes(cursor)).status === 200);
      const resumed = await changes(cursor);
      expect(
        (resumed.body as { data: { transaction: { jpmTransactionId: string } | null }[] }).data.map(
          (e) => e.transaction?.jpmTransactionId,
        ),
      ).toEqual(['DURING-1']);
      const produced = (await runWebhookDeliveries(deps)).produced;
      expect(produced.changes).toBe(1);
      expect(produced.milestones).toBeGreaterThanOrEqual(1);
      expect((await runNotificationPass(mail)).produced.events).toBeGreaterThanOrEqual(1);
      expect((await request(api.app).get('/readyz').expect(200)).body).toMatchObject({ status: 'ready' });
      expect(logLines.some((l) => l.includes("the change feed's database is the recorded one again"))).toBe(true);
      mailer.close();
    },
  );
});
