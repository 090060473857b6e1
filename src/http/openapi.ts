import { OpenAPIRegistry, OpenApiGeneratorV31, type RouteConfig } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import type { Route } from './routes.ts';

/**
 * The OpenAPI 3.1 document, built from the same route registry (and zod schemas) that builds the
 * router, so the docs cannot drift from what is served. Served at /openapi.json, browsable at /docs.
 */
export const ProblemSchema = z
  .object({
    type: z.string().meta({ example: 'urn:jpm-sync:problem:validation_failed' }),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    code: z.string().meta({ description: 'Stable machine-readable error code' }),
    requestId: z.string().meta({ description: 'Also in the X-Request-Id header; quote it when reporting a problem' }),
    errors: z
      .array(z.object({ path: z.string(), message: z.string() }))
      .optional()
      .meta({
        description:
          'Field errors of a 400. Each path starts with the request part the field is in (`params.`, `query.`, `body.`, `headers.`), e.g. `body.from`',
      }),
  })
  .meta({ id: 'Problem', description: 'RFC 9457 problem details' });

const ERROR_DESCRIPTIONS: Record<number, string> = {
  400: 'Invalid request (field errors in `errors`), malformed JSON or invalid cursor',
  401: 'Missing, malformed, unknown or revoked API key',
  403: "The key's role lacks the permission for this route",
  404: 'Not found, or it belongs to another organization than the key',
  409: 'Conflict, or a request with this Idempotency-Key is still in progress',
  413: 'Request body larger than the limit',
  415: 'Request body is not application/json',
  422: 'Idempotency-Key reused with a different request',
  429: 'Too many failed authentications from this address or for this key prefix; retry after `Retry-After` seconds',
  500: 'Unexpected error (quote the request id)',
  503: 'Overloaded (`overloaded`, retry after `Retry-After` seconds) or a dependency is unavailable',
};

/**
 * The document's global tags, in the order the docs show them. A route tag missing here still gets
 * an entry (with a generic description), so the document never uses an undeclared tag.
 */
export const TAG_DESCRIPTIONS: Readonly<Record<string, string>> = {
  Organizations: 'Customers (tenants). Keys scoped to one organization see only it.',
  Integrations: "An organization's connection to J.P. Morgan Access and its onboarding stage.",
  'Integration onboarding': 'The onboarding facts, security administrators and stage history of an integration.',
  'Integration credentials': 'Key pairs and CSRs, installed client certificates, environment and the connection test.',
  'Integration contacts':
    "The customer's people and our account manager, told about milestones by email, and the log of those emails.",
  'Customer review':
    "The customer's review of their data (complete and accurate, or something is wrong) and whether going live waits for it.",
  Accounts: 'Bank accounts discovered from J.P. Morgan and their sync settings.',
  Syncs: 'Sync runs: trigger, replay, list and cancel.',
  Validation: 'Balance proofs, coverage and validation reports.',
  Events: 'Onboarding and certificate milestone events.',
  Transactions: 'Normalized transactions for downstream services (read API).',
  Balances: 'Daily and current-day balances (read API).',
  'Change feed': 'Ordered, resumable feed of transaction changes (read API).',
  Webhooks: 'Signed webhook endpoints, deliveries and replays.',
  'API keys': 'API keys and their roles and organization scope.',
  Audit: 'The audit log of every mutating call.',
  Operations: 'Liveness, readiness and metrics for operators and orchestrators.',
};

function errorStatuses(route: Route): number[] {
  const statuses = new Set([400, 401, 403, 429, 500, 503, ...route.errors]);
  if (route.request.params) {
    statuses.add(404);
  }
  if (route.request.body || route.rawBody) {
    statuses.add(413).add(415);
  }
  if (route.idempotent) {
    statuses.add(409).add(422);
  }
  return [...statuses].sort((a, b) => a - b);
}

export function operationId(route: Pick<Route, 'method' | 'path'>): string {
  return `${route.method}${route.path.replace(/[{}]/g, '').replace(/[^A-Za-z0-9]+(.)?/g, (_m, c: string | undefined) => (c ?? '').toUpperCase())}`;
}

function pathConfig(route: Route): RouteConfig {
  const responses: RouteConfig['responses'] = {
    [route.response.status]: {
      description: route.response.description,
      content: { [route.response.mediaType]: { schema: route.response.schema } },
    },
  };
  for (const status of errorStatuses(route)) {
    responses[status] = {
      description: ERROR_DESCRIPTIONS[status] ?? 'Error',
      content: { 'application/problem+json': { schema: ProblemSchema } },
    };
  }
  return {
    method: route.method,
    path: route.path,
    operationId: operationId(route),
    summary: route.summary,
    description: [route.description, `Requires permission \`${route.permission}\`.`].filter(Boolean).join('\n\n'),
    tags: route.tags,
    ...(route.deprecated ? { deprecated: true } : {}),
    security: [{ bearerAuth: [] }],
    request: {
      ...(route.request.params ? { params: route.request.params } : {}),
      ...(route.request.query ? { query: route.request.query } : {}),
      ...(route.request.body
        ? { body: { required: true, content: { 'application/json': { schema: route.request.body } } } }
        : {}),
      ...(route.rawBody
        ? {
            body: {
              required: true,
              description: route.rawBody.description,
              content: Object.fromEntries(route.rawBody.mediaTypes.map((m) => [m, { schema: z.string() }])),
            },
          }
        : {}),
      ...(route.idempotent
        ? {
            headers: z.object({
              'Idempotency-Key': z.string().min(1).max(255).optional().meta({
                description: 'Makes a retry safe: the same key and body within 24 h replays the first response',
              }),
            }),
          }
        : {}),
    },
    responses,
  };
}

const OPS_PATHS: RouteConfig[] = [
  {
    method: 'get',
    path: '/healthz',
    operationId: 'getHealthz',
    summary: 'Liveness',
    tags: ['Operations'],
    security: [],
    description: 'Answers 200 while the process runs, even under load (not subject to admission control).',
    responses: {
      200: {
        description: 'The process is alive',
        content: { 'application/json': { schema: z.object({ status: z.literal('ok') }) } },
      },
    },
  },
  {
    method: 'get',
    path: '/readyz',
    operationId: 'getReadyz',
    summary: 'Readiness (Postgres, Redis, queue workers, load)',
    tags: ['Operations'],
    security: [],
    description:
      'Runs every dependency check; `checks.admission` reports requests in flight and waiting. 503 when a dependency is down (`not_ready`) or while the process is shedding load (`saturated`); 200 `degraded` when only an optional dependency is down (the read replica: the primary serves its reads; `change-feed-database` with `reason: feed_database_changed`: the database changed under the running service, the feeds answer 503 until an operator runs `jpm-sync change-feed reset --yes` or `confirm --yes`).',
    responses: {
      200: {
        description: 'Ready',
        content: {
          'application/json': {
            schema: z.object({ status: z.string(), checks: z.record(z.string(), z.object({ status: z.string() })) }),
          },
        },
      },
      503: { description: 'Not ready; per-check status in `checks`' },
    },
  },
  {
    method: 'get',
    path: '/metrics',
    operationId: 'getMetrics',
    summary: 'Prometheus metrics',
    tags: ['Operations'],
    security: [],
    description:
      'Open unless METRICS_TOKEN is set (then `Authorization: Bearer <token>`); not served here when METRICS_LISTEN moves it to its own address. Metrics labelled with integration ids appear only on a protected scrape.',
    responses: {
      200: { description: 'Prometheus text exposition format', content: { 'text/plain': { schema: z.string() } } },
      401: {
        description: 'METRICS_TOKEN is set and the request does not carry it',
        content: { 'application/problem+json': { schema: ProblemSchema } },
      },
    },
  },
];

export interface OpenApiInfo {
  title: string;
  version: string;
  description?: string;
  serverUrl?: string;
}

export function buildOpenApiDocument(
  routes: readonly Route[],
  info: OpenApiInfo,
): ReturnType<OpenApiGeneratorV31['generateDocument']> {
  const registry = new OpenAPIRegistry();
  registry.registerComponent('securitySchemes', 'bearerAuth', {
    type: 'http',
    scheme: 'bearer',
    description:
      'An API key: `jpms_<prefix>_<secret>`. Create the first one with `jpm-sync apikey create --name NAME --role admin`.',
  });
  for (const route of routes) {
    registry.registerPath(pathConfig(route));
  }
  for (const ops of OPS_PATHS) {
    registry.registerPath(ops);
  }
  const used = [...new Set([...routes.flatMap((r) => r.tags), ...OPS_PATHS.flatMap((o) => o.tags ?? [])])];
  const ordered = [
    ...Object.keys(TAG_DESCRIPTIONS).filter((t) => used.includes(t)),
    ...used.filter((t) => !(t in TAG_DESCRIPTIONS)),
  ];
  return new OpenApiGeneratorV31(registry.definitions).generateDocument({
    openapi: '3.1.0',
    info: {
      title: info.title,
      version: info.version,
      contact: { name: 'jpm-sync operators' },
      ...(info.description ? { description: info.description } : {}),
    },
    tags: ordered.map((name) => ({ name, description: TAG_DESCRIPTIONS[name] ?? `${name} operations.` })),
    servers: [{ url: info.serverUrl ?? '/' }],
    security: [{ bearerAuth: [] }],
  });
}
