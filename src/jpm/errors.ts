import { UpstreamRejectedError, UpstreamUnavailableError } from '../shared/errors.ts';

/**
 * Typed J.P. Morgan failures. The client never retries (STYLE §6/§7: BullMQ owns retries); it only
 * sorts each failure into *retryable* (`JpmUnavailableError`: try again later, honouring
 * `retryAfterMs`) or *permanent* (`JpmRejectedError`: retrying will not help; a person must fix a
 * certificate, an entitlement or our request). Messages carry the endpoint path and status, never a
 * query string, PEM, key or full account number.
 */

/**
 * HTTP statuses worth retrying — the ONE allow-list. 408/504 are timeouts, 425 "too early", 429 rate
 * limiting, 500/502/503 outages. Every other status is permanent (501 and 505 included).
 */
export const RETRYABLE_HTTP_STATUSES: ReadonlySet<number> = new Set([408, 425, 429, 500, 502, 503, 504]);

/** J.P. Morgan `errorCode`s that mean "try later" whatever the HTTP status (GCA-099 System is Unavailable). */
export const RETRYABLE_BANK_ERROR_CODES: ReadonlySet<string> = new Set(['GCA-099']);

export const JPM_RETRYABLE_CODES = [
  'jpm_rate_limited', // 429; see retryAfterMs
  'jpm_unavailable', // 5xx, GCA-099, gateway fault, connection reset mid-response
  'jpm_timeout', // connect/headers/body/overall timeout, 408, 504
  'jpm_unreachable', // DNS failure, connection refused, no route
  'jpm_malformed_response', // a body that is not JSON (typically truncated), or a 200 holding nothing ({}, [], null)
  'jpm_unstable_pages', // v3 page walk restarted too often because the data set kept changing
  'jpm_aborted', // the caller's signal fired (shutdown)
  'jpm_client_closed', // the client was closed while the call was pending
] as const;

export const JPM_PERMANENT_CODES = [
  'jpm_certificate_refused', // the bank refused our client certificate (TLS handshake, or HTTP 401)
  'jpm_tls_failed', // we could not verify the bank's server certificate (wrong CA bundle, hostname)
  'jpm_credential_invalid', // our key/cert/CA PEM is unusable (bad PEM, key does not match cert)
  'jpm_not_entitled', // 403: the certificate is not entitled to this API or these accounts
  'jpm_bad_request', // other 4xx, or J.P. Morgan's errors envelope with a non-retryable code
  'jpm_unexpected_status', // a status outside 2xx/4xx that is not in the retry allow-list (501, 3xx …)
  'jpm_schema_violation', // valid JSON whose envelope does not match the wire schema
  'jpm_response_too_large', // the body exceeded the client's size cap
  'jpm_address_not_allowed', // the base URL's host is (or resolves to) an address the outbound policy forbids
] as const;

export type JpmRetryableCode = (typeof JPM_RETRYABLE_CODES)[number];
export type JpmPermanentCode = (typeof JPM_PERMANENT_CODES)[number];

export interface JpmErrorContext {
  /** Our `x-request-id` for the call (absent when the failure happened before a request was sent). */
  requestId?: string;
  /** The bank's HTTP status, when a response arrived. `httpStatus` (AppError) is OUR status (502/503). */
  upstreamStatus?: number;
  /** The bank's `errorCode` (e.g. GCA-099) or gateway fault code, when the body had one. */
  bankErrorCode?: string;
  /** Low-level error code (ECONNRESET, ERR_SSL_…) for transport failures. */
  transportCode?: string;
  /** `METHOD /path` of the call (never the query string: it holds account numbers). */
  endpoint?: string;
  /** Id of the credential the call used (a rotation label, not a secret). */
  credentialId?: string;
  cause?: unknown;
}

function details(context: JpmErrorContext, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const out: Record<string, unknown> = { ...extra };
  for (const key of [
    'requestId',
    'upstreamStatus',
    'bankErrorCode',
    'transportCode',
    'endpoint',
    'credentialId',
  ] as const) {
    if (context[key] !== undefined) {
      out[key] = context[key];
    }
  }
  return out;
}

/** Retryable: the bank (or the path to it) is unavailable for now. */
export class JpmUnavailableError extends UpstreamUnavailableError {
  declare readonly code: JpmRetryableCode;
  readonly requestId: string | undefined;
  readonly upstreamStatus: number | undefined;
  readonly bankErrorCode: string | undefined;
  /** From `Retry-After` (429/503); the scheduler rate-limits the bank queue by it. */
  readonly retryAfterMs: number | undefined;

  constructor(message: string, code: JpmRetryableCode, context: JpmErrorContext = {}, retryAfterMs?: number) {
    super(message, code, {
      details: details(context, retryAfterMs === undefined ? {} : { retryAfterMs }),
      cause: context.cause,
    });
    this.requestId = context.requestId;
    this.upstreamStatus = context.upstreamStatus;
    this.bankErrorCode = context.bankErrorCode;
    this.retryAfterMs = retryAfterMs;
  }
}

/** Permanent: retrying will not change the answer. */
export class JpmRejectedError extends UpstreamRejectedError {
  declare readonly code: JpmPermanentCode;
  readonly requestId: string | undefined;
  readonly upstreamStatus: number | undefined;
  readonly bankErrorCode: string | undefined;

  constructor(message: string, code: JpmPermanentCode, context: JpmErrorContext = {}) {
    super(message, code, { details: details(context), cause: context.cause });
    this.requestId = context.requestId;
    this.upstreamStatus = context.upstreamStatus;
    this.bankErrorCode = context.bankErrorCode;
  }
}

export type JpmError = JpmUnavailableError | JpmRejectedError;

export function isJpmError(err: unknown): err is JpmError {
  return err instanceof JpmUnavailableError || err instanceof JpmRejectedError;
}
