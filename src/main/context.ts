import { findApiKeyForAuth } from '../admin-api/api-keys.service.ts';
import { FeedDatabaseGuard } from '../events/feed-database-guard.ts';
import type { Config, Secrets } from '../config/index.ts';
import { credentialSource } from '../credentials/credential-source.ts';
import { ApiKeyCache } from '../http/api-key-cache.ts';
import type { ApiKeyStore } from '../http/auth.ts';
import { JpmClient } from '../jpm/client.ts';
import { createQueues, type Queues } from '../scheduler/index.ts';
import type { BankClient } from '../sync/bank-client.ts';
import { bankClientOf } from '../sync/jpm-bank.ts';
import { NotFoundError } from '../shared/errors.ts';
import { createLogger, type Logger } from '../shared/logger.ts';
import { apiKeyCacheListening } from '../shared/metrics.ts';
import { createOutboundPolicy, type OutboundPolicy } from '../shared/outbound-policy.ts';
import {
  API_KEYS_CHANNEL,
  missingApiKeyTriggers,
  sendApiKeysNotification,
  touchApiKey,
} from '../storage/api-keys.repo.ts';
import { createDb, type Database } from '../storage/db.ts';
import { trackedStop } from './lifecycle.ts';
import { createReplicaPool, primaryReads, replicaReads, type ReadDatabase } from '../storage/read-replica.ts';
import { findIntegrationBaseUrl } from '../storage/integrations.repo.ts';
import { ListenerPreconditionError, pgListener } from '../storage/pg-listener.ts';

/**
 * The composition root: everything a process role needs, built once from config. Each entry point
 * in main/ calls createContext and owns `close()`. No module reaches for globals instead.
 */
export interface AppContext {
  config: Config;
  secrets: Secrets;
  db: Database;
  /**
   * Where the read API's queries run: the replica in DATABASE_READ_URL when it has replayed every commit the
   * primary had when the read arrived, else the primary (src/storage/read-replica.ts). Everything that writes,
   * and the change feed, use `db`.
   */
  reads: ReadDatabase;
  /**
   * Whether the change feed's database is still the recorded one, checked on every new session of `db`'s pool:
   * while not (a failover under the running service), the feeds and webhook and email production pause
   * (src/events/feed-database-guard.ts).
   */
  feedDatabase: FeedDatabaseGuard;
  logger: Logger;
  /** BullMQ producers (queues, flow producer) under `config.queue.prefix`, on one fail-fast Redis connection. */
  queues: Queues;
  /**
   * The bank client of an integration (one per integration and base URL, reused for keep-alive);
   * its credential is read before every call, so a rotated certificate is used without a restart.
   */
  clientFor(integrationId: string): Promise<BankClient>;
  /** Where we may connect on a user's behalf (webhooks, base URLs): public addresses plus `OUTBOUND_ALLOW`. */
  outbound: OutboundPolicy;
  /**
   * API key rows for authentication: read from Postgres, and cached in this process only while its own
   * connection LISTENs to every key change (src/http/api-key-cache.ts); that connection opens on first use.
   */
  apiKeys: ApiKeyStore;
  /** Releases pools and connections; each step is guarded so one failure does not skip the rest. */
  close(): Promise<void>;
}

export function createContext(config: Config, secrets: Secrets): AppContext {
  const feedDatabase = new FeedDatabaseGuard();
  // A new primary session may reach another node (a failover, a moved DNS name): the read replica's sessions are
  // checked again against that primary (same cluster and database), not against the one it knew before.
  let primarySessionOpened = (): void => undefined;
  const db = createDb({
    url: config.database.url,
    password: secrets.databasePassword,
    poolMax: config.database.poolMax,
    connectionTimeoutMs: config.database.poolWaitMs,
    onSession: (client) => {
      feedDatabase.sessionOpened(client);
      primarySessionOpened();
    },
  });
  feedDatabase.attach(db);
  const outbound = createOutboundPolicy({ allow: config.outbound.allow });
  const logger = createLogger('main');
  const queues = createQueues({
    redisUrl: config.redis.url,
    redisClusterNodes: config.redis.clusterNodes,
    prefix: config.queue.prefix,
  });
  const closers: { name: string; close: () => Promise<void> }[] = [
    { name: 'db', close: () => db.destroy() },
    { name: 'queues', close: () => queues.close() },
  ];
  let reads = primaryReads(db);
  const readUrl = config.database.readUrl;
  if (readUrl !== undefined) {
    // Its pool connects on the first read, so roles that serve no reads open no connection to it.
    const replica = replicaReads({
      primary: db,
      replica: createReplicaPool({
        url: readUrl,
        password: secrets.databasePassword,
        poolMax: config.database.poolMax,
        connectionTimeoutMs: config.database.poolWaitMs,
      }),
      maxWaitMs: config.database.readMaxWaitMs,
    });
    closers.push({ name: 'db-replica', close: () => replica.close() });
    primarySessionOpened = () => replica.primarySessionOpened();
    reads = replica;
  }
  const apiKeys = apiKeyStore(config, secrets, db, logger);
  closers.push({ name: 'api-key-listener', close: apiKeys.close });
  const clients = new Map<string, { baseUrl: string; client: JpmClient; bank: BankClient }>();
  closers.push({
    name: 'jpm-clients',
    close: async () => void (await Promise.all([...clients.values()].map((c) => c.client.close()))),
  });
  async function clientFor(integrationId: string): Promise<BankClient> {
    const row = await findIntegrationBaseUrl(db, integrationId);
    if (!row) {
      throw new NotFoundError('integration', integrationId);
    }
    const cached = clients.get(integrationId);
    if (cached?.baseUrl === row.base_url) {
      return cached.bank;
    }
    if (cached) {
      void cached.client.close();
    }
    const client = new JpmClient({
      baseUrl: row.base_url,
      credentials: credentialSource(db, secrets, integrationId),
      timeouts: { connectMs: config.jpm.connectTimeoutMs, requestMs: config.jpm.requestTimeoutMs },
      outbound,
    });
    const entry = { baseUrl: row.base_url, client, bank: bankClientOf(client) };
    clients.set(integrationId, entry);
    return entry.bank;
  }
  return {
    config,
    secrets,
    db,
    reads,
    feedDatabase,
    logger,
    queues,
    clientFor,
    outbound,
    apiKeys: apiKeys.store,
    async close() {
      for (const c of closers.reverse()) {
        try {
          await trackedStop({ name: c.name, stop: c.close });
        } catch (err) {
          logger.warn({ err, resource: c.name }, 'resource failed to close');
        }
      }
    },
  };
}

/**
 * The key store behind authentication: the repository, behind a cache that the `api_keys_changed` listener
 * keeps honest (a trigger NOTIFYs in the transaction of every key change). The listener connects on the first
 * lookup, so roles that authenticate nothing (worker, scheduler) open no connection for it. Every heartbeat
 * checks that the triggers are in place and sends a probe notification through the pool (the path of a
 * revocation); the cache serves a row only while the last such probe was heard within heartbeat + timeout.
 */
function apiKeyStore(
  config: Config,
  secrets: Secrets,
  db: Database,
  logger: Logger,
): { store: ApiKeyStore; close: () => Promise<void> } {
  const heartbeatMs = 5_000;
  const heartbeatTimeoutMs = 2_000;
  const cache = new ApiKeyCache(
    { findByPrefix: (prefix) => findApiKeyForAuth(db, prefix), markUsed: (id) => touchApiKey(db, id) },
    { ttlMs: config.http.apiKeyCacheMs, proofMs: heartbeatMs + heartbeatTimeoutMs },
  );
  let warned: string | undefined;
  const listener = pgListener({
    url: config.database.url,
    password: secrets.databasePassword,
    channel: API_KEYS_CHANNEL,
    applicationName: 'jpm-sync-api-keys-listener',
    heartbeatMs,
    heartbeatTimeoutMs,
    probe: (payload) => sendApiKeysNotification(db, payload),
    verify: async () => {
      const missing = await missingApiKeyTriggers(db);
      const problem =
        missing.length === 0 ? undefined : `api key change triggers missing or disabled: ${missing.join(', ')}`;
      if (problem !== undefined && problem !== warned) {
        logger.warn(
          { triggers: missing },
          'api key change triggers missing or disabled on api_keys: the key cache stays off (every request reads postgres) until they are back',
        );
      }
      warned = problem;
      return problem;
    },
    onNotify: () => cache.invalidate(),
    onAlive: (provenAt) => cache.alive(provenAt),
    onUp: () => {
      cache.listening(true);
      apiKeyCacheListening.set(1);
    },
    onDown: (err) => {
      cache.listening(false);
      apiKeyCacheListening.set(0);
      if (err !== undefined && !(err instanceof ListenerPreconditionError)) {
        logger.warn(
          { err },
          'api key change listener lost: keys are read from postgres on every request until it is back',
        );
      }
    },
  });
  const store: ApiKeyStore = {
    findByPrefix: (prefix) => {
      if (config.http.apiKeyCacheMs > 0) {
        listener.start();
      }
      return cache.findByPrefix(prefix);
    },
    markUsed: (id) => cache.markUsed(id),
    forget: () => cache.invalidate(),
  };
  return { store, close: () => listener.close() };
}
