import { scrubSecrets } from '../shared/logger.ts';
import { cutText } from '../shared/pg-text.ts';
import {
  JpmRejectedError,
  JpmUnavailableError,
  RETRYABLE_BANK_ERROR_CODES,
  RETRYABLE_HTTP_STATUSES,
  type JpmError,
  type JpmErrorContext,
} from './errors.ts';
import { isCertificateRefusalCode, isServerCertificateUntrustedCode } from './tls-probe.ts';
import { errorsEnvelopeSchema, gatewayFaultSchema } from './wire.schemas.ts';

/**
 * Status/body/transport failure → typed error. One place, so every endpoint classifies alike.
 * API-NOTES §11.7: an `errors[]` or gateway `fault` body is a failure whatever the HTTP status.
 */

/**
 * `Retry-After` as delta-seconds or an HTTP-date, in ms from `nowMs`; undefined when absent or unreadable. Seconds
 * written with a fraction (`30.0`, `120.5`, as a gateway holding every number as a double writes them) are those
 * seconds, never read as a date (`Date.parse` takes `120.5` for May of the year 120).
 */
export function parseRetryAfterMs(value: string | string[] | undefined, nowMs: number): number | undefined {
  const text = (Array.isArray(value) ? value[0] : value)?.trim();
  if (!text) {
    return undefined;
  }
  if (/^\d+(\.\d+)?$/.test(text)) {
    return Math.ceil(Number(text) * 1000);
  }
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs);
}

/** The bank's own explanation, scrubbed (it may quote an account number) and clipped. */
function bankText(text: string | undefined): string {
  return text ? `: ${cutText(scrubSecrets(text), 200)}` : '';
}

export interface BankFailure {
  errorCode?: string;
  errorMsg?: string;
  fault: boolean;
}

/** Reads J.P. Morgan's `{errors:[…]}` or a gateway `{fault:…}` out of a parsed body, if it is one. */
export function bankFailureOf(body: unknown): BankFailure | undefined {
  const errors = errorsEnvelopeSchema.safeParse(body);
  if (errors.success) {
    const first = errors.data.errors.find((e) => RETRYABLE_BANK_ERROR_CODES.has(e.errorCode)) ?? errors.data.errors[0]!;
    return { errorCode: first.errorCode, errorMsg: first.errorMsg, fault: false };
  }
  const fault = gatewayFaultSchema.safeParse(body);
  if (fault.success) {
    return { errorCode: fault.data.fault.detail?.errorcode, errorMsg: fault.data.fault.faultstring, fault: true };
  }
  return undefined;
}

/**
 * Maps a response that is not a clean 2xx JSON answer. `failure` is the parsed errors/fault body when
 * there was one. Order matters: rate limiting, then retryable bank codes and statuses (the allow-list),
 * then auth, then gateway faults, then everything else as permanent.
 */
export function classifyResponse(
  status: number,
  failure: BankFailure | undefined,
  retryAfter: number | undefined,
  ctx: JpmErrorContext,
): JpmError {
  const context: JpmErrorContext = {
    ...ctx,
    upstreamStatus: status,
    ...(failure?.errorCode ? { bankErrorCode: failure.errorCode } : {}),
  };
  const where = `${ctx.endpoint ?? 'call'} (HTTP ${status}${failure?.errorCode ? `, ${failure.errorCode}` : ''})`;
  const said = bankText(failure?.errorMsg);
  if (status === 429) {
    const after = retryAfter === undefined ? '' : `, retry after ${retryAfter} ms`;
    return new JpmUnavailableError(
      `J.P. Morgan rate-limited ${where}${after}`,
      'jpm_rate_limited',
      context,
      retryAfter,
    );
  }
  if (
    (failure?.errorCode !== undefined && RETRYABLE_BANK_ERROR_CODES.has(failure.errorCode)) ||
    RETRYABLE_HTTP_STATUSES.has(status)
  ) {
    const code = status === 408 || status === 504 ? 'jpm_timeout' : 'jpm_unavailable';
    return new JpmUnavailableError(`J.P. Morgan is unavailable for ${where}${said}`, code, context, retryAfter);
  }
  // These hosts authenticate by client certificate alone (no bearer token, API-NOTES §2.2): a 401 means
  // the certificate itself was not accepted (revoked, unknown), a 403 that it is not entitled.
  if (status === 401) {
    return new JpmRejectedError(
      `J.P. Morgan refused our client certificate for ${where}${said}`,
      'jpm_certificate_refused',
      context,
    );
  }
  if (status === 403) {
    return new JpmRejectedError(`J.P. Morgan refused access to ${where}${said}`, 'jpm_not_entitled', context);
  }
  if (failure?.fault) {
    return new JpmUnavailableError(
      `J.P. Morgan's gateway failed ${where}${said}`,
      'jpm_unavailable',
      context,
      retryAfter,
    );
  }
  if ((status >= 400 && status < 500) || failure !== undefined) {
    return new JpmRejectedError(`J.P. Morgan rejected ${where}${said}`, 'jpm_bad_request', context);
  }
  return new JpmRejectedError(
    `J.P. Morgan answered ${where} with an unexpected status`,
    'jpm_unexpected_status',
    context,
  );
}

const TIMEOUT_CODES = new Set([
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'ETIMEDOUT',
]);
const UNREACHABLE_CODES = new Set([
  'ENOTFOUND',
  'EAI_AGAIN',
  'ECONNREFUSED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
]);
const RESET_CODES = new Set([
  'UND_ERR_SOCKET',
  'ECONNRESET',
  'EPIPE',
  'ECONNABORTED',
  'UND_ERR_RES_CONTENT_LENGTH_MISMATCH',
]);

/** Error codes along the `cause` chain (undici wraps socket errors). */
export function errorCodes(err: unknown): string[] {
  const codes: string[] = [];
  for (
    let e: unknown = err, depth = 0;
    e !== null && e !== undefined && depth < 5;
    e = (e as { cause?: unknown }).cause, depth++
  ) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') {
      codes.push(code);
    }
    const name = (e as { name?: unknown }).name;
    if (name === 'TimeoutError' || name === 'AbortError') {
      codes.push(name);
    }
  }
  return codes;
}

/** undici's SocketError says how many response bytes had arrived on the connection; 0 = server said nothing. */
export function closedBeforeAnyResponse(err: unknown): boolean {
  const socket = (err as { socket?: { bytesRead?: unknown } } | null)?.socket;
  return (err as { code?: unknown } | null)?.code === 'UND_ERR_SOCKET' && socket?.bytesRead === 0;
}

/**
 * undici's SocketError on a connection that had answered before (it read bytes) when this request's answer had not
 * begun (`request` failed before any status line): a kept-alive connection the server (or a gateway) closed as the
 * request arrived. The request was never answered; a read sent again on another connection is the same read.
 */
export function closedKeptAliveConnection(err: unknown): boolean {
  const socket = (err as { socket?: { bytesRead?: unknown } } | null)?.socket;
  return (
    (err as { code?: unknown } | null)?.code === 'UND_ERR_SOCKET' &&
    typeof socket?.bytesRead === 'number' &&
    socket.bytesRead > 0
  );
}

/**
 * Maps a thrown transport error. Returns undefined for errors that are not transport failures
 * (programming errors): the caller rethrows those untouched. `timedOut` says whether our own
 * overall timeout signal fired (an abort otherwise came from the caller).
 */
export function classifyTransportError(err: unknown, ctx: JpmErrorContext, timedOut: boolean): JpmError | undefined {
  const codes = errorCodes(err);
  const has = (set: ReadonlySet<string>) => codes.find((c) => set.has(c));
  const context = (code: string | undefined): JpmErrorContext => ({
    ...ctx,
    cause: err,
    ...(code ? { transportCode: code } : {}),
  });
  const where = ctx.endpoint ?? 'call';
  const refusal = codes.find(isCertificateRefusalCode);
  if (refusal) {
    return new JpmRejectedError(
      `J.P. Morgan refused our client certificate for ${where} (${refusal})`,
      'jpm_certificate_refused',
      context(refusal),
    );
  }
  const untrusted = codes.find(isServerCertificateUntrustedCode);
  if (untrusted) {
    return new JpmRejectedError(
      `the J.P. Morgan server certificate could not be verified for ${where} (${untrusted})`,
      'jpm_tls_failed',
      context(untrusted),
    );
  }
  if (
    codes.includes('TimeoutError') ||
    has(TIMEOUT_CODES) ||
    (timedOut && codes.some((c) => c === 'AbortError' || c === 'UND_ERR_ABORTED'))
  ) {
    return new JpmUnavailableError(
      `J.P. Morgan did not answer ${where} in time`,
      'jpm_timeout',
      context(has(TIMEOUT_CODES) ?? 'TimeoutError'),
    );
  }
  if (codes.some((c) => c === 'AbortError' || c === 'UND_ERR_ABORTED')) {
    return new JpmUnavailableError(`the ${where} call was aborted`, 'jpm_aborted', context('AbortError'));
  }
  if (codes.some((c) => c === 'UND_ERR_CLOSED' || c === 'UND_ERR_DESTROYED')) {
    return new JpmUnavailableError(
      `the J.P. Morgan client closed during ${where}`,
      'jpm_client_closed',
      context(codes[0]),
    );
  }
  if (codes.includes('UND_ERR_RES_EXCEEDED_MAX_SIZE')) {
    return new JpmRejectedError(
      `J.P. Morgan's answer to ${where} exceeded the size limit`,
      'jpm_response_too_large',
      context('UND_ERR_RES_EXCEEDED_MAX_SIZE'),
    );
  }
  const unreachable = has(UNREACHABLE_CODES);
  if (unreachable) {
    return new JpmUnavailableError(
      `J.P. Morgan could not be reached for ${where} (${unreachable})`,
      'jpm_unreachable',
      context(unreachable),
    );
  }
  // Other system errors (EPROTO …), HTTP parser errors and TLS errors mid-stream: the path broke.
  const reset =
    has(RESET_CODES) ?? codes.find((c) => c.startsWith('HPE_') || c.startsWith('ERR_SSL_') || /^E[A-Z]+$/.test(c));
  if (reset) {
    return new JpmUnavailableError(
      `the connection to J.P. Morgan broke during ${where} (${reset})`,
      'jpm_unavailable',
      context(reset),
    );
  }
  return undefined;
}
