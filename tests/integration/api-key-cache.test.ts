import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import pg from 'pg';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey, findApiKeyForAuth } from '../../src/admin-api/api-keys.service.ts';
import { createContext, type AppContext } from '../../src/main/context.ts';
import { ApiKeyCache } from '../../src/http/api-key-cache.ts';
import { authenticateKey, UnauthenticatedError, type ApiKeyStore } from '../../src/http/auth.ts';
import { buildApiApp } from '../../src/main/api.ts';
import { apiKeyLookupsTotal } from '../../src/shared/metrics.ts';
import {
  API_KEYS_CHANNEL,
  missingApiKeyTriggers,
  sendApiKeysNotification,
  touchApiKey,
} from '../../src/storage/api-keys.repo.ts';
import { pgListener, PROBE_PAYLOAD_PREFIX, type PgListener } from '../../src/storage/pg-listener.ts';
import { bearer, createTestApi, expectProblem, type TestApi } from '../helpers/api-app.ts';
import { createTestDb } from '../helpers/db.ts';
import { deafProxy, type DeafProxy } from '../helpers/deaf-proxy.ts';
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
    const { row, token } = await createApiKey(api.ctx.db, {
      name: 'cached reader',
      role: 'viewer',
      organizationId: null,
      createdByKeyId: null,
    });
    const stored = await api.t.db
      .selectFrom('api_keys')
      .select('key_hash')
      .where('id', '=', row.id)
      .executeTakeFirstOrThrow();
    secrets.push(token, stored.key_hash);
    return { id: row.id, token, hash: stored.key_hash };
  }

  /** Serves the key once from the app's cache (a hit proves that app's listener is up and holds the row). */
  async function servedFromCache(app: ReturnType<typeof buildApiApp>, token: string): Promise<void> {
    await until('the key to be served from the cache', async () => {
      const before = await cacheHits();
      expect((await request(app).get('/v1/transactions?limit=1').set(bearer(token))).status).toBe(200);
      return (await cacheHits()) > before;
    });
  }

  /**
   * Asks until the key is refused; every answer before is a 200 from the cache. The bound (2 s) is far below
   * the 7 s a deaf listener's cache would keep serving and the 10 s TTL, so only the notification can meet it.
   */
  async function refusedByNotification(app: ReturnType<typeof buildApiApp>, token: string): Promise<void> {
    const started = performance.now();
    for (;;) {
      const res = await request(app).get('/v1/transactions?limit=1').set(bearer(token));
      if (res.status !== 200) {
        expectProblem(res, 401, 'invalid_api_key');
        break;
      }
      expect(performance.now() - started, 'refused within 2 s of the commit').toBeLessThan(2_000);
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  it('a key revoked through one instance is refused by its next request, and by another instance sharing the database once the notification arrives', async () => {
    // Instance A's key store, counting the times the admin API tells it that a key change was committed.
    let forgotten = 0;
    const store = api.ctx.apiKeys;
    const appA = buildApiApp({
      ...api.ctx,
      apiKeys: {
        ...store,
        forget: () => {
          forgotten++;
          store.forget?.();
        },
      },
    });
    const appB = buildApiApp(other);
    for (let round = 0; round < 5; round++) {
      const key = await newKey();
      await servedFromCache(appB, key.token);
      await servedFromCache(appA, key.token);
      const before = forgotten;
      expect((await request(appA).post(`/v1/api-keys/${key.id}/revoke`).set(bearer(api.adminKey))).status).toBe(200);
      // The instance that revoked drops its cache itself before answering, not waiting for the notification.
      expect(forgotten).toBe(before + 1);
      expectProblem(await request(appA).get('/v1/transactions?limit=1').set(bearer(key.token)), 401, 'invalid_api_key');
      await refusedByNotification(appB, key.token);
    }
  });

  it('a key revoked by plain SQL is refused too, once the notification sent in the same transaction arrives', async () => {
    const appB = buildApiApp(other);
    const key = await newKey();
    await servedFromCache(appB, key.token);
    await sql`update api_keys set revoked_at = now() where id = ${key.id}`.execute(api.t.db);
    await refusedByNotification(appB, key.token);
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
    const listeners: PgListener[] = [];
    const proxies: DeafProxy[] = [];
    afterAll(async () => {
      await Promise.all(listeners.map((l) => l.close()));
      await Promise.all(proxies.map((p) => p.close()));
    });

    const HEARTBEAT_MS = 200;
    const TIMEOUT_MS = 300;

    /**
     * A cache with a listener wired as the API process wires it (probes and the trigger check through the
     * pool), a short heartbeat, a reconnect after `retryMs`, and waiters for its state changes.
     */
    function listened(retryMs: number, url = api.t.url) {
      const applicationName = `api-key-cache-test-${randomBytes(4).toString('hex')}`;
      const cache = new ApiKeyCache(counted, { ttlMs: 60_000, proofMs: HEARTBEAT_MS + TIMEOUT_MS });
      const events: string[] = [];
      const notified: string[] = [];
      const listener = pgListener({
        url,
        channel: API_KEYS_CHANNEL,
        applicationName,
        retry: { baseMs: retryMs, maxMs: retryMs },
        heartbeatMs: HEARTBEAT_MS,
        heartbeatTimeoutMs: TIMEOUT_MS,
        probe: (payload) => sendApiKeysNotification(api.t.db, payload),
        verify: async () => {
          const missing = await missingApiKeyTriggers(api.t.db);
          return missing.length === 0 ? undefined : `missing ${missing.join(', ')}`;
        },
        onNotify: (payload) => {
          notified.push(payload);
          cache.invalidate();
        },
        onAlive: (at) => cache.alive(at),
        onUp: () => {
          cache.listening(true);
          events.push('up');
        },
        onDown: () => {
          cache.listening(false);
          events.push('down');
        },
      });
      listeners.push(listener);
      listener.start();
      const terminate = () =>
        sql`select pg_terminate_backend(pid) from pg_stat_activity where application_name = ${applicationName}`.execute(
          api.t.db,
        );
      return { cache, events, notified, terminate, listener };
    }

    const ups = (events: string[]) => events.filter((e) => e === 'up').length;
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

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

      await until('the listener to reconnect', () => ups(events) === 2);
      await authenticateKey(cache, live.token);
      await authenticateKey(cache, live.token);
      expect(lookups).toBe(5);
      expect((await cache.findByPrefix(prefix))?.revokedAt).not.toBeNull();
      await own.close();
    });

    it('keeps serving across heartbeats: its own probes are not taken for key changes', async () => {
      const { cache, events, notified, listener: own } = listened(100);
      await until('the listener to be up', () => events.includes('up'));
      const key = await newKey();
      lookups = 0;
      await authenticateKey(cache, key.token);
      await sleep(HEARTBEAT_MS * 5);
      await authenticateKey(cache, key.token);
      expect(lookups).toBe(1);
      expect(events).toEqual(['up']);
      expect(notified).toEqual([]);
      await own.close();
    });

    it('stops serving from memory when notifications stop arriving on a connection that still answers queries, so a revocation is refused within heartbeat + timeout', async () => {
      // The listener reaches Postgres through a proxy that can drop every notification and nothing else, as a
      // transaction-pooling proxy or a connection left on a former primary would: `select 1` still works.
      const proxy = await deafProxy(api.t.url);
      proxies.push(proxy);
      const { cache, events, listener: own } = listened(100, proxy.url);
      await until('the listener to be up', () => events.includes('up'));
      const key = await newKey();
      lookups = 0;
      await authenticateKey(cache, key.token);
      await authenticateKey(cache, key.token);
      expect(lookups).toBe(1);

      proxy.deaf = true;
      await sql`update api_keys set revoked_at = now() where id = ${key.id}`.execute(api.t.db);
      const revokedAt = performance.now();
      await until(
        'the revoked key to be refused',
        async () => {
          try {
            await authenticateKey(cache, key.token);
            return false;
          } catch (err) {
            expect(err).toBeInstanceOf(UnauthenticatedError);
            return true;
          }
        },
        5_000,
      );
      // Bounded by the age of the last proof (at most heartbeat + timeout), plus this loop's own steps; not the TTL.
      expect(performance.now() - revokedAt).toBeLessThan(HEARTBEAT_MS + TIMEOUT_MS + 1_000);
      await until('the listener to count itself down', () => events.includes('down'));

      // While deaf it reconnects but never counts as up again, and every request reads Postgres.
      await sleep((HEARTBEAT_MS + TIMEOUT_MS) * 3);
      expect(ups(events)).toBe(1);
      const live = await newKey();
      lookups = 0;
      await authenticateKey(cache, live.token);
      await authenticateKey(cache, live.token);
      expect(lookups).toBe(2);

      proxy.deaf = false;
      await until('the listener to be up again', () => ups(events) === 2);
      await authenticateKey(cache, live.token);
      await authenticateKey(cache, live.token);
      expect(lookups).toBe(3);
      await own.close();
    });

    it('never counts as up when it listens to a database other than the one keys are written to', async () => {
      // Its own connection works (LISTEN and queries); the probes, sent through the pool, go to another database.
      const elsewhere = await createTestDb();
      try {
        const { cache, events, listener: own } = listened(100, elsewhere.url);
        const key = await newKey();
        await sleep((HEARTBEAT_MS + TIMEOUT_MS) * 3);
        expect(events).toEqual([]);
        lookups = 0;
        await authenticateKey(cache, key.token);
        await authenticateKey(cache, key.token);
        expect(lookups).toBe(2);
        await own.close();
      } finally {
        await elsewhere.drop();
      }
    });

    it('stays off while a notifying trigger is disabled or missing, and comes back once it is enabled', async () => {
      const { cache, events, listener: own } = listened(100);
      await until('the listener to be up', () => events.includes('up'));
      const key = await newKey();
      try {
        await sql`alter table api_keys disable trigger api_keys_notify_update`.execute(api.t.db);
        await until('the listener to count itself down', () => events.includes('down'));
        lookups = 0;
        await authenticateKey(cache, key.token);
        await authenticateKey(cache, key.token);
        expect(lookups).toBe(2);
        // Replica-only is not enabled for a normal session either.
        await sql`alter table api_keys enable replica trigger api_keys_notify_update`.execute(api.t.db);
        await sleep((HEARTBEAT_MS + TIMEOUT_MS) * 2);
        expect(ups(events)).toBe(1);
        // One statement, so no heartbeat's check sees both triggers enabled in between.
        await sql`alter table api_keys enable trigger api_keys_notify_update, disable trigger api_keys_notify_delete`.execute(
          api.t.db,
        );
        await sleep((HEARTBEAT_MS + TIMEOUT_MS) * 2);
        expect(ups(events)).toBe(1);
      } finally {
        await sql`alter table api_keys enable trigger api_keys_notify_update`.execute(api.t.db);
        await sql`alter table api_keys enable trigger api_keys_notify_delete`.execute(api.t.db);
      }
      await until('the listener to be up again', () => ups(events) === 2);
      lookups = 0;
      await authenticateKey(cache, key.token);
      await authenticateKey(cache, key.token);
      expect(lookups).toBe(1);
      await own.close();
    });

    it('recording a key use notifies nobody; a revocation does', async () => {
      const key = await newKey();
      const client = new pg.Client({ connectionString: api.t.url });
      await client.connect();
      const heard: string[] = [];
      // API processes' probes (their liveness proofs) travel on the channel too; they are not key changes.
      client.on('notification', (m) => {
        if (!(m.payload ?? '').startsWith(PROBE_PAYLOAD_PREFIX)) {
          heard.push(m.payload ?? '');
        }
      });
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
