import type { Queue } from 'bullmq';
import express, { type Express, type RequestHandler } from 'express';
import type { Config } from '../config/index.ts';
import { createLogger } from '../shared/logger.ts';
import { enableDefaultMetrics } from '../shared/metrics.ts';
import { Admission } from './admission.ts';
import type { AuditSink } from './audit.ts';
import type { ApiKeyStore } from './auth.ts';
import type { AuthThrottle } from './auth-throttle.ts';
import { cors } from './cors.ts';
import { errorMiddleware, notFoundMiddleware } from './errors.ts';
import type { IdempotencyStore } from './idempotency.ts';
import { renderDocsPage } from './docs-page.ts';
import { buildOpenApiDocument } from './openapi.ts';
import { httpMetrics, metricsHandler, readinessHandler, type HealthCheck } from './ops.ts';
import { QUEUES_BASE_PATH, queuesBoard } from './queues-board.ts';
import { requestIdMiddleware } from './request-id.ts';
import { requestLogMiddleware } from './request-log.ts';
import { buildRouter, pathPattern, rememberRoutes, type Route } from './routes.ts';
import { securityHeaders } from './security-headers.ts';

export type { HealthCheck } from './ops.ts';

export interface AppDeps {
  config: Pick<Config, 'env' | 'http'>;
  /** Every API route (src/http/routes.ts); main/api.ts assembles the list. */
  routes: readonly Route[];
  apiKeys: ApiKeyStore;
  audit: AuditSink;
  idempotency: IdempotencyStore;
  /** /readyz checks; each throws when its dependency cannot serve. */
  readiness: readonly HealthCheck[];
  /** BullMQ queues shown in bull-board at /admin/queues (empty until orchestration provides them). */
  queues?: readonly Queue[];
  /** JSON body limit (default 256 kB; larger bodies get a 413 problem). */
  jsonLimit?: string;
  version?: string;
  /** Failed-authentication throttling shared by the replicas (src/http/auth-throttle.ts). */
  authThrottle?: AuthThrottle;
  /** METRICS_TOKEN: /metrics then requires it as a bearer token (and also serves integration-labelled metrics). */
  metricsToken?: string | undefined;
  /** Browser apps with their own auth and CSP (the operator console at /console), mounted before the API routes. */
  mounts?: readonly { path: `/${string}`; handler: RequestHandler }[];
}

/** `TRUST_PROXY`: '' = the socket's address; a number = hops; otherwise Express's own syntax (`loopback`, CIDRs). */
export function trustProxySetting(value: string): boolean | number | string {
  if (value.trim() === '') {
    return false;
  }
  return /^\d+$/.test(value.trim()) ? Number(value.trim()) : value.trim();
}

const QUIET_PATHS = new Set(['/healthz', '/readyz', '/metrics']);

/**
 * The Express app factory: cross-cutting middleware in a fixed order (request id → metrics → access
 * log → helmet → CORS), operations endpoints, OpenAPI and docs, bull-board, the API routes, then the
 * 404/405 and the single error middleware. It starts nothing and holds no connections: main/api.ts
 * listens and owns shutdown.
 */
export function createApp(deps: AppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  // Behind a load balancer the client's address (auth throttling per source) is in X-Forwarded-For.
  app.set('trust proxy', trustProxySetting(deps.config.http.trustProxy));
  const log = createLogger('http');
  enableDefaultMetrics();
  const admission = new Admission(deps.config.http.admission);

  app.use(requestIdMiddleware(log));
  app.use(httpMetrics());
  // One line per request (src/http/request-log.ts); request loggers are built only when something logs.
  app.use(requestLogMiddleware(log, QUIET_PATHS));
  // helmet's default headers, computed once (src/http/security-headers.ts).
  app.use(securityHeaders());
  if (deps.config.http.corsOrigins.length > 0) {
    app.use(cors(deps.config.http.corsOrigins));
  }
  app.use(admission.middleware());

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get(
    '/readyz',
    readinessHandler(deps.readiness, log, () => admission.state()),
  );
  // With METRICS_LISTEN, /metrics lives on its own listener (main/api.ts) and not here.
  if (deps.config.http.metricsListen === '') {
    app.get('/metrics', metricsHandler({ token: deps.metricsToken, withIdentifiers: deps.metricsToken !== undefined }));
  }

  let openapi: unknown;
  const openapiDocument = (): unknown =>
    (openapi ??= buildOpenApiDocument(deps.routes, {
      title: 'jpm-sync API',
      version: deps.version ?? '0.1.0',
      description:
        'Admin and read API of jpm-sync. Authenticate with an API key (`Authorization: Bearer jpms_…`). Errors are RFC 9457 problem+json.',
      ...(deps.config.http.publicBaseUrl ? { serverUrl: deps.config.http.publicBaseUrl } : {}),
    }));
  app.get('/openapi.json', (_req, res) => {
    res.json(openapiDocument());
  });
  // The reference page is rendered here from the same document (src/http/docs-page.ts): no script,
  // nothing from another origin, so helmet's default CSP stays as strict as for the API.
  let docsPage: string | undefined;
  app.get(['/docs', '/docs/'], (_req, res) => {
    docsPage ??= renderDocsPage(openapiDocument());
    res.type('html').send(docsPage);
  });

  app.use(QUEUES_BASE_PATH, ...queuesBoard(deps.queues ?? [], deps.apiKeys, deps.audit, deps.authThrottle));
  for (const mount of deps.mounts ?? []) {
    app.use(mount.path, mount.handler);
  }

  rememberRoutes(app, deps.routes);
  app.use(
    buildRouter(deps.routes, {
      apiKeys: deps.apiKeys,
      audit: deps.audit,
      idempotency: deps.idempotency,
      jsonLimit: deps.jsonLimit ?? '256kb',
      authThrottle: deps.authThrottle,
    }),
  );

  const shapes = deps.routes.map((r) => ({ method: r.method, pattern: pathPattern(r.path) }));
  app.use(notFoundMiddleware(() => shapes));
  app.use(errorMiddleware());
  return app;
}
