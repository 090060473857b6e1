import type { RequestHandler } from 'express';
import { httpRequestDurationSeconds, httpRequestsTotal, renderMetrics } from '../shared/metrics.ts';
import type { Logger } from '../shared/logger.ts';
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
}

async function runCheck(c: HealthCheck, log: Logger): Promise<[string, { status: 'ok' | 'unavailable'; durationMs: number }]> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      c.check(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${c.timeoutMs ?? 2_000} ms`)), c.timeoutMs ?? 2_000);
      }),
    ]);
    return [c.name, { status: 'ok', durationMs: Math.round(performance.now() - started) }];
  } catch (err) {
    // The reason goes to the log only: /readyz is unauthenticated and must not describe our network.
    log.warn({ err, check: c.name }, 'readiness check failed');
    return [c.name, { status: 'unavailable', durationMs: Math.round(performance.now() - started) }];
  } finally {
    clearTimeout(timer);
  }
}

export function readinessHandler(checks: readonly HealthCheck[], log: Logger): RequestHandler {
  return async (_req, res) => {
    const results = await Promise.all(checks.map((c) => runCheck(c, log)));
    const ready = results.every(([, r]) => r.status === 'ok');
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'not_ready', checks: Object.fromEntries(results) });
  };
}

export function metricsHandler(): RequestHandler {
  return async (_req, res) => {
    const { contentType, body } = await renderMetrics();
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
      const labels = { method: req.method, route: typeof template === 'string' ? template : 'unmatched', status: String(res.statusCode) };
      end(labels);
      httpRequestsTotal.inc(labels);
    });
    next();
  };
}
