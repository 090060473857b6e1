import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { createLogger } from './logger.ts';

/**
 * The process's Prometheus registry, served at `/metrics` by the api role. Every module may import
 * the metrics below and update them (`syncRunsTotal.inc({ outcome: 'succeeded' })`). To add a
 * metric, define it here with `registers: [metricsRegistry]` so names stay in one list; keep label
 * values bounded (outcome, endpoint, class, queue: never ids, except `integration` for certificates, which
 * is in IDENTIFYING_METRICS and so only served on a protected scrape).
 *
 * Gauges whose value lives elsewhere (queue depth in Redis, overdue integrations in Postgres) are
 * refreshed at scrape time: register a hook with `onScrape(async () => gauge.set(...))`.
 */
export const metricsRegistry = new Registry();

const registers = [metricsRegistry];
const DURATION_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900];

export const syncRunsTotal = new Counter({
  name: 'jpm_sync_runs_total',
  help: 'Finished sync runs by outcome',
  labelNames: ['outcome'] as const,
  registers,
});
export const syncRunDurationSeconds = new Histogram({
  name: 'jpm_sync_run_duration_seconds',
  help: 'Sync run duration by outcome',
  labelNames: ['outcome'] as const,
  buckets: DURATION_BUCKETS,
  registers,
});
/** What finished run trees did with the bank's records, counted once per run when it is finalized. */
export const syncRecordsTotal = new Counter({
  name: 'jpm_sync_records_total',
  help: 'Records handled by sync runs by outcome (inserted, updated, unchanged, rejected, ...)',
  labelNames: ['outcome'] as const,
  registers,
});
export const bankCallDurationSeconds = new Histogram({
  name: 'jpm_bank_call_duration_seconds',
  help: 'J.P. Morgan API call latency by endpoint and outcome',
  labelNames: ['endpoint', 'outcome'] as const,
  buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60],
  registers,
});
export const bankErrorsTotal = new Counter({
  name: 'jpm_bank_errors_total',
  help: 'J.P. Morgan API errors by class (timeout, rate_limited, server, auth, schema, ...)',
  labelNames: ['class'] as const,
  registers,
});
/** Set at scrape time from Redis (scheduler/queue-metrics.ts). */
export const queueDepth = new Gauge({
  name: 'jpm_queue_depth',
  help: 'Jobs per queue and state (wait, active, delayed, failed), read from Redis at scrape time',
  labelNames: ['queue', 'state'] as const,
  registers,
});
export const certificateDaysToExpiry = new Gauge({
  name: 'jpm_certificate_days_to_expiry',
  help: 'Days until the active client certificate of an integration expires',
  labelNames: ['integration'] as const,
  registers,
});
/** The same without ids, for scrapes that are not protected (see IDENTIFYING_METRICS). */
export const certificateDaysToExpiryMin = new Gauge({
  name: 'jpm_certificate_days_to_expiry_min',
  help: 'Fewest days until an active client certificate of any integration expires',
  registers,
});

/**
 * Metrics whose labels identify customers' integrations. They are served only where /metrics is
 * protected (METRICS_TOKEN or a separate METRICS_LISTEN address); an open /metrics leaves them out.
 */
export const IDENTIFYING_METRICS: readonly string[] = ['jpm_certificate_days_to_expiry'];
export const integrationsOverdue = new Gauge({
  name: 'jpm_integrations_overdue',
  help: 'Integrations past an onboarding due date',
  registers,
});
export const accountDays = new Gauge({
  name: 'jpm_account_days',
  help: 'Account-days by balance-proof state (proved, broken, unproved)',
  labelNames: ['state'] as const,
  registers,
});
export const searchIndexLagEvents = new Gauge({
  name: 'jpm_search_index_lag_events',
  help: 'Transaction changes the text-search step has not applied yet (counted up to 100,000)',
  registers,
});
export const searchIndexLagSeconds = new Gauge({
  name: 'jpm_search_index_lag_seconds',
  help: 'Age of the oldest transaction change the text-search step has not applied yet',
  registers,
});
export const searchIndexYielding = new Gauge({
  name: 'jpm_search_index_yielding',
  help: '1 while the text-search step yields to busy ingestion (changes waiting, lag under SEARCH_INDEX_MAX_LAG_SECONDS), else 0',
  registers,
});

export const httpRequestsTotal = new Counter({
  name: 'jpm_http_requests_total',
  help: 'HTTP requests by method, route template and status',
  labelNames: ['method', 'route', 'status'] as const,
  registers,
});
export const httpRequestDurationSeconds = new Histogram({
  name: 'jpm_http_request_duration_seconds',
  help: 'HTTP request duration by method, route template and status',
  labelNames: ['method', 'route', 'status'] as const,
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
  registers,
});

export const httpRequestsShedTotal = new Counter({
  name: 'jpm_http_requests_shed_total',
  help: 'Requests answered 503 overloaded, by reason (queue_full, queue_timeout, db_pool)',
  labelNames: ['reason'] as const,
  registers,
});
export const authFailuresTotal = new Counter({
  name: 'jpm_auth_failures_total',
  help: 'Failed API key authentications by outcome (rejected = 401, throttled = 429)',
  labelNames: ['outcome'] as const,
  registers,
});
export const apiKeyLookupsTotal = new Counter({
  name: 'jpm_api_key_lookups_total',
  help: 'API key rows found for authentication, by source (cache, database)',
  labelNames: ['source'] as const,
  registers,
});
export const readDbRequestsTotal = new Counter({
  name: 'jpm_read_db_requests_total',
  help: 'Read API requests by the database that served them (primary, replica) and why (no_replica, caught_up, replica_behind, replica_unavailable, replica_error, replica_refused)',
  labelNames: ['db', 'reason'] as const,
  registers,
});
export const apiKeyCacheListening = new Gauge({
  name: 'jpm_api_key_cache_listening',
  help: '1 while the API key cache is proven to receive key changes (its probe through the pool heard, the notifying triggers enabled) and is used, 0 while every request reads the key from Postgres',
  registers,
});

type ScrapeHook = () => Promise<void>;
const scrapeHooks: ScrapeHook[] = [];

/** Runs `hook` before every scrape (refresh gauges from Redis/Postgres). Returns an unregister function. */
export function onScrape(hook: ScrapeHook): () => void {
  scrapeHooks.push(hook);
  return () => {
    const i = scrapeHooks.indexOf(hook);
    if (i >= 0) {
      scrapeHooks.splice(i, 1);
    }
  };
}

let defaultsEnabled = false;

/** Process metrics (CPU, memory, event loop lag) once per process. */
export function enableDefaultMetrics(): void {
  if (!defaultsEnabled) {
    defaultsEnabled = true;
    collectDefaultMetrics({ register: metricsRegistry, prefix: 'jpm_' });
  }
}

function withoutIdentifyingMetrics(text: string): string {
  const names = new Set(IDENTIFYING_METRICS);
  return text
    .split('\n')
    .filter((line) => {
      const name = line.startsWith('# ') ? line.split(' ')[2] : /^[A-Za-z_:][A-Za-z0-9_:]*/.exec(line)?.[0];
      return name === undefined || !names.has(name);
    })
    .join('\n');
}

/**
 * The exposition text. A failing hook is logged and its gauge keeps its last value; the scrape still
 * answers. `withIdentifiers: false` (the default) leaves out IDENTIFYING_METRICS.
 */
export async function renderMetrics(
  options: { withIdentifiers?: boolean } = {},
): Promise<{ contentType: string; body: string }> {
  const log = createLogger('main');
  await Promise.all(
    scrapeHooks.map(async (hook) => {
      try {
        await hook();
      } catch (err) {
        log.warn({ err }, 'metrics scrape hook failed');
      }
    }),
  );
  const body = await metricsRegistry.metrics();
  return {
    contentType: metricsRegistry.contentType,
    body: options.withIdentifiers ? body : withoutIdentifyingMetrics(body),
  };
}
