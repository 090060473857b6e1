import { createHash, timingSafeEqual } from 'node:crypto';
import type { RequestHandler } from 'express';
import { httpRequestDurationSeconds, httpRequestsTotal, renderMetrics } from '../shared/metrics.ts';
import { ServicePausedError } from '../shared/errors.ts';
import type { Logger } from '../shared/logger.ts';
import type { AdmissionState } from './admission.ts';
import { presentedKey } from './auth.ts';
import { buildProblem } from './errors.ts';
import { findRequestContext } from './request-context.ts';

/**
 * A readiness check: resolves when the dependency can serve, throws (or times out) when not.
 * main/api.ts lists them (Postgres, Redis, and, once orchestration provides them, the queue workers).
 */
export interface HealthCheck {
  name: string;
  check(): Promise<void>;
  /** Longest wait before the check counts as failed (default 2 s). */
  timeoutMs?: number;
  /**
   * false: the process still serves everything without it (a read replica: the primary takes its reads), so
   * failing shows `unavailable` and the status `degraded`, still 200 (default true: 503 `not_ready`).
   */
  required?: boolean;
}

type CheckResult = { status: 'ok' | 'unavailable'; durationMs: number; reason?: string };

async function runCheck(c: HealthCheck, log: Logger): Promise<[string, CheckResult]> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      c.check(),
      new Promise((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`no answer within ${c.timeoutMs ?? 2_000} ms`)),
          c.timeoutMs ?? 2_000,
        );
      }),
    ]);
    return [c.name, { status: 'ok', durationMs: Math.round(performance.now() - started) }];
  } catch (err) {
    const durationMs = Math.round(performance.now() - started);
    if (err instanceof ServicePausedError) {
      // A part paused until an operator acts (its owner logged it once): its code, which describes no network.
      return [c.name, { status: 'unavailable', durationMs, reason: err.code }];
    }
    // The reason goes to the log only: /readyz is unauthenticated and must not describe our network.
    log.warn({ err, check: c.name }, 'readiness check failed');
    return [c.name, { status: 'unavailable', durationMs }];
  } finally {
    clearTimeout(timer);
  }
}

/**
 * `/readyz`: every check, plus `admission` (in-flight and queued requests). While the wait queue is
 * full the process is shedding requests: it answers 503 `saturated`, so a load balancer sends new
 * connections to another replica until it has drained (liveness, `/healthz`, stays 200).
 */
export function readinessHandler(
  checks: readonly HealthCheck[],
  log: Logger,
  admission?: () => AdmissionState,
): RequestHandler {
  return async (_req, res) => {
    const results = await Promise.all(checks.map((c) => runCheck(c, log)));
    const load = admission?.();
    const failed = (optional: boolean) =>
      results.some(([, r], i) => r.status !== 'ok' && (checks[i]?.required === false) === optional);
    const ready = !failed(false) && !load?.saturated;
    const status = !ready ? (failed(false) ? 'not_ready' : 'saturated') : failed(true) ? 'degraded' : 'ready';
    res.status(ready ? 200 : 503).json({
      status,
      checks: {
        ...Object.fromEntries(results),
        ...(load
          ? {
              admission: {
                status: load.saturated ? 'saturated' : 'ok',
                inFlight: load.inFlight,
                queued: load.queued,
                maxConcurrent: load.maxConcurrent,
                maxQueue: load.maxQueue,
              },
            }
          : {}),
      },
    });
  };
}

const digest = (s: string) => createHash('sha256').update(s).digest();

/**
 * `/metrics`. With a `token` (METRICS_TOKEN) it answers only `Authorization: Bearer <token>` (401
 * otherwise). Metrics whose labels identify integrations are served only when `withIdentifiers`
 * (the scrape is protected by the token or a separate listener).
 */
export function metricsHandler(
  options: { token?: string | undefined; withIdentifiers?: boolean } = {},
): RequestHandler {
  const expected = options.token === undefined ? undefined : digest(options.token);
  return async (req, res) => {
    if (expected) {
      const presented = presentedKey(req);
      if (presented === undefined || !timingSafeEqual(digest(presented), expected)) {
        const requestId = findRequestContext(req)?.requestId ?? 'unknown';
        res
          .status(401)
          .set('WWW-Authenticate', 'Bearer realm="jpm-sync metrics"')
          .type('application/problem+json')
          .send(
            JSON.stringify(
              buildProblem(
                401,
                'unauthenticated',
                'Send the metrics token: Authorization: Bearer <METRICS_TOKEN>',
                requestId,
              ),
            ),
          );
        return;
      }
    }
    const { contentType, body } = await renderMetrics({ withIdentifiers: options.withIdentifiers ?? false });
    res.setHeader('Content-Type', contentType);
    res.send(body);
  };
}

/** Counts and times every request, labelled by route template (bounded), never by concrete path. */
export function httpMetrics(): RequestHandler {
  return (req, res, next) => {
    const end = httpRequestDurationSeconds.startTimer();
    res.once('finish', () => {
      const template = findRequestContext(req)?.route?.path ?? (req.route as { path?: unknown } | undefined)?.path;
      const labels = {
        method: req.method,
        route: typeof template === 'string' ? template : 'unmatched',
        status: String(res.statusCode),
      };
      end(labels);
      httpRequestsTotal.inc(labels);
    });
    next();
  };
}
