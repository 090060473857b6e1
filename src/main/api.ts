import { createServer, type RequestListener, type Server } from 'node:http';
import type { Queue } from 'bullmq';
import express, { type Express } from 'express';
import { adminApiRoutes } from '../admin-api/index.ts';
import { statementRoutes } from '../admin-api/statements.routes.ts';
import type { AppContext } from './context.ts';
import { createApp, type HealthCheck } from '../http/app.ts';
import { redisAuthThrottle } from '../http/auth-throttle.ts';
import { metricsHandler } from '../http/ops.ts';
import type { Route } from '../http/routes.ts';
import { readApiRoutes } from '../read-api/index.ts';
import { QUEUE_NAMES, refreshQueueDepthMetric } from '../scheduler/index.ts';
import { pingRedis } from '../shared/redis.ts';
import { insertAuditEntry } from '../storage/audit.repo.ts';
import { pingDatabase, type Executor } from '../storage/db.ts';
import {
  beginIdempotentRequest,
  completeIdempotentRequest,
  IN_FLIGHT_TAKEOVER_MS,
  purgeExpiredIdempotencyKeys,
  releaseIdempotentRequest,
  renewIdempotentClaim,
  type IdempotencyClaim,
} from '../storage/idempotency.repo.ts';
import { adminApiDeps, consoleDeps } from './admin-wiring.ts';
import { consoleRouter } from '../console/index.ts';
import { deriveReviewKeys, reviewRouter } from '../review/index.ts';
import type { Stoppable } from './lifecycle.ts';
import { importStatementFile } from './statement-import.ts';
import { registerAccountDayMetrics } from '../validation/index.ts';
import { refreshCertificateExpiryMetric } from '../credentials/metrics.ts';
import { refreshOverdueMetric } from '../onboarding/metrics.ts';
import { DEFAULT_BUSY_WINDOW_MS, refreshSearchLagMetric } from '../events/search-index.ts';
import { onScrape } from '../shared/metrics.ts';

export interface ApiAppOptions {
  /** Queues shown in bull-board (default: every queue of the job catalog). */
  queues?: readonly Queue[];
  /** Readiness checks besides Postgres and Redis (e.g. `queue-workers`: throws when no worker is alive). */
  readiness?: readonly HealthCheck[];
  /** Routes beyond the product's (tests only). */
  extraRoutes?: readonly Route[];
  /**
   * The app's one clock (tests only; default the machine's): the API's (onboarding due dates and overdue, certificates,
   * the runs it plans), the console's and the review page's. It places the instant, the bank decides the date.
   */
  now?: () => Date;
  /** How old an in-flight Idempotency-Key claim must be before a retry takes it over (tests only; default 2 min). */
  idempotencyTakeoverMs?: number;
}

/** Every API route the service serves. Add a module's routes here (`...readApiRoutes({ db })`). */
export function apiRoutes(ctx: AppContext, clock: { now?: () => Date } = {}): Route[] {
  return [
    ...adminApiRoutes(adminApiDeps(ctx, clock.now)),
    ...readApiRoutes({
      db: ctx.db,
      reads: ctx.reads,
      retentionDays: ctx.config.changeFeed.retentionDays,
      feedDatabase: ctx.feedDatabase,
      keys: ctx.secrets,
      allowHttpEndpoints: ctx.config.env !== 'production',
      outbound: ctx.outbound,
    }),
    ...statementRoutes({
      db: ctx.db,
      importStatement: (accountId, text) => importStatementFile(ctx.db, { accountId, text, trigger: 'manual' }),
    }),
  ];
}

function stores(ctx: AppContext, options: ApiAppOptions = {}) {
  const db = ctx.db;
  const takeoverMs = options.idempotencyTakeoverMs ?? IN_FLIGHT_TAKEOVER_MS;
  return {
    apiKeys: ctx.apiKeys,
    audit: { record: (e: Parameters<typeof insertAuditEntry>[1]) => insertAuditEntry(db, e) },
    idempotency: {
      begin: (s: IdempotencyClaim, r: { requestHash: string; method: string; path: string }) =>
        beginIdempotentRequest(db, { ...s, ...r }, takeoverMs),
      // Four renewals per takeover window: a claim is taken over only after several missed in a row.
      renewEveryMs: takeoverMs / 4,
      renew: (s: IdempotencyClaim) => renewIdempotentClaim(db, s),
      complete: (s: IdempotencyClaim, status: number, body: unknown) => completeIdempotentRequest(db, s, status, body),
      // The write's own transaction (src/storage/db.ts atomicWrite), handed through the HTTP layer untyped.
      completeIn: (trx: unknown, s: IdempotencyClaim, status: number, body: unknown) =>
        completeIdempotentRequest(trx as Executor, s, status, body),
      release: (s: IdempotencyClaim) => releaseIdempotentRequest(db, s),
    },
  };
}

/** The whole HTTP app over a context (also what the integration tests drive with supertest). */
export function buildApiApp(ctx: AppContext, options: ApiAppOptions = {}): Express {
  const routes = [...apiRoutes(ctx, options.now ? { now: options.now } : {}), ...(options.extraRoutes ?? [])];
  const authThrottle = redisAuthThrottle(ctx.queues.redis, ctx.queues.prefix, ctx.config.http.authThrottle);
  return createApp({
    config: ctx.config,
    routes,
    ...stores(ctx, options),
    readiness: [
      { name: 'postgres', check: () => pingDatabase(ctx.db) },
      { name: 'redis', check: () => pingRedis(ctx.config.redis, ctx.config.queue.prefix, 1_000) },
      // Not required: everything but the feeds still serves (transactions and balances are the promoted node's).
      { name: 'change-feed-database', check: () => ctx.feedDatabase.assertOpen(), required: false },
      // Not required: while the replica is down or behind, the primary serves every read.
      ...(ctx.reads.replicaCheck ? [{ name: 'postgres-replica', check: ctx.reads.replicaCheck, required: false }] : []),
      ...(options.readiness ?? []),
    ],
    queues: options.queues ?? QUEUE_NAMES.map((name) => ctx.queues.queue(name)),
    metricsToken: ctx.secrets.metricsToken,
    authThrottle,
    mounts: [
      {
        path: '/console',
        handler: consoleRouter(
          consoleDeps(ctx, {
            routes,
            ...stores(ctx, options),
            authThrottle,
            ...(options.now ? { now: options.now } : {}),
          }),
        ),
      },
      // The customer's review page: the signed link is the credential (no API key).
      {
        path: '/review',
        handler: reviewRouter({
          db: ctx.db,
          keys: deriveReviewKeys(ctx.secrets.masterKey.key),
          ...(options.now ? { now: options.now } : {}),
        }),
      },
    ],
  });
}

/**
 * METRICS_LISTEN: /metrics on its own `host:port` (e.g. an address only Prometheus reaches), with
 * everything (integration-labelled gauges too) and METRICS_TOKEN still required when set.
 */
async function startMetricsListener(ctx: AppContext): Promise<Server | undefined> {
  const listen = ctx.config.http.metricsListen;
  if (listen === '') {
    return undefined;
  }
  const at = listen.lastIndexOf(':');
  const host = listen.slice(0, at).replace(/^\[|\]$/g, '');
  const port = Number(listen.slice(at + 1));
  const app = express();
  app.disable('x-powered-by');
  app.get('/metrics', metricsHandler({ token: ctx.secrets.metricsToken, withIdentifiers: true }));
  const server = await listenOn(app, { port, host, variable: 'METRICS_LISTEN' });
  ctx.logger.info({ host, port }, 'metrics listening');
  return server;
}

const PURGE_INTERVAL_MS = 60 * 60 * 1_000;

/**
 * Listens, or rejects with a one-line message naming the variable to fix. Not `app.listen`: Express 5 calls its
 * callback on a listen error too (the port taken, the host unknown), so the service said "listening" and ran on
 * without serving anything.
 */
function listenOn(app: RequestListener, at: { port: number; host: string; variable: string }): Promise<Server> {
  return new Promise<Server>((resolve, reject) => {
    const server = createServer(app);
    const fail = (err: unknown) => {
      const why = err instanceof Error ? err.message : String(err);
      server.close();
      reject(new Error(`${at.variable}: cannot listen on ${at.host}:${at.port} (${why}); free it or choose another`));
    };
    server.once('error', fail);
    server.once('listening', () => {
      server.off('error', fail);
      resolve(server);
    });
    try {
      server.listen(at.port, at.host);
    } catch (err) {
      fail(err);
    }
  });
}

/** The `api` role: admin and read APIs over HTTP. Stopping closes the listener and waits for requests. */
export async function startApi(
  ctx: AppContext,
): Promise<Stoppable & { server: Server; metricsServer: Server | undefined }> {
  const app = buildApiApp(ctx);
  // Gauges whose value lives in Postgres or Redis are refreshed at scrape time.
  const stopHooks = [
    onScrape(() => refreshQueueDepthMetric(ctx.queues)),
    registerAccountDayMetrics(ctx.db),
    onScrape(() => refreshCertificateExpiryMetric(ctx.db)),
    onScrape(async () => void (await refreshOverdueMetric(ctx.db))),
    onScrape(
      async () =>
        void (await refreshSearchLagMetric(ctx.db, { ...ctx.config.search, busyWindowMs: DEFAULT_BUSY_WINDOW_MS })),
    ),
  ];
  const stopMetrics = () => stopHooks.forEach((stop) => stop());
  const { port: wantedPort, host } = ctx.config.http;
  const server = await listenOn(app, { port: wantedPort, host, variable: 'PORT/HOST' }).catch((err: unknown) => {
    stopMetrics();
    throw err;
  });
  const metricsServer = await startMetricsListener(ctx).catch((err: unknown) => {
    stopMetrics();
    server.close();
    throw err;
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : ctx.config.http.port;
  const base = ctx.config.http.publicBaseUrl || `http://${ctx.config.http.host}:${port}`;
  ctx.logger.info({ port, host: ctx.config.http.host, docsUrl: `${base}/docs` }, 'api listening');
  // Expired Idempotency-Key records: deleting them is idempotent, so every replica may do it.
  const purge = setInterval(() => {
    purgeExpiredIdempotencyKeys(ctx.db).catch((err: unknown) => ctx.logger.warn({ err }, 'idempotency purge failed'));
  }, PURGE_INTERVAL_MS);
  purge.unref();
  return {
    name: 'api',
    server,
    metricsServer,
    stop: () =>
      new Promise<void>((resolve) => {
        clearInterval(purge);
        stopMetrics();
        metricsServer?.close();
        server.close(() => resolve());
        server.closeIdleConnections();
      }),
  };
}
