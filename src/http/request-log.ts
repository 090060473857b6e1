import type { RequestHandler } from 'express';
import type { ChildLoggerOptions } from 'pino';
import { scrubSecrets, type Logger } from '../shared/logger.ts';
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

/**
 * One log line per request, written when the response has finished, or when the connection closed
 * before it did: `request aborted` at warn (the client went away; `res.statusCode` is what had been set
 * by then, `aborted: true`), `request completed` at info, or `request failed` with a short
 * `err` ({ type, message }, no stack) at error for a 5xx or a response stream error, and at warn for a
 * 503 (load shedding, or an outage already logged by its cause, so a burst does not bury real errors).
 * Fields: `req` { id, method, url } with the URL scrubbed (a query may carry an account number),
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
    const write = (err: unknown, aborted: boolean): void => {
      const responseTime = Date.now() - start;
      const statusCode = res.statusCode;
      // The URL is scrubbed by the root logger's scrub, which walks every logged field.
      const reqFields = { id, method, url };
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
