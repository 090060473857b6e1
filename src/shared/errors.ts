/**
 * The error vocabulary of the whole service. Domain code throws these; `http/errors.ts` is the only
 * place that turns them into HTTP responses, and the scheduler reads `retryable` to decide on retries.
 * `expose` says whether `message` is safe to show a client (it never contains secrets either way).
 */
export interface AppErrorOptions {
  code: string;
  httpStatus?: number;
  retryable?: boolean;
  expose?: boolean;
  details?: Record<string, unknown>;
  cause?: unknown;
}

export class AppError extends Error {
  readonly code: string;
  readonly httpStatus: number;
  readonly retryable: boolean;
  readonly expose: boolean;
  readonly details: Record<string, unknown> | undefined;

  constructor(message: string, options: AppErrorOptions) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = options.code;
    this.httpStatus = options.httpStatus ?? 500;
    this.retryable = options.retryable ?? false;
    this.expose = options.expose ?? this.httpStatus < 500;
    this.details = options.details;
  }
}

export class NotFoundError extends AppError {
  constructor(what: string, id: string | number, code = 'not_found') {
    super(`${what} ${id} was not found`, { code, httpStatus: 404, details: { resource: what, id } });
  }
}

export class ConflictError extends AppError {
  constructor(message: string, code = 'conflict', details?: Record<string, unknown>) {
    super(message, { code, httpStatus: 409, details });
  }
}

export interface FieldError {
  path: string;
  message: string;
}

export class ValidationError extends AppError {
  readonly fields: readonly FieldError[];
  constructor(message: string, fields: readonly FieldError[] = [], code = 'validation_failed') {
    super(message, { code, httpStatus: 400, details: { fields } });
    this.fields = fields;
  }
}

/** The bank (or a dependency) is unavailable for now: try again later. */
export class UpstreamUnavailableError extends AppError {
  constructor(message: string, code: string, options: Partial<AppErrorOptions> = {}) {
    super(message, { ...options, code, httpStatus: options.httpStatus ?? 503, retryable: true, expose: true });
  }
}

/** The bank said no in a way that retrying will not change (auth, entitlement, malformed request). */
export class UpstreamRejectedError extends AppError {
  constructor(message: string, code: string, options: Partial<AppErrorOptions> = {}) {
    super(message, { ...options, code, httpStatus: options.httpStatus ?? 502, retryable: false, expose: true });
  }
}

/**
 * A part of the service is paused until an operator acts (503 with the code and the fix in the message, and
 * `Retry-After`). Whoever pauses it logs that once; the requests it refuses are not logged as failures.
 */
export class ServicePausedError extends AppError {
  constructor(message: string, code: string, retryAfterSeconds: number) {
    super(message, { code, httpStatus: 503, retryable: true, expose: true, details: { retryAfterSeconds } });
  }
}

export function isAppError(err: unknown): err is AppError {
  return err instanceof AppError;
}

/** A message that is safe to store or log for any thrown value (never a stack). */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) {
    return err.message;
  }
  return String(err);
}

/** Socket error codes of a connection that went away (a restart, a network cut), not of a command or a file. */
export const NETWORK_ERROR_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
]);

/**
 * The error says the database session ended or could not be had (57P01 admin shutdown or pg_terminate_backend,
 * 57P02/57P03 crash or not accepting connections, any FATAL, a connection exception 08xxx) or its socket failed
 * (ECONNRESET, ECONNREFUSED …): the connection is dead, as during a failover or a restart, whatever the statement was.
 */
export function isDatabaseSessionLost(err: unknown): boolean {
  if (!(err instanceof Error)) {
    return false;
  }
  const e = err as Error & { code?: unknown; severity?: unknown };
  const code = typeof e.code === 'string' ? e.code : '';
  return (
    code.startsWith('57P') ||
    code.startsWith('08') ||
    /^E[A-Z]+$/.test(code) ||
    e.severity === 'FATAL' ||
    /connection terminated|not queryable/i.test(err.message)
  );
}
