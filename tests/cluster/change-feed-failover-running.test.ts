import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey } from '../../src/admin-api/api-keys.service.ts';
import { loadConfig } from '../../src/config/index.ts';
import { checkFeedDatabase } from '../../src/events/feed-database.ts';
import { buildApiApp } from '../../src/main/api.ts';
import { createContext, type AppContext } from '../../src/main/context.ts';
import { createDb } from '../../src/storage/db.ts';
import { testQueuePrefix } from '../helpers/db.ts';
import { REDIS_URL } from '../helpers/env.ts';
import { pgSwitch } from './support/pg-switch.ts';
import { migrate, startPostgresPair, type PostgresPair } from './support/postgres-replica.ts';
import { cliAgainst } from '../helpers/cli.ts';

/**
 * A failover under the running service (README, Operations: a failover while the service runs): the API reaches
 * Postgres through a TCP switch, as through a DNS name or virtual IP that moves to the promoted node; the failover
 * ends every session and the switch then leads to the promoted standby (timeline 2).
 */
let pair: PostgresPair | undefined;

function pg2(): PostgresPair {
  if (!pair) {
    throw new Error('no postgres pair');
  }
  return pair;
}

async function until(what: string, fn: () => Promise<boolean>, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > end) {
      throw new Error(`timed out waiting for ${what}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

beforeAll(async () => {
  pair = await startPostgresPair('jpm_sync_failover_running', migrate);
}, 120_000);

afterAll(async () => {
  await pair?.destroy();
});

describe('change feed: a real promotion while the API runs', () => {
  it('answers 503 feed_database_changed from the promoted node (reads still served) until `confirm`, then resumes without a restart', async () => {
    const recordOn = createDb({ url: pg2().primaryUrl, poolMax: 1 });
    try {
      // What the first `npm start` on the primary does.
      expect((await checkFeedDatabase(recordOn, { recordIfNone: true })).recordedNow).toBe(true);
    } finally {
      await recordOn.destroy();
    }
    const sw = await pgSwitch(pg2().primaryUrl);
    let ctx: AppContext | undefined;
    try {
      const { config, secrets } = loadConfig({
        NODE_ENV: 'test',
        DATABASE_URL: sw.url,
        DATABASE_READ_URL: pg2().standbyUrl,
        REDIS_URL,
        QUEUE_PREFIX: testQueuePrefix(),
        LOG_LEVEL: 'silent',
      });
      ctx = createContext(config, secrets);
      const app = buildApiApp(ctx);
      const key = (
        await createApiKey(ctx.db, { name: 'test', role: 'admin', organizationId: null, createdByKeyId: null })
      ).token;
      const get = (path: string) =>
        request(app)
          .get(path)
          .set({ Authorization: `Bearer ${key}` });
      const first = await get('/v1/changes');
      expect(first.status, JSON.stringify(first.body)).toBe(200);
      const cursor = (first.body as { nextCursor: string }).nextCursor;

      // The failover: the standby is promoted, the old primary's sessions end, the name leads to the new primary.
      await pg2().query('standby', 'select pg_promote(true, 30)');
      sw.moveTo(pg2().standbyUrl);

      await until('the feed to answer 503', async () => (await get(`/v1/changes?cursor=${cursor}`)).status === 503);
      const paused = await get(`/v1/changes?cursor=${cursor}`);
      expect(paused.body).toMatchObject({ code: 'feed_database_changed' });
      expect((await request(app).get('/readyz')).body).toMatchObject({
        status: 'degraded',
        checks: { 'change-feed-database': { status: 'unavailable', reason: 'feed_database_changed' } },
      });
      // The read replica was the node promoted: refused as a replica, the primary (the same node) serves the read.
      expect((await get('/v1/transactions')).status).toBe(200);

      const confirmed = await cliAgainst(pg2().standbyUrl, ['change-feed', 'confirm', '--yes']);
      expect(confirmed.code, confirmed.stderr).toBe(0);
      expect(confirmed.stdout).toContain('timeline 2');
      await until('the feed to answer again', async () => (await get(`/v1/changes?cursor=${cursor}`)).status === 200);
    } finally {
      await ctx?.close();
      await sw.close();
    }
  });
});
