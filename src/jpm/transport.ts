import { randomUUID } from 'node:crypto';
import { brotliDecompressSync, gunzipSync, inflateRawSync, inflateSync } from 'node:zlib';
import { parse as parseContentType } from 'content-type';
import { request, type Dispatcher } from 'undici';
import { parseJsonLossless, RepeatedNameError, type RawControlString } from '../shared/json.ts';
import { createLogger } from '../shared/logger.ts';
import { bankCallDurationSeconds, bankErrorsTotal } from '../shared/metrics.ts';
import { CredentialAgents, type ActiveAgent, type CredentialSource } from './credential-agents.ts';
import { isJpmError, JpmRejectedError, JpmUnavailableError, type JpmErrorContext } from './errors.ts';
import {
  bankFailureOf,
  classifyResponse,
  classifyTransportError,
  closedBeforeAnyResponse,
  closedKeptAliveConnection,
  parseRetryAfterMs,
} from './http-errors.ts';
import { probeTls } from './tls-probe.ts';
import { isAddressRefusal, type OutboundPolicy } from '../shared/outbound-policy.ts';

/**
 * One HTTP exchange with J.P. Morgan: credential → per-credential Agent → request with an
 * `x-request-id` (UUID) and an overall `AbortSignal` timeout → lossless JSON → typed error. No retries
 * (BullMQ owns them), but for a call sent on a kept-alive connection the server closed as it arrived
 * (`#sendAgainOnClosedConnection`). Bodies are parsed with `parseJsonLossless`, so numbers stay exact text.
 */

export interface JpmTimeouts {
  /** TCP + TLS handshake. */
  connectMs: number;
  /** From request sent to response headers. */
  headersMs: number;
  /** Longest silence between body chunks. */
  bodyMs: number;
  /** The whole call, body included (`AbortSignal.timeout`). */
  requestMs: number;
  /** How long an idle keep-alive connection is kept for reuse. */
  keepAliveMs: number;
}

export type JpmEndpoint = 'balance' | 'transactions_v3';

/** One finished call, for metrics and tests. `outcome` is `ok` or the error code. */
export interface JpmCallEvent {
  endpoint: JpmEndpoint;
  requestId: string;
  credentialId: string | undefined;
  status: number | undefined;
  outcome: string;
  durationMs: number;
}

export interface JpmTransportOptions {
  baseUrl: string;
  credentials: CredentialSource;
  timeouts: JpmTimeouts;
  connections: number;
  maxResponseBytes: number;
  /** See `tls-probe.ts`: how long a probe connection must survive to count as accepted. */
  refusalProbeMs: number;
  /** The outbound address policy every connection (and the TLS probe) goes through; absent = none. */
  outbound?: OutboundPolicy | undefined;
  onCall?: (event: JpmCallEvent) => void;
}

export interface CallSpec {
  endpoint: JpmEndpoint;
  method: 'GET' | 'POST';
  path: string;
  query?: readonly (readonly [string, string])[];
  body?: unknown;
  signal?: AbortSignal;
}

export interface CallResult {
  body: unknown;
  status: number;
  requestId: string;
  credentialId: string;
  /**
   * The strings of the answer that held control characters raw (a literal TAB or line feed in a narrative), read as
   * those characters: the record they sit in carries a data-quality note (`records.ts`). Usually empty.
   */
  rawControls: RawControlString[];
}

const log = createLogger('jpm');

/**
 * Failures of a call that never reached the bank's application, on a connection the bank closed before answering
 * anything while it takes our certificate: a kept-alive connection closed as the call arrived
 * (`closedKeptAliveConnection`), or a new one closed right after its handshake when a full handshake is accepted
 * (a resumed TLS session the bank will not take; undici forgets that session with the failed connection). The call,
 * a read, may be sent again on another connection (`#sendAgainOnClosedConnection`).
 */
const closedUnanswered = new WeakSet<object>();

/** Commas stay literal in `accountIds=a,b` as in J.P. Morgan's own samples; everything else is encoded. */
function queryString(query: CallSpec['query']): string {
  if (!query || query.length === 0) {
    return '';
  }
  return `?${query.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v).replace(/%2C/gi, ',')}`).join('&')}`;
}

/**
 * The content codings of a response (`content-encoding`), in the order the server applied them, `identity` left
 * out. We name no `accept-encoding`, which by HTTP's rules lets a server (or a proxy on the way) choose any coding.
 */
function contentCodings(header: string | string[] | undefined): string[] {
  return (Array.isArray(header) ? header.join(',') : (header ?? ''))
    .split(',')
    .map((c) => c.trim().toLowerCase())
    .filter((c) => c !== '' && c !== 'identity');
}

/** "deflate" is zlib-wrapped by the standard; some servers send the raw stream. */
function inflateEither(bytes: Buffer, options: { maxOutputLength: number }): Buffer {
  try {
    return inflateSync(bytes, options);
  } catch (err) {
    if ((err as { code?: unknown }).code === 'ERR_BUFFER_TOO_LARGE') {
      throw err;
    }
    return inflateRawSync(bytes, options);
  }
}

/** Charsets whose bytes are the body as undici reads it by default (UTF-8, of which ASCII is a part). */
const UTF8_LABELS = new Set(['utf-8', 'utf8', 'unicode-1-1-utf-8', 'us-ascii', 'ascii']);
/** ISO-8859-1 proper: one character per byte, U+0000 to U+00FF (TextDecoder would read these labels as windows-1252). */
const LATIN1_LABELS = new Set(['iso-8859-1', 'iso8859-1', 'iso_8859-1', 'latin1', 'l1', 'cp819', 'ibm819']);

/**
 * The character set a response declares (`content-type: application/json; charset=…`), lower case, when it is
 * another than UTF-8. JSON is UTF-8 by its RFC, but a gateway that re-encodes an answer says so here; reading its
 * bytes as UTF-8 would turn every character beyond ASCII into U+FFFD, stored as if the bank had sent it.
 */
function declaredCharset(header: string | string[] | undefined): string | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  if (value === undefined) {
    return undefined;
  }
  let charset: string | undefined;
  try {
    charset = parseContentType(value).parameters.charset?.toLowerCase();
  } catch {
    return undefined;
  }
  return charset === undefined || UTF8_LABELS.has(charset) ? undefined : charset;
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });
const UTF8_LENIENT = new TextDecoder('utf-8');

/**
 * A body that declares no other charset, as UTF-8 without a BOM. In an answer (2xx), bytes that are not UTF-8 (a
 * gateway re-encoding it without saying so) are refused rather than read as U+FFFD: a reference or account name with
 * a replaced character would be stored as if the bank had sent it, and would name another movement than the bank's
 * own text once the answer comes as UTF-8 again. Retryable, as a body that is not JSON. A failure's body (4xx, 5xx)
 * only explains: read as it comes, so its status still decides.
 */
function utf8Text(bytes: Uint8Array, ctx: JpmErrorContext): string {
  const status = ctx.upstreamStatus ?? 0;
  if (status < 200 || status >= 300) {
    return UTF8_LENIENT.decode(bytes);
  }
  try {
    return UTF8.decode(bytes);
  } catch (err) {
    throw new JpmUnavailableError(
      `J.P. Morgan's answer to ${ctx.endpoint} is not UTF-8 and declares no other charset`,
      'jpm_malformed_response',
      { ...ctx, cause: err },
    );
  }
}

/**
 * A compressed body as text: the codings undone last one first (gzip, deflate, br), never more than `maxBytes`
 * decompressed (`jpm_response_too_large`, as a plain body over the limit), then UTF-8 without a BOM (`utf8Text`), as a
 * plain body is read. A coding we cannot undo, or data that does not decompress, is an answer we cannot read:
 * retryable, as a body that is not JSON.
 */
function decodeBody(
  bytes: Buffer,
  codings: readonly string[],
  charset: string | undefined,
  maxBytes: number,
  ctx: JpmErrorContext,
): string {
  let body = bytes;
  for (const coding of [...codings].reverse()) {
    const options = { maxOutputLength: maxBytes };
    try {
      if (coding === 'gzip' || coding === 'x-gzip') {
        body = gunzipSync(body, options);
      } else if (coding === 'deflate') {
        body = inflateEither(body, options);
      } else if (coding === 'br') {
        body = brotliDecompressSync(body, options);
      } else {
        throw new JpmUnavailableError(
          `J.P. Morgan's answer to ${ctx.endpoint} has a content coding we cannot read (${coding.slice(0, 40)})`,
          'jpm_malformed_response',
          ctx,
        );
      }
    } catch (err) {
      if (isJpmError(err)) {
        throw err;
      }
      if ((err as { code?: unknown }).code === 'ERR_BUFFER_TOO_LARGE') {
        throw new JpmRejectedError(
          `J.P. Morgan's answer to ${ctx.endpoint} exceeded the size limit once decompressed`,
          'jpm_response_too_large',
          { ...ctx, cause: err },
        );
      }
      throw new JpmUnavailableError(
        `J.P. Morgan's answer to ${ctx.endpoint} does not decompress as ${coding}`,
        'jpm_malformed_response',
        { ...ctx, cause: err },
      );
    }
  }
  if (charset === undefined) {
    return utf8Text(body, ctx);
  }
  if (LATIN1_LABELS.has(charset)) {
    return body.toString('latin1');
  }
  try {
    return new TextDecoder(charset, { fatal: true }).decode(body);
  } catch (err) {
    throw new JpmUnavailableError(
      `J.P. Morgan's answer to ${ctx.endpoint} is not readable in its declared charset (${charset.slice(0, 40)})`,
      'jpm_malformed_response',
      { ...ctx, cause: err },
    );
  }
}

export class JpmTransport {
  readonly #options: JpmTransportOptions;
  readonly #agents: CredentialAgents;
  readonly #base: string;

  constructor(options: JpmTransportOptions) {
    this.#options = options;
    this.#base = options.baseUrl.replace(/\/+$/, '');
    const t = options.timeouts;
    this.#agents = new CredentialAgents(options.credentials, {
      connectTimeoutMs: t.connectMs,
      headersTimeoutMs: t.headersMs,
      bodyTimeoutMs: t.bodyMs,
      keepAliveTimeoutMs: t.keepAliveMs,
      connections: options.connections,
      maxResponseBytes: options.maxResponseBytes,
      outbound: options.outbound,
    });
  }

  get baseUrl(): string {
    return this.#base;
  }

  get activeCredentialId(): string | undefined {
    return this.#agents.activeCredentialId;
  }

  get outbound(): OutboundPolicy | undefined {
    return this.#options.outbound;
  }

  /** Resolves the current credential (building or rotating its Agent) without sending anything. */
  currentAgent(): Promise<ActiveAgent> {
    return this.#agents.acquire((active) => Promise.resolve(active));
  }

  /** Sends one request; resolves with the parsed body of a clean 2xx, otherwise throws a `JpmError`. */
  async call(spec: CallSpec): Promise<CallResult> {
    const started = performance.now();
    const requestId = randomUUID();
    const ctx: JpmErrorContext = { requestId, endpoint: `${spec.method} ${spec.path}` };
    let status: number | undefined;
    try {
      const result = await this.#sendAgainOnClosedConnection(spec, ctx);
      status = result.status;
      this.#record(spec.endpoint, requestId, result.credentialId, status, 'ok', started);
      return result;
    } catch (err) {
      const code = isJpmError(err) ? err.code : 'error';
      status = isJpmError(err) ? err.upstreamStatus : undefined;
      this.#record(spec.endpoint, requestId, this.#agents.activeCredentialId, status, code, started);
      const fields = {
        requestId,
        endpoint: spec.endpoint,
        status,
        code,
        credentialId: this.#agents.activeCredentialId,
      };
      if (code === 'jpm_aborted' && spec.signal?.aborted) {
        // The caller stopped it (a worker stopping gives its windows back): not a failure of the bank or of ours.
        log.info(fields, 'jpm call aborted by its caller');
      } else {
        log.warn(fields, 'jpm call failed');
      }
      throw err;
    }
  }

  close(): Promise<void> {
    return this.#agents.close();
  }

  /**
   * Sends the call; when the bank closed its connection before answering anything while it takes our certificate
   * (`closedUnanswered`: a kept-alive connection closed as the call arrived, or a resumed TLS session refused), sends
   * it again at once, on another connection: J.P. Morgan's calls are reads, and that one never reached the bank's
   * application. Each such connection leaves the pool as it fails, so after as
   * many tries as the pool holds connections the next is on a new one; beyond that the failure is the call's. No
   * other failure is sent again (BullMQ owns retries).
   */
  async #sendAgainOnClosedConnection(spec: CallSpec, ctx: JpmErrorContext): Promise<CallResult> {
    for (let closed = 0; ; closed++) {
      try {
        return await this.#agents.acquire((active) =>
          this.#send(spec, active, { ...ctx, credentialId: active.credential.id }),
        );
      } catch (err) {
        const again =
          typeof err === 'object' &&
          err !== null &&
          closedUnanswered.has(err) &&
          spec.signal?.aborted !== true &&
          closed < this.#options.connections;
        if (!again) {
          throw err;
        }
        log.info(
          { requestId: ctx.requestId, endpoint: spec.endpoint, closed: closed + 1 },
          'jpm kept-alive connection closed before answering; sent again on another connection',
        );
      }
    }
  }

  /** Must dispatch synchronously (no await before `request`): see `CredentialAgents.acquire`. */
  async #send(spec: CallSpec, active: ActiveAgent, ctx: JpmErrorContext): Promise<CallResult> {
    const timeout = AbortSignal.timeout(this.#options.timeouts.requestMs);
    const signal = spec.signal ? AbortSignal.any([timeout, spec.signal]) : timeout;
    const headers: Record<string, string> = {
      accept: 'application/json',
      'x-request-id': ctx.requestId!,
      'user-agent': 'jpm-sync',
    };
    if (spec.body !== undefined) {
      headers['content-type'] = 'application/json';
    }
    const url = `${this.#base}${spec.path}${queryString(spec.query)}`;
    let response: Dispatcher.ResponseData;
    try {
      response = await request(url, {
        dispatcher: active.agent,
        method: spec.method,
        headers,
        signal,
        ...(spec.body === undefined ? {} : { body: JSON.stringify(spec.body) }),
      });
    } catch (err) {
      throw await this.#transportFailure(err, ctx, timeout.aborted, active, true, spec.signal);
    }
    let text: string;
    try {
      const encoding = contentCodings(response.headers['content-encoding']);
      const charset = declaredCharset(response.headers['content-type']);
      text =
        encoding.length === 0 && charset === undefined
          ? utf8Text(new Uint8Array(await response.body.arrayBuffer()), { ...ctx, upstreamStatus: response.statusCode })
          : decodeBody(
              Buffer.from(await response.body.arrayBuffer()),
              encoding,
              charset,
              this.#options.maxResponseBytes,
              { ...ctx, upstreamStatus: response.statusCode },
            );
    } catch (err) {
      if (isJpmError(err)) {
        throw err;
      }
      throw await this.#transportFailure(
        err,
        { ...ctx, upstreamStatus: response.statusCode },
        timeout.aborted,
        active,
        false,
        spec.signal,
      );
    }
    return this.#interpret(response.statusCode, response.headers, text, ctx, active);
  }

  #interpret(
    status: number,
    headers: Dispatcher.ResponseData['headers'],
    text: string,
    ctx: JpmErrorContext,
    active: ActiveAgent,
  ): CallResult {
    let body: unknown;
    let parseError: unknown;
    const rawControls: RawControlString[] = [];
    try {
      body = parseJsonLossless(text, rawControls);
    } catch (err) {
      parseError = err ?? new Error('unparsable');
    }
    const parsed = parseError === undefined;
    const failure = parsed ? bankFailureOf(body) : undefined;
    if (status >= 200 && status < 300 && failure === undefined) {
      if (!parsed) {
        // Typically a body cut short by a proxy or a dying connection: worth another try. A repeated name is
        // refused the same way (its message says which), rather than read with either value.
        const why = parseError instanceof RepeatedNameError ? `is refused: ${parseError.message}` : 'is not valid JSON';
        throw new JpmUnavailableError(`J.P. Morgan's answer to ${ctx.endpoint} ${why}`, 'jpm_malformed_response', {
          ...ctx,
          upstreamStatus: status,
        });
      }
      if (rawControls.length > 0) {
        // What the text held, never the text itself (a narrative may name a person).
        log.warn(
          { requestId: ctx.requestId, endpoint: ctx.endpoint, strings: rawControls.length },
          'jpm answer held raw control characters in strings; read as those characters',
        );
      }
      return { body, status, requestId: ctx.requestId!, credentialId: active.credential.id, rawControls };
    }
    throw classifyResponse(status, failure, parseRetryAfterMs(headers['retry-after'], Date.now()), ctx);
  }

  async #transportFailure(
    err: unknown,
    ctx: JpmErrorContext,
    timedOut: boolean,
    active: ActiveAgent,
    beforeResponse: boolean,
    callerSignal: AbortSignal | undefined,
  ): Promise<unknown> {
    if (callerSignal?.aborted && !timedOut) {
      // The caller stopped the call, whatever its signal's reason (undici fails the call with that reason).
      return new JpmUnavailableError(`the ${ctx.endpoint} call was aborted`, 'jpm_aborted', { ...ctx, cause: err });
    }
    if (isAddressRefusal(err)) {
      // Configuration, not weather: retrying will not change where the base URL points.
      return new JpmRejectedError(
        `the base URL's address is not allowed by the outbound address policy (${ctx.endpoint})`,
        'jpm_address_not_allowed',
        { ...ctx, cause: err },
      );
    }
    if (beforeResponse && closedBeforeAnyResponse(err)) {
      const probe = await probeTls({
        url: this.#base,
        credential: active.credential,
        connectTimeoutMs: this.#options.timeouts.connectMs,
        holdMs: this.#options.refusalProbeMs,
        outbound: this.#options.outbound,
      });
      if (probe.kind === 'refused') {
        return new JpmRejectedError(
          `J.P. Morgan refused our client certificate for ${ctx.endpoint} (the server closed the connection after the TLS handshake)`,
          'jpm_certificate_refused',
          { ...ctx, transportCode: probe.code, cause: err },
        );
      }
      if (probe.kind === 'accepted') {
        return unanswered(classifyTransportError(err, ctx, timedOut) ?? err);
      }
    }
    const failure = classifyTransportError(err, ctx, timedOut) ?? err;
    return beforeResponse && closedKeptAliveConnection(err) ? unanswered(failure) : failure;
  }

  #record(
    endpoint: JpmEndpoint,
    requestId: string,
    credentialId: string | undefined,
    status: number | undefined,
    outcome: string,
    started: number,
  ): void {
    const durationMs = Math.round(performance.now() - started);
    bankCallDurationSeconds.observe({ endpoint, outcome }, durationMs / 1000);
    if (outcome !== 'ok') {
      bankErrorsTotal.inc({ class: outcome.replace(/^jpm_/, '') });
    }
    log.debug({ requestId, endpoint, status, outcome, durationMs, credentialId }, 'jpm call');
    this.#options.onCall?.({ endpoint, requestId, credentialId, status, outcome, durationMs });
  }
}

/** Marks a failure as `closedUnanswered` (the call may be sent again on another connection). */
function unanswered(failure: unknown): unknown {
  if (typeof failure === 'object' && failure !== null) {
    closedUnanswered.add(failure);
  }
  return failure;
}
