import type { RequestHandler } from 'express';
import type { ChildLoggerOptions } from 'pino';
import { maskAccount, scrubSecrets, type Logger } from '../shared/logger.ts';
import { findRequestContext } from './request-context.ts';

const LEVEL_METHODS = new Set(['fatal', 'error', 'warn', 'info', 'debug', 'trace']);
const noop = (): void => {};

/**
 * A child logger that is only built when something logs through it: `parent.child(bindings)` costs
 * an object and a serialized bindings string, and most requests never log anything but their request
 * log line. Calls at a level the parent does not write are dropped without building it; `child()`
 * stays lazy and, once built, gives exactly the chain of children an eager `child()` would have.
 */
export function lazyChildLogger(parent: Logger, bindings: Record<string, unknown>): Logger {
  return lazyChain(parent, [bindings]);
}

function lazyChain(parent: Logger, chain: readonly Record<string, unknown>[]): Logger {
  let built: Logger | undefined;
  const build = (): Logger => (built ??= chain.reduce((logger, b) => logger.child(b), parent));
  return new Proxy({} as Logger, {
    get(_target, prop) {
      if (built === undefined) {
        if (prop === 'child') {
          return (more: Record<string, unknown>, options?: ChildLoggerOptions) =>
            options === undefined ? lazyChain(parent, [...chain, more]) : build().child(more, options);
        }
        if (typeof prop === 'string' && LEVEL_METHODS.has(prop) && !parent.isLevelEnabled(prop)) {
          return noop;
        }
      }
      const logger = build();
      const value: unknown = Reflect.get(logger, prop, logger);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(logger) : value;
    },
    set(_target, prop, value) {
      return Reflect.set(build(), prop, value);
    },
  });
}

/** 8+ digits in a row, each written as itself or percent-encoded (`%30`–`%39`), whatever stands next to them. */
const DIGIT_RUN = /(?:\d|%3\d){8,}/gi;
const HAS_DIGIT_RUN = /(?:\d|%3\d){8}/i;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/**
 * Query parameters logged by name, whatever their value looks like (the name lower-cased, without `[…]` and
 * anything but letters and digits): an account number keeps its last four characters, a secret none.
 */
const ACCOUNT_PARAM = /(accountnumber|accountno|acctnumber|acctno|iban|bban)$/;
const SECRET_PARAM =
  /(token|secret|password|passwd|passphrase|key|signature|sig|credential|credentials|session|sessionid|csrf|auth|authorization|cookie|pem)$/;
/** What would make a logged query ambiguous or break the line; everything else is written as decoded. */
const QUERY_ESCAPE = /[%&=#+\s\p{Cc}]/gu;

function maskDigitRuns(text: string): string {
  return HAS_DIGIT_RUN.test(text) && !UUID.test(text)
    ? text.replace(DIGIT_RUN, (run) => maskAccount(run.replace(/%3(\d)/gi, '$1')))
    : text;
}

function queryValue(name: string, value: string): string {
  const key = name
    .replace(/\[.*$/, '')
    .replace(/[^A-Za-z0-9]/g, '')
    .toLowerCase();
  if (ACCOUNT_PARAM.test(key)) {
    return maskAccount(value.replace(/\s+/g, ''));
  }
  if (SECRET_PARAM.test(key)) {
    return '[REDACTED]';
  }
  return maskDigitRuns(scrubSecrets(value));
}

const escapeQuery = (text: string): string => text.replace(QUERY_ESCAPE, (c) => encodeURIComponent(c));

/**
 * The request's URL as it is logged. The query is not logged as sent: it is read into its parameters (decoded, as
 * the routes read them) and written again, an account number or a secret masked by its parameter's name and, in
 * every other name and value, a run of 8+ digits masked to its last four (next to letters too, e.g. `GB0012345678`).
 * In the path, runs of 8+ digits are masked the same way, percent-encoded or not, except in a UUID (an id). The
 * logger then scrubs the line as any other (review tokens, API keys).
 */
function loggableUrl(url: string): string {
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  // Scrubbed first where digits are masked: a review token is found by its digits (src/shared/logger.ts).
  const masked = HAS_DIGIT_RUN.test(path) ? scrubSecrets(path).split('/').map(maskDigitRuns).join('/') : path;
  if (q === -1) {
    return masked;
  }
  const pairs: string[] = [];
  for (const [name, value] of new URLSearchParams(url.slice(q + 1))) {
    pairs.push(`${escapeQuery(maskDigitRuns(scrubSecrets(name)))}=${escapeQuery(queryValue(name, value))}`);
  }
  return `${masked}?${pairs.join('&')}`;
}

/**
 * One log line per request, written when the response has finished, or when the connection closed
 * before it did: `request aborted` at warn (the client went away; `res.statusCode` is what had been set
 * by then, `aborted: true`), `request completed` at info, or `request failed` with a short
 * `err` ({ type, message }, no stack) at error for a 5xx or a response stream error, and at warn for a
 * 503 (load shedding, or an outage already logged by its cause, so a burst does not bury real errors).
 * Fields: `req` { id, method, url } with the URL masked (loggableUrl: a query may carry an account number),
 * `res` { statusCode }, `responseTime` in ms. Headers and bodies are never logged. Requests to
 * `quietPaths` (probes, metrics) are not logged. No per-request logger is created.
 */
export function requestLogMiddleware(log: Logger, quietPaths: ReadonlySet<string>): RequestHandler {
  // The root logger's err serializer adds `where` (a stack line); this line's error is type and message.
  const access = log.child(
    {},
    { serializers: { err: (err: Error) => ({ type: err.name, message: scrubSecrets(err.message) }) } },
  );
  return (req, res, next) => {
    const start = Date.now();
    const id = findRequestContext(req)?.requestId ?? 'unknown';
    const method = req.method;
    const url = req.originalUrl;
    let logged: string | undefined;
    const write = (err: unknown, aborted: boolean): void => {
      const responseTime = Date.now() - start;
      const statusCode = res.statusCode;
      // Masked when the line is written (most requests log nothing else), then scrubbed by the root logger's
      // scrub, which walks every logged field.
      logged ??= loggableUrl(url);
      const reqFields = { id, method, url: logged };
      if (aborted && err === undefined) {
        access.warn({ req: reqFields, res: { statusCode }, aborted: true, responseTime }, 'request aborted');
      } else if (err !== undefined || statusCode >= 500) {
        const error = err ?? new Error(`failed with status code ${statusCode}`);
        access[statusCode === 503 ? 'warn' : 'error'](
          { req: reqFields, res: { statusCode }, err: error, responseTime },
          'request failed',
        );
      } else {
        access.info({ req: reqFields, res: { statusCode }, responseTime }, 'request completed');
      }
    };
    let done = false;
    const onEnd = (err?: unknown, aborted = false): void => {
      if (!done) {
        done = true;
        write(err, aborted);
      }
    };
    // Quiet paths get a line only when their response stream fails.
    if (!quietPaths.has(req.url)) {
      res.on('finish', () => onEnd());
      // 'close' before the response was fully written: the connection went away mid-request.
      res.on('close', () => onEnd(undefined, !res.writableFinished));
    }
    res.on('error', (err: unknown) => onEnd(err));
    next();
  };
}
