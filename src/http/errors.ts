import { STATUS_CODES } from 'node:http';
import type { ErrorRequestHandler, Request, RequestHandler, Response } from 'express';
import { ZodError } from 'zod';
import { isAppError, isDatabaseSessionLost, ServicePausedError, type FieldError } from '../shared/errors.ts';
import { httpRequestsShedTotal } from '../shared/metrics.ts';
import { isRedisUnavailable } from '../shared/redis.ts';
import { findRequestContext } from './request-context.ts';
import { sendJson } from './respond.ts';

/**
 * RFC 9457 problem details. `type` is a URN per `code`, so clients can switch on either; `detail`
 * is safe to show (never a stack, SQL or secret); `errors` lists field problems of a 400.
 */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  requestId: string;
  errors?: FieldError[];
}

export function problemType(code: string): string {
  return `urn:jpm-sync:problem:${code}`;
}

const TITLES: Record<string, string> = {
  validation_failed: 'Request validation failed',
  malformed_json: 'Malformed JSON body',
  repeated_name: 'Repeated name in JSON body',
  payload_too_large: 'Request body too large',
  unsupported_media_type: 'Unsupported media type',
  unauthenticated: 'Authentication required',
  invalid_api_key: 'Invalid API key',
  forbidden: 'Permission denied',
  not_found: 'Resource not found',
  route_not_found: 'No such route',
  malformed_path: 'Malformed URL path',
  method_not_allowed: 'Method not allowed',
  idempotency_key_reused: 'Idempotency key reused with a different request',
  idempotency_request_in_progress: 'A request with this idempotency key is in progress',
  invalid_value: 'Invalid value',
  overloaded: 'Service overloaded',
  too_many_failed_authentications: 'Too many failed authentications',
  conflict: 'Conflict',
  internal_error: 'Internal server error',
};

function title(code: string, status: number): string {
  return TITLES[code] ?? STATUS_CODES[status] ?? 'Error';
}

export function buildProblem(
  status: number,
  code: string,
  detail: string,
  requestId: string,
  errors?: FieldError[],
): Problem {
  return {
    type: problemType(code),
    title: title(code, status),
    status,
    detail,
    code,
    requestId,
    ...(errors ? { errors } : {}),
  };
}

/** One field error per problem; an unknown key is reported at its own path ("body.colour: unknown field"). */
export function zodFieldErrors(err: ZodError): FieldError[] {
  return err.issues.flatMap((i) => {
    const base = i.path.map(String);
    if (i.code === 'unrecognized_keys') {
      return i.keys.map((k) => ({ path: [...base, k].join('.'), message: 'unknown field' }));
    }
    return [{ path: base.join('.') || '(root)', message: i.message }];
  });
}

/** Errors of body-parser and the router (http-errors): they carry a 4xx `status`, `type` and `expose`. */
interface HttpLibraryError {
  status: number;
  type?: string;
  expose?: boolean;
  message: string;
}

function isHttpLibraryError(err: unknown): err is HttpLibraryError {
  const e = err as Partial<HttpLibraryError> | null;
  return typeof e === 'object' && e !== null && typeof e.status === 'number' && e.status >= 400 && e.status < 500;
}

/** A Postgres error that reached us means validation missed a case; still a client mistake, never a 500. */
function postgresClientError(err: unknown): { status: number; code: string; detail: string } | undefined {
  const e = err as { code?: unknown; severity?: unknown } | null;
  if (typeof e !== 'object' || e === null || typeof e.code !== 'string' || typeof e.severity !== 'string') {
    return undefined;
  }
  if (e.code.startsWith('22')) {
    return { status: 400, code: 'invalid_value', detail: 'A value in the request is out of range or malformed.' };
  }
  if (e.code === '23505') {
    return { status: 409, code: 'conflict', detail: 'A resource with these unique values already exists.' };
  }
  if (e.code === '23503') {
    return { status: 422, code: 'invalid_reference', detail: 'The request refers to a resource that does not exist.' };
  }
  return undefined;
}

/**
 * Postgres takes no writes (SQLSTATE 25006: a primary demoted or set read-only, a connection that reached a standby
 * during a failover): the service is degraded, not broken, and the request was not the client's mistake. A 503 with
 * Retry-After; reads go on.
 */
export function isDatabaseReadOnly(err: unknown): boolean {
  const e = err as { code?: unknown; severity?: unknown } | null;
  return typeof e === 'object' && e !== null && e.code === '25006' && typeof e.severity === 'string';
}

/** Seconds a client is asked to wait after a 503 caused by load. */
export const OVERLOAD_RETRY_AFTER_SECONDS = 2;
/** A failover takes longer than a burst of load. */
const DB_READ_ONLY_RETRY_AFTER_SECONDS = 30;

/**
 * No Postgres connection became free within DB_POOL_WAIT_MS (pg-pool's own message): the process is
 * overloaded, not broken. A 503 with Retry-After tells the client to come back; a 500 would say we failed.
 */
export function isPoolExhausted(err: unknown): boolean {
  return err instanceof Error && /^timeout exceeded when trying to connect$/i.test(err.message);
}

const BODY_PARSER_CODES: Record<string, { code: string; detail: string }> = {
  'entity.parse.failed': { code: 'malformed_json', detail: 'The request body is not valid JSON.' },
  'entity.too.large': { code: 'payload_too_large', detail: 'The request body exceeds the size limit.' },
  'encoding.unsupported': { code: 'unsupported_media_type', detail: 'The request body encoding is not supported.' },
  'charset.unsupported': {
    code: 'unsupported_media_type',
    detail: 'The request body charset is not supported; send UTF-8 JSON.',
  },
};

/** Maps any thrown value to a problem, and says whether it deserves an error log (our fault). */
export function toProblem(err: unknown, requestId: string): { problem: Problem; internal: boolean } {
  if (isAppError(err)) {
    const fields = (err.details?.fields as FieldError[] | undefined) ?? undefined;
    const detail = err.expose ? err.message : 'An unexpected error occurred. Quote the request id when reporting it.';
    return {
      problem: buildProblem(
        err.httpStatus,
        err.code,
        detail,
        requestId,
        err.httpStatus === 400 && fields ? fields : undefined,
      ),
      // A paused part of the service was logged once by what paused it, not per request.
      internal: err.httpStatus >= 500 && !(err instanceof ServicePausedError),
    };
  }
  if (err instanceof ZodError) {
    return {
      problem: buildProblem(
        400,
        'validation_failed',
        'The request is invalid; see errors.',
        requestId,
        zodFieldErrors(err),
      ),
      internal: false,
    };
  }
  if (isPoolExhausted(err)) {
    return {
      problem: buildProblem(
        503,
        'overloaded',
        `The service is at capacity; retry after ${OVERLOAD_RETRY_AFTER_SECONDS} seconds.`,
        requestId,
      ),
      internal: false,
    };
  }
  if (isRedisUnavailable(err)) {
    // Redis (the queues, sessions) is away: a 503 to come back later, not a 500 (/readyz says so too).
    return {
      problem: buildProblem(
        503,
        'redis_unavailable',
        `The job queue store is unavailable; retry after ${OVERLOAD_RETRY_AFTER_SECONDS} seconds.`,
        requestId,
      ),
      internal: false,
    };
  }
  if (isDatabaseReadOnly(err)) {
    return {
      problem: buildProblem(
        503,
        'database_read_only',
        `The database takes no writes at the moment (read-only, as during a failover); nothing was changed. Retry after ${DB_READ_ONLY_RETRY_AFTER_SECONDS} seconds.`,
        requestId,
      ),
      internal: false,
    };
  }
  if (isDatabaseSessionLost(err)) {
    // A failover or restart ended the request's database session: a state of the service, not a bug. A write whose
    // session ended may or may not have committed; under an Idempotency-Key its answer commits with it and the key is
    // kept (src/http/idempotency.ts), so retrying with the same key is safe, and only a write sent without one must
    // be read back first.
    return {
      problem: buildProblem(
        503,
        'database_unavailable',
        `The database connection was lost (as during a failover or restart); retry after ${OVERLOAD_RETRY_AFTER_SECONDS} seconds. A write may or may not have been applied: retry it with the same Idempotency-Key, which answers with its result if it was applied and applies it once if not (409 idempotency_request_in_progress until that is known, at most 2 minutes); a write sent without an Idempotency-Key, read its result before retrying it.`,
        requestId,
      ),
      internal: false,
    };
  }
  const pgErr = postgresClientError(err);
  if (pgErr) {
    return { problem: buildProblem(pgErr.status, pgErr.code, pgErr.detail, requestId), internal: false };
  }
  if (isHttpLibraryError(err) && err.status === 400 && err instanceof URIError) {
    // The router could not percent-decode a path segment (`%E0%A4%A`, a lone `%`).
    return {
      problem: buildProblem(
        400,
        'malformed_path',
        'The URL path holds malformed percent-encoding (each % must start a complete UTF-8 escape such as %20); encode the path again.',
        requestId,
      ),
      internal: false,
    };
  }
  if (isHttpLibraryError(err)) {
    const known = err.type === undefined ? undefined : BODY_PARSER_CODES[err.type];
    const detail = known?.detail ?? (err.expose ? err.message : (STATUS_CODES[err.status] ?? 'Bad request'));
    return { problem: buildProblem(err.status, known?.code ?? 'bad_request', detail, requestId), internal: false };
  }
  return {
    problem: buildProblem(
      500,
      'internal_error',
      'An unexpected error occurred. Quote the request id when reporting it.',
      requestId,
    ),
    internal: true,
  };
}

/** An AppError may ask the client to come back later: `details.retryAfterSeconds` becomes `Retry-After`. */
function retryAfterOf(err: unknown): number | undefined {
  const value = isAppError(err) ? err.details?.retryAfterSeconds : undefined;
  return typeof value === 'number' && Number.isFinite(value) && value > 0 ? Math.ceil(value) : undefined;
}

/**
 * The single error middleware. Client mistakes are answered as 4xx problems and logged at debug;
 * our own failures become a generic 500 whose log line has the error type, code and message (the
 * logger never writes stacks) and the request id that the client sees.
 */
export function errorMiddleware(): ErrorRequestHandler {
  return async (err: unknown, req: Request, res: Response, _next) => {
    const ctx = findRequestContext(req);
    const requestId = ctx?.requestId ?? 'unknown';
    const { problem, internal } = toProblem(err, requestId);
    if (internal) {
      ctx?.log.error({ err, status: problem.status, route: ctx.route?.path }, 'request failed');
    } else if (problem.code === 'redis_unavailable') {
      ctx?.log.warn({ route: ctx.route?.path, err }, 'request failed: Redis unavailable');
    } else if (problem.code === 'database_unavailable') {
      ctx?.log.warn({ route: ctx.route?.path, err }, 'request failed: the database session was lost');
    } else if (problem.code === 'database_read_only') {
      ctx?.log.warn({ route: ctx.route?.path, err }, 'request failed: the database takes no writes (read-only)');
    } else if (problem.code === 'overloaded') {
      httpRequestsShedTotal.inc({ reason: 'db_pool' });
      ctx?.log.warn({ route: ctx.route?.path }, 'request shed: no database connection free in time');
    } else {
      ctx?.log.debug({ code: problem.code, status: problem.status }, 'request rejected');
    }
    if (problem.status === 401) {
      res.append(
        'WWW-Authenticate',
        problem.code === 'invalid_api_key'
          ? 'Bearer realm="jpm-sync", error="invalid_token"'
          : 'Bearer realm="jpm-sync"',
      );
    }
    if (res.headersSent) {
      return;
    }
    const retryAfter =
      problem.code === 'overloaded' || problem.code === 'redis_unavailable' || problem.code === 'database_unavailable'
        ? OVERLOAD_RETRY_AFTER_SECONDS
        : problem.code === 'database_read_only'
          ? DB_READ_ONLY_RETRY_AFTER_SECONDS
          : retryAfterOf(err);
    if (retryAfter !== undefined) {
      res.setHeader('Retry-After', String(retryAfter));
    }
    if (!ctx) {
      res.status(problem.status).type('application/problem+json').send(JSON.stringify(problem));
      return;
    }
    await sendJson(req, res, problem.status, problem);
  };
}

export interface RouteShape {
  method: string;
  pattern: RegExp;
}

/** 405 (with `Allow`) when the path exists under another method, else 404, both as problems. */
export function notFoundMiddleware(routes: () => readonly RouteShape[]): RequestHandler {
  return async (req, res) => {
    const ctx = findRequestContext(req);
    const requestId = ctx?.requestId ?? 'unknown';
    const allowed = [
      ...new Set(
        routes()
          .filter((r) => r.pattern.test(req.path))
          .map((r) => r.method.toUpperCase()),
      ),
    ];
    if (allowed.length > 0) {
      res.setHeader('Allow', allowed.includes('GET') ? [...allowed, 'HEAD'].join(', ') : allowed.join(', '));
      await sendJson(
        req,
        res,
        405,
        buildProblem(
          405,
          'method_not_allowed',
          `${req.method} is not allowed here; use ${allowed.join(' or ')}.`,
          requestId,
        ),
      );
      return;
    }
    await sendJson(
      req,
      res,
      404,
      buildProblem(
        404,
        'route_not_found',
        `No route matches ${req.method} on this path; see /openapi.json.`,
        requestId,
      ),
    );
  };
}
