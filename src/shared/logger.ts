import pino, { type Logger, type LoggerOptions } from 'pino';

export type { Logger } from 'pino';

export type Subsystem =
  | 'main'
  | 'config'
  | 'db'
  | 'redis'
  | 'jpm'
  | 'sync'
  | 'scheduler'
  | 'http'
  | 'onboarding'
  | 'credentials'
  | 'events'
  | 'validation'
  | 'simulator'
  | 'cli'
  | 'demo'
  | 'notifications'
  | 'review';

/**
 * Paths blanked out before a line is written (pino's path syntax; `*` = any key): headers and key material by
 * name, in a line's fields and in a child's bindings. The `formatters.log` hook below also scrubs PEM blocks,
 * API keys, webhook signing secrets, review tokens and long account numbers inside any string.
 */
export const REDACT_PATHS = [
  'authorization',
  '*.authorization',
  'headers.authorization',
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["idempotency-key"]',
  'res.headers["set-cookie"]',
  'apiKey',
  '*.apiKey',
  'key',
  '*.key',
  'secret',
  '*.secret',
  'privateKey',
  '*.privateKey',
  'privateKeyPem',
  '*.privateKeyPem',
  'password',
  '*.password',
  'masterKey',
  '*.masterKey',
  'cert',
  '*.cert',
  'certificatePem',
  '*.certificatePem',
  'token',
  '*.token',
];

const PEM_BLOCK = /-----BEGIN [A-Z0-9 ]+-----[\s\S]*?(-----END [A-Z0-9 ]+-----|$)/g;
const API_KEY = /\bjpms_[A-Za-z0-9_]{8,}\b/g;
/** A webhook signing secret (`whsec_<base64url>`, src/events/webhook-signing.ts): whoever holds it can sign deliveries. */
const WEBHOOK_SECRET = /\bwhsec_[A-Za-z0-9_-]{8,}/g;
/**
 * Bank account numbers are 8+ digits; keep the last four so a person can still tell them apart. A UUID is matched
 * whole first and kept: about one in 43 starts with 8 decimal digits (`73272230-107f-…`), and an id masked in a log line
 * (a request id, a run's id) no longer finds its other lines.
 */
const UUID_OR_LONG_DIGITS = /\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b|\b\d{4,}(\d{4})\b/gi;
/** A customer review link's token (`<link id>.<expiry>.<HMAC>`, src/review/links.ts): the HMAC is the credential. */
const REVIEW_TOKEN = /\b([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\.\d{1,12}\.[A-Za-z0-9_-]{20,}/g;
/**
 * The path segment after `/review/` in any URL, whatever its spelling (percent-encoded, truncated, tampered):
 * everything up to the next `/`, `?`, `#`, quote or whitespace. The review page's only route parameter is the token.
 */
const REVIEW_PATH = /\/review\/[^/?#\s"'`<>]+/g;

/**
 * Holds for every string any of the patterns above can change (each needs one of these), so a string without
 * it is returned as it is without running the six replacements (most logged strings: ids, URLs, messages).
 */
const MAY_HOLD_SECRET = /-----BEGIN |\/review\/|jpms_|whsec_|[0-9a-f]{12}\.\d|\d{8}/;

/** Scrubs secrets out of a free-form string. Used by the logger and anything that stores messages. */
export function scrubSecrets(text: string): string {
  if (!MAY_HOLD_SECRET.test(text)) {
    return text;
  }
  return text
    .replace(PEM_BLOCK, '[REDACTED PEM]')
    .replace(REVIEW_PATH, '/review/[REDACTED]')
    .replace(API_KEY, 'jpms_[REDACTED]')
    .replace(WEBHOOK_SECRET, 'whsec_[REDACTED]')
    .replace(REVIEW_TOKEN, '$1.[REDACTED]')
    .replace(UUID_OR_LONG_DIGITS, (match, tail: string | undefined) =>
      tail !== undefined && match.length >= 8 ? `****${tail}` : match,
    );
}

/** Masks an account number to its last four digits, for log fields. */
export function maskAccount(accountNumber: string): string {
  return accountNumber.length <= 4 ? accountNumber : `****${accountNumber.slice(-4)}`;
}

/**
 * REDACT_PATHS as a tree: a node says whether the value at its path is blanked, and which keys below it lead to
 * blanked values. A `*` segment matches any key; its paths are merged into every named sibling at build time, so
 * a lookup is one `get` (`next.get(key) ?? any`).
 */
interface RedactNode {
  censor: boolean;
  next: Map<string, RedactNode>;
  any: RedactNode | undefined;
}

const newNode = (): RedactNode => ({ censor: false, next: new Map(), any: undefined });

function mergeNodes(a: RedactNode | undefined, b: RedactNode | undefined): RedactNode | undefined {
  if (a === undefined || b === undefined) {
    return a ?? b;
  }
  const out: RedactNode = { censor: a.censor || b.censor, next: new Map(), any: mergeNodes(a.any, b.any) };
  for (const key of new Set([...a.next.keys(), ...b.next.keys()])) {
    out.next.set(key, mergeNodes(mergeNodes(a.next.get(key), b.next.get(key)), out.any)!);
  }
  return out;
}

function redactTree(paths: readonly string[]): RedactNode {
  const root = newNode();
  for (const path of paths) {
    let node = root;
    for (const m of path.matchAll(/[^.[\]]+|\[["'`]?([^\]]*?)["'`]?\]/g)) {
      const key = m[1] ?? m[0];
      const child = key === '*' ? (node.any ??= newNode()) : (node.next.get(key) ?? newNode());
      if (key !== '*') {
        node.next.set(key, child);
      }
      node = child;
    }
    node.censor = true;
  }
  return mergeNodes(root, newNode())!;
}

const REDACT_TREE = redactTree(REDACT_PATHS);
const CENSOR = '[REDACTED]';

/** Objects nested deeper than this in a log line are written as `[Object]` / `[Array]`, never unprepared. */
const MAX_LOGGED_DEPTH = 6;

/**
 * A log line's fields as they will be written: every string scrubbed (scrubSecrets), and every value at a
 * REDACT_PATHS path replaced by the censor, as pino's own `redact` would (only keys that exist, of plain
 * objects, arrays are not searched), on a copy. Done in one walk here rather than by pino's redaction, which
 * cloned and searched every top-level value once more on every line (~20 µs a request log line). An `err` at
 * the top is left to the err serializer (whose fields are fixed: no secrets by name).
 */
function prepareValue(value: unknown, depth: number, node: RedactNode | undefined): unknown {
  if (typeof value === 'string') {
    return scrubSecrets(value);
  }
  if (value === null || typeof value !== 'object') {
    return value;
  }
  if (ArrayBuffer.isView(value)) {
    // Bytes (a DER key, a file) would be written one field per byte: the secret, only spelled as numbers.
    return `[binary ${value.byteLength} bytes]`;
  }
  if (depth > MAX_LOGGED_DEPTH) {
    // Not written as it is: pino would serialize it whole, its strings unscrubbed and its named keys not blanked.
    return Array.isArray(value) ? '[Array]' : '[Object]';
  }
  const toJSON: unknown = (value as { toJSON?: unknown }).toJSON;
  if (typeof toJSON === 'function') {
    // What JSON would write (a Date's ISO text, a URL's href), prepared in turn: not its fields, not unscrubbed.
    return prepareValue((toJSON as () => unknown).call(value), depth + 1, undefined);
  }
  if (Array.isArray(value)) {
    return value.map((v) => prepareValue(v, depth + 1, undefined));
  }
  const out: Record<string, unknown> = {};
  const source = value as Record<string, unknown>;
  for (const key in source) {
    if (Object.hasOwn(source, key)) {
      const child = node === undefined ? undefined : (node.next.get(key) ?? node.any);
      out[key] = child?.censor === true ? CENSOR : prepareValue(source[key], depth + 1, child);
    }
  }
  return out;
}

/** The fields of a log call (depth 0): like prepareValue, and pino's rules for the top level kept. */
function prepareLine(obj: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key in obj) {
    if (!Object.hasOwn(obj, key)) {
      continue;
    }
    const value = obj[key];
    const child = REDACT_TREE.next.get(key) ?? REDACT_TREE.any;
    if (key === 'err' && value instanceof Error) {
      out[key] = value;
    } else if (child?.censor === true) {
      // pino leaves out undefined and function values before it redacts.
      out[key] = value === undefined || typeof value === 'function' ? value : CENSOR;
    } else {
      out[key] = prepareValue(value, 1, child);
    }
  }
  return out;
}

function isPlainObject(value: object): value is Record<string, unknown> {
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * A value interpolated into a message: a plain object is prepared like a line's fields, each element of an array
 * like that too (pino's `*` paths), an Error as the err serializer writes it (no stack, scrubbed message); any other
 * object (a Date, a URL, a class instance) as its scrubbed text, since its own fields are not what `%s` or `%j`
 * would print.
 */
function interpolatedValue(value: object): unknown {
  if (Array.isArray(value)) {
    return value.map((v: unknown) =>
      typeof v === 'object' && v !== null ? interpolatedValue(v) : prepareValue(v, 1, undefined),
    );
  }
  if (value instanceof Error) {
    return errSerializer(value);
  }
  if (isPlainObject(value)) {
    return prepareLine(value);
  }
  // An object's own text (a URL's href); one without gives '[object X]', never its fields.
  // eslint-disable-next-line @typescript-eslint/no-base-to-string
  return scrubSecrets(value instanceof Date ? value.toISOString() : String(value));
}

/**
 * A child's bindings, prepared like a line's fields (scrubbed, REDACT_PATHS blanked, depth bounded): they are written on
 * every line of the child, unprepared otherwise. Bound values are mostly ids, so the usual case copies nothing.
 */
function redactBindings(bindings: Record<string, unknown>): Record<string, unknown> {
  let out: Record<string, unknown> | undefined;
  for (const key in bindings) {
    if (!Object.hasOwn(bindings, key)) {
      continue;
    }
    const value = bindings[key];
    if (key === 'err' && value instanceof Error) {
      // Left to the err serializer, as a line's `err` is.
      continue;
    }
    const child = REDACT_TREE.next.get(key) ?? REDACT_TREE.any;
    const prepared =
      child?.censor === true
        ? value === undefined
          ? undefined
          : CENSOR
        : typeof value === 'string' || (typeof value === 'object' && value !== null)
          ? prepareValue(value, 1, child)
          : value;
    if (prepared !== value) {
      out ??= { ...bindings };
      out[key] = prepared;
    }
  }
  return out ?? bindings;
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
    // REDACT_PATHS are applied by prepareLine / redactBindings (not pino's `redact`, see prepareLine).
    formatters: {
      log: prepareLine,
    },
    hooks: {
      logMethod(args, method) {
        const first: unknown = args[0];
        if (first instanceof Error) {
          // `log.error(err)`: pino would make the error's own message the line's msg, unscrubbed. As `{ err }` with
          // that message as msg, scrubbed below like any other (a message given after the error is kept).
          const rest = args.slice(1);
          args.splice(
            0,
            args.length,
            { err: first },
            ...(typeof rest[0] === 'string' ? rest : [first.message, ...rest]),
          );
        }
        // Strings scrubbed; values interpolated into the message (`%s`, `%j`, `%o`) prepared (interpolatedValue).
        for (let i = 0; i < args.length; i++) {
          const a: unknown = args[i];
          if (typeof a === 'string') {
            args[i] = scrubSecrets(a);
          } else if (i > 0 && typeof a === 'object' && a !== null) {
            args[i] = interpolatedValue(a);
          }
        }
        method.apply(this, args);
      },
    },
    serializers: { err: errSerializer },
    base: { service: 'jpm-sync' },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  if (settings.destination) {
    root = pino(options, settings.destination);
  } else if (settings.format === 'pretty') {
    root = pino({
      ...options,
      transport: {
        target: 'pino-pretty',
        options: { colorize: true, singleLine: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,service' },
      },
    });
  } else {
    root = pino(options);
  }
  // A child's bindings are redacted before pino serializes them (pino gives children no bindings formatter of the
  // root's); children are made from their parent's prototype, so every descendant uses this `child`.
  const pinoChild: unknown = Reflect.get(root, 'child');
  root.child = function child(this: Logger, bindings: pino.Bindings, childOptions?: pino.ChildLoggerOptions): Logger {
    return Reflect.apply(pinoChild as (...args: unknown[]) => Logger, this, [redactBindings(bindings), childOptions]);
  } as unknown as Logger['child'];
  generation++;
  return root;
}

/**
 * The name of the function in a stack's first frame (`at name (file:line)`); none for an anonymous frame
 * (`at file:line`), whose text is a path.
 */
function throwingFunction(stack: string | undefined): string | undefined {
  const frame = stack?.split('\n')[1]?.trim();
  return frame === undefined ? undefined : /^at (.+?) \(/.exec(frame)?.[1];
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
    where: throwingFunction(e.stack),
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
