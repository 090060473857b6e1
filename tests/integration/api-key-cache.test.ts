import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import pg from 'pg';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey } from '../../src/admin-api/api-keys.service.ts';
import { createContext, type AppContext } from '../../src/context.ts';
import { ApiKeyCache } from '../../src/http/api-key-cache.ts';
import { authenticateKey, UnauthenticatedError, type ApiKeyStore } from '../../src/http/auth.ts';
import { buildApiApp } from '../../src/main/api.ts';
import { apiKeyLookupsTotal } from '../../src/shared/metrics.ts';
import { findApiKeyForAuth, touchApiKey } from '../../src/storage/api-keys.repo.ts';
import { pgListener, type PgListener } from '../../src/storage/pg-listener.ts';
import { bearer, createTestApi, expectProblem, type TestApi } from '../helpers/api-app.ts';
import { captureLogLines } from '../helpers/log-capture.ts';

const logLines = captureLogLines('debug');

async function cacheHits(): Promise<number> {
  const metric = await apiKeyLookupsTotal.get();
  return metric.values.find((v) => v.labels.source === 'cache')?.value ?? 0;
}

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('API key cache', () => {
  let api: TestApi;
  let other: AppContext;
  const secrets: string[] = [];

  beforeAll(async () => {
    api = await createTestApi();
    // A second API instance (its own pool, cache and listener) on the same database.
    other = createContext(api.ctx.config, api.ctx.secrets);
  });
  afterAll(async () => {
    await other.close();
    await api.close();
  });

  async function newKey(): Promise<{ id: string; token: string; hash: string }> {
    const { row, token } = await createApiKey(api.ctx.db, { name: 'cached reader', role: 'viewer', organizationId: null, createdByKeyId: null });
    const stored = await api.t.db.selectFrom('api_keys').select('key_hash').where('id', '=', row.id).executeTakeFirstOrThrow();
    secrets.push(token, stored.key_hash);
    return { id: row.id, token, hash: stored.key_hash };
  }

  it('a key revoked through one instance is refused on the very next request by another instance sharing the database', async () => {
    const appA = api.app;
    const appB = buildApiApp(other);
    for (let round = 0; round < 5; round++) {
      const key = await newKey();
      // Instance B serves the key from its cache (a cache hit proves the listener is up and the row is held).
      await until('instance B to serve the key from its cache', async () => {
        const before = await cacheHits();
        expect((await request(appB).get('/v1/transactions?limit=1').set(bearer(key.token))).status).toBe(200);
        return (await cacheHits()) > before;
      });
      expect((await request(appA).get('/v1/transactions?limit=1').set(bearer(key.token))).status).toBe(200);
      expect((await request(appA).post(`/v1/api-keys/${key.id}/revoke`).set(bearer(api.adminKey))).status).toBe(200);
      expectProblem(await request(appB).get('/v1/transactions?limit=1').set(bearer(key.token)), 401, 'invalid_api_key');
      expectProblem(await request(appA).get('/v1/transactions?limit=1').set(bearer(key.token)), 401, 'invalid_api_key');
    }
  });

  it('a key revoked by plain SQL is refused at once too (the trigger notifies in the same transaction)', async () => {
    const appB = buildApiApp(other);
    const key = await newKey();
    await until('instance B to serve the key from its cache', async () => {
      const before = await cacheHits();
      expect((await request(appB).get('/v1/transactions?limit=1').set(bearer(key.token))).status).toBe(200);
      return (await cacheHits()) > before;
    });
    await sql`update api_keys set revoked_at = now() where id = ${key.id}`.execute(api.t.db);
    expectProblem(await request(appB).get('/v1/transactions?limit=1').set(bearer(key.token)), 401, 'invalid_api_key');
  });

  describe('with its own listener', () => {
    let lookups = 0;
    const counted: ApiKeyStore = {
      findByPrefix: (prefix) => {
        lookups++;
        return findApiKeyForAuth(api.t.db, prefix);
      },
      markUsed: (id) => touchApiKey(api.t.db, id),
    };
    let listener: PgListener | undefined;
    afterAll(async () => {
      await listener?.close();
    });

    /** A cache with a listener that reconnects after `retryMs`, and waiters for its state changes. */
    function listened(retryMs: number) {
      const applicationName = `api-key-cache-test-${randomBytes(4).toString('hex')}`;
      const cache = new ApiKeyCache(counted, { ttlMs: 60_000 });
      const events: string[] = [];
      listener = pgListener({
        url: api.t.url, channel: 'api_keys_changed', applicationName, retry: { baseMs: retryMs, maxMs: retryMs },
        onNotify: () => cache.invalidate(),
        onUp: () => {
          cache.listening(true);
          events.push('up');
        },
        onDown: () => {
          cache.listening(false);
          events.push('down');
        },
      });
      listener.start();
      const terminate = () => sql`select pg_terminate_backend(pid) from pg_stat_activity where application_name = ${applicationName}`.execute(api.t.db);
      return { cache, events, terminate, listener };
    }

    it('is not used while its listener is down: a key revoked in the gap is refused, and caching resumes once it is back', async () => {
      const { cache, events, terminate, listener: own } = listened(3_000);
      await until('the listener to be up', () => events.includes('up'));
      const key = await newKey();
      const prefix = key.token.split('_')[1]!;
      lookups = 0;
      await authenticateKey(cache, key.token);
      await authenticateKey(cache, key.token);
      expect(lookups).toBe(1);

      await terminate();
      await until('the listener to notice it is gone', () => events.includes('down'));
      expect(cache.size).toBe(0);
      // Nobody hears this revocation's notification; the cache must not answer for the key now.
      await sql`update api_keys set revoked_at = now() where id = ${key.id}`.execute(api.t.db);
      await expect(authenticateKey(cache, key.token)).rejects.toBeInstanceOf(UnauthenticatedError);
      expect(lookups).toBe(2);
      const live = await newKey();
      await authenticateKey(cache, live.token);
      await authenticateKey(cache, live.token);
      expect(lookups).toBe(4);
      expect(own.listening).toBe(false);

      await until('the listener to reconnect', () => events.filter((e) => e === 'up').length === 2);
      await authenticateKey(cache, live.token);
      await authenticateKey(cache, live.token);
      expect(lookups).toBe(5);
      expect((await cache.findByPrefix(prefix))?.revokedAt).not.toBeNull();
      await own.close();
    });

    it('recording a key use notifies nobody; a revocation does', async () => {
      const key = await newKey();
      const client = new pg.Client({ connectionString: api.t.url });
      await client.connect();
      const heard: string[] = [];
      client.on('notification', (m) => heard.push(m.payload ?? ''));
      await client.query('listen api_keys_changed');
      try {
        await sql`update api_keys set last_used_at = null where id = ${key.id}`.execute(api.t.db);
        await touchApiKey(api.t.db, key.id);
        await client.query('select 1');
        expect(heard).toEqual([]);
        await sql`update api_keys set revoked_at = now() where id = ${key.id}`.execute(api.t.db);
        await until('the revocation to be heard', () => heard.length > 0);
        expect(heard).toEqual([key.token.split('_')[1]]);
      } finally {
        await client.end();
      }
    });
  });

  it('logs neither a key nor its hash', () => {
    expect(logLines.length).toBeGreaterThan(0);
    expect(logLines.some((l) => l.includes('api key change listener lost'))).toBe(false);
    for (const secret of secrets) {
      expect(logLines.filter((l) => l.includes(secret))).toEqual([]);
    }
  });
});
