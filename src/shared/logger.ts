import pino, { type Logger, type LoggerOptions } from 'pino';

export type { Logger } from 'pino';

export type Subsystem =
  | 'main' | 'config' | 'db' | 'redis' | 'jpm' | 'sync' | 'scheduler' | 'http' | 'onboarding'
  | 'credentials' | 'events' | 'validation' | 'simulator' | 'cli' | 'demo' | 'notifications' | 'review';

/**
 * Paths pino blanks out before a line is written. Headers and key material by name; the
 * `formatters.log` hook below also scrubs PEM blocks and long account numbers inside any string.
 */
export const REDACT_PATHS = [
  'authorization', '*.authorization', 'headers.authorization', 'req.headers.authorization', 'req.headers.cookie',
  'req.headers["idempotency-key"]', 'res.headers["set-cookie"]', 'apiKey', '*.apiKey', 'key', '*.key', 'secret',
  '*.secret', 'privateKey', '*.privateKey', 'privateKeyPem', '*.privateKeyPem', 'password', '*.password',
  'masterKey', '*.masterKey', 'cert', '*.cert', 'certificatePem', '*.certificatePem', 'token', '*.token',
];

const PEM_BLOCK = /-----BEGIN [A-Z0-9 ]+-----[\s\S]*?(-----END [A-Z0-9 ]+-----|$)/g;
const API_KEY = /\bjpms_[A-Za-z0-9_]{8,}\b/g;
/** Bank account numbers are 8+ digits; keep the last four so a person can still tell them apart. */
const LONG_DIGITS = /\b\d{4,}(\d{4})\b/g;
/** A customer review link's token (`<link id>.<expiry>.<HMAC>`, src/review/links.ts): the HMAC is the credential. */
const REVIEW_TOKEN = /\b([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\.\d{1,12}\.[A-Za-z0-9_-]{20,}/g;
/**
 * The path segment after `/review/` in any URL, whatever its spelling (percent-encoded, truncated, tampered):
 * everything up to the next `/`, `?`, `#`, quote or whitespace. The review page's only route parameter is the token.
 */
const REVIEW_PATH = /\/review\/[^/?#\s"'`<>]+/g;

/** Scrubs secrets out of a free-form string. Used by the logger and anything that stores messages. */
export function scrubSecrets(text: string): string {
  return text
    .replace(PEM_BLOCK, '[REDACTED PEM]')
    .replace(REVIEW_PATH, '/review/[REDACTED]')
    .replace(API_KEY, 'jpms_[REDACTED]')
    .replace(REVIEW_TOKEN, '$1.[REDACTED]')
    .replace(LONG_DIGITS, (match, tail: string) => (match.length >= 8 ? `****${tail}` : match));
}

/** Masks an account number to its last four digits, for log fields. */
export function maskAccount(accountNumber: string): string {
  return accountNumber.length <= 4 ? accountNumber : `****${accountNumber.slice(-4)}`;
}

function scrubValue(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') {
    return scrubSecrets(value);
  }
  if (depth > 6 || value === null || typeof value !== 'object') {
    return value;
  }
  if (Array.isArray(value)) {
    return value.map((v) => scrubValue(v, depth + 1));
  }
  if (value instanceof Error) {
    return value;
  }
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    out[k] = scrubValue(v, depth + 1);
  }
  return out;
}

export interface LoggerSettings {
  level: string;
  format: 'json' | 'pretty';
  /** Where lines go; tests pass a stream to capture them. Defaults to stdout. */
  destination?: pino.DestinationStream;
}

let root: Logger = pino({ level: 'silent' });
/** Bumped by initLogger so loggers made before it rebind to the new root. */
let generation = 0;

/** Builds the process-wide root logger. Called once by `main/`, before anything logs. */
export function initLogger(settings: LoggerSettings): Logger {
  const options: LoggerOptions = {
    level: settings.level,
    redact: { paths: REDACT_PATHS, censor: '[REDACTED]' },
    formatters: {
      log: (obj) => scrubValue(obj) as Record<string, unknown>,
    },
    hooks: {
      logMethod(args, method) {
        const scrubbed = args.map((a) => (typeof a === 'string' ? scrubSecrets(a) : a)) as Parameters<typeof method>;
        method.apply(this, scrubbed);
      },
    },
    serializers: { err: errSerializer },
    base: { service: 'jpm-sync' },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  if (settings.destination) {
    root = pino(options, settings.destination);
  } else if (settings.format === 'pretty') {
    root = pino({ ...options, transport: { target: 'pino-pretty', options: { colorize: true, singleLine: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,service' } } });
  } else {
    root = pino(options);
  }
  generation++;
  return root;
}

/**
 * Errors are logged with type, code and a scrubbed message, never a stack: stacks leak paths and,
 * through error messages of libraries, sometimes secrets. `where` names the throwing function only.
 */
function errSerializer(err: unknown): Record<string, unknown> {
  if (!(err instanceof Error)) {
    return { message: scrubSecrets(String(err)) };
  }
  const e = err as Error & { code?: unknown; retryable?: unknown; requestId?: unknown };
  return {
    type: e.name,
    message: scrubSecrets(e.message),
    code: e.code,
    retryable: e.retryable,
    requestId: e.requestId,
    where: e.stack?.split('\n')[1]?.trim().replace(/\(.*\)$/, '').replace(/^at /, ''),
  };
}

/**
 * A child logger per subsystem; messages stay constant, variables go in fields.
 * Modules may call this at import time, before main/ has built the root logger: the returned
 * logger resolves its pino child lazily and rebinds when the root is (re)initialised.
 */
export function createLogger(subsystem: Subsystem, bindings: Record<string, unknown> = {}): Logger {
  let bound: Logger | undefined;
  let boundGeneration = -1;
  const current = (): Logger => {
    if (!bound || boundGeneration !== generation) {
      bound = root.child({ subsystem, ...bindings });
      boundGeneration = generation;
    }
    return bound;
  };
  return new Proxy({} as Logger, {
    get(_target, prop) {
      const logger = current();
      const value: unknown = Reflect.get(logger, prop, logger);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(logger) : value;
    },
    set(_target, prop, value) {
      return Reflect.set(current(), prop, value);
    },
  });
}

export function rootLogger(): Logger {
  return root;
}
