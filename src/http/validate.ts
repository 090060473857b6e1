import { z } from 'zod';
import { isAppError, ValidationError, type FieldError } from '../shared/errors.ts';
import { unstorableCharacter } from '../shared/pg-text.ts';
import { zodFieldErrors } from './errors.ts';

/**
 * Request parsing with zod. Top-level objects are made strict, so an unknown field (a typo such as
 * `limt`, or a field a client thinks it may set) is a 400 naming it, never silently ignored. Nested
 * objects should be declared with `z.strictObject` for the same reason.
 */
export function strictTop<S extends z.ZodType>(schema: S): S {
  if (schema instanceof z.ZodObject) {
    return schema.strict() as unknown as S;
  }
  return schema;
}

export type Part = 'params' | 'query' | 'body';

/**
 * A calendar date `YYYY-MM-DD` that Postgres can store: `z.iso.date()` takes year 0000, which Postgres refuses (a
 * generic "value out of range" answer naming no field); here it is a 400 on the field.
 */
export function isoDay() {
  return z.iso
    .date()
    .refine((d) => d >= '0001-01-01', { message: 'a date from 0001-01-01 on', when: (p) => p.issues.length === 0 });
}

/**
 * A name people read (an organization, an integration, a contact, an API key): one line of text, trimmed, 1 to `max`
 * characters. A line break, tab or other control character is refused: a name is put into mail subjects, the plain
 * text of milestone mails, log lines and pages, where a line break would start a line that looks like our own words.
 */
export function displayName(max: number) {
  return (
    z
      .string()
      .trim()
      .min(1)
      .max(max)
      // eslint-disable-next-line no-control-regex -- the control characters themselves are what is refused
      .refine((v) => !/[\x00-\x1f\x7f-\x9f\u2028\u2029]/.test(v), {
        message: 'one line of text: no line break, tab or other control character',
        when: (p) => p.issues.length === 0,
      })
  );
}

/** One range of a query: its two parameters' names and values, and how their values compare (negative: a before b). */
export interface QueryRange {
  from: readonly [name: string, value: string | undefined];
  to: readonly [name: string, value: string | undefined];
  compare: (a: string, b: string) => number;
}

/**
 * A range whose lower bound is above its upper bound is a client mistake (two parameters swapped), refused with the
 * lower bound named: answering an empty page would tell a reconciling client there is no such data. Equal bounds
 * are a range of one value.
 */
export function assertQueryRanges(ranges: readonly QueryRange[]): void {
  const fields = ranges.flatMap(({ from: [fromName, from], to: [toName, to], compare }) =>
    from !== undefined && to !== undefined && compare(from, to) > 0
      ? [{ path: `query.${fromName}`, message: `must not be above ${toName} (${from} > ${to}); swap them?` }]
      : [],
  );
  if (fields.length > 0) {
    throw new ValidationError('The request query string is invalid; see errors.', fields);
  }
}

/** Orders `YYYY-MM-DD` dates (text order is date order). */
export const compareIsoDates = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** Orders ISO 8601 instants by the moment they name (offsets differ in text). */
export const compareInstants = (a: string, b: string): number => Date.parse(a) - Date.parse(b);

/** Orders unsigned decimals (`1250`, `1250.5`, at most 18 fraction digits) exactly, never through a float. */
export function compareDecimals(a: string, b: string): number {
  const scaled = (d: string) => {
    const [whole = '0', fraction = ''] = d.split('.');
    return BigInt(whole + fraction.padEnd(18, '0'));
  };
  const x = scaled(a);
  const y = scaled(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

/** Parses one part of a request; failures become a ValidationError whose field paths start with the part. */
export function parsePart<S extends z.ZodType>(schema: S, value: unknown, part: Part): z.output<S> {
  const unstorable = unstorableText(value, part);
  if (unstorable.length > 0) {
    // Postgres text cannot hold U+0000, and a lone UTF-16 surrogate (half of a character) would be stored as U+FFFD:
    // refused here with the field named, not by the database as "a value is malformed" nor changed silently.
    const nul = unstorable.some((f) => f.message === NUL_MESSAGE);
    throw new ValidationError(
      nul
        ? 'A text value holds the NUL character (U+0000), which cannot be stored; remove it.'
        : 'A text value holds half of a character (a lone UTF-16 surrogate), which cannot be stored; send whole characters.',
      unstorable,
    );
  }
  const result = schema.safeParse(value);
  if (!result.success) {
    const fields = zodFieldErrors(result.error).map((f) => ({
      path: f.path === '(root)' ? part : `${part}.${f.path}`,
      message: f.message,
    }));
    throw new ValidationError(
      `The request ${part === 'body' ? 'body' : part === 'query' ? 'query string' : 'path'} is invalid; see errors.`,
      fields,
    );
  }
  return result.data;
}

/** The request parts a field path starts with (`body.from`, `query.cursor`, `headers.idempotency-key`). */
const PARTS = new Set(['params', 'query', 'body', 'headers']);

/** The top-level field names a request schema accepts (through optional, default, pipe, union and intersection). */
function topKeys(schema: z.ZodType | undefined, out = new Set<string>(), depth = 0): Set<string> {
  if (!schema || depth > 8) {
    return out;
  }
  if (schema instanceof z.ZodObject) {
    Object.keys(schema.shape).forEach((k) => out.add(k));
  } else if (schema instanceof z.ZodUnion) {
    (schema.options as z.ZodType[]).forEach((o) => topKeys(o, out, depth + 1));
  } else if (schema instanceof z.ZodIntersection) {
    topKeys(schema.def.left as z.ZodType, out, depth + 1);
    topKeys(schema.def.right as z.ZodType, out, depth + 1);
  } else if (schema instanceof z.ZodPipe) {
    topKeys(schema.in as z.ZodType, out, depth + 1);
  } else if (schema instanceof z.ZodOptional || schema instanceof z.ZodNullable || schema instanceof z.ZodDefault) {
    topKeys(schema.unwrap() as z.ZodType, out, depth + 1);
  }
  return out;
}

/** A route's request as `qualifyFieldPaths` reads it. */
export interface RequestShape {
  params?: z.ZodType | undefined;
  query?: z.ZodType | undefined;
  body?: z.ZodType | undefined;
  /** The route takes a document as its body (a statement file). */
  rawBody?: unknown;
}

/**
 * Every field error of a 4xx names its field from the request part it is in (`body.from`, `query.cursor`), whether
 * the schema or the handler found it: domain code names a field as its own input calls it (`from`), which this
 * qualifies with the part whose schema has that field (body, then query, then params); a field no schema names is
 * the body's when the route takes one, else the query's. Rewrites the error's field paths in place (they belong to
 * this one thrown error) and returns it.
 */
export function qualifyFieldPaths<E>(request: RequestShape, err: E): E {
  const fields = isAppError(err) ? (err.details?.fields as FieldError[] | undefined) : undefined;
  if (!Array.isArray(fields)) {
    return err;
  }
  const parts = (['body', 'query', 'params'] as const).filter((p) => request[p] !== undefined);
  const fallback = request.body !== undefined || request.rawBody !== undefined ? 'body' : parts[0];
  for (const f of fields) {
    const head = f.path.split('.')[0] ?? '';
    if (PARTS.has(head) || f.path === '(root)') {
      continue;
    }
    const part = parts.find((p) => topKeys(request[p]).has(head)) ?? fallback;
    if (part) {
      f.path = `${part}.${f.path}`;
    }
  }
  return err;
}

const NUL_MESSAGE = 'must not contain U+0000';
const SURROGATE_MESSAGE = 'must not contain a lone UTF-16 surrogate (half of a character)';

function problemOf(text: string): string | undefined {
  const found = unstorableCharacter(text);
  return found === 'nul' ? NUL_MESSAGE : found === 'lone_surrogate' ? SURROGATE_MESSAGE : undefined;
}

/**
 * The strings (and object keys) in `value` that cannot be stored as sent (U+0000, a lone surrogate), with their paths;
 * at most 20, to a depth of 32.
 */
function unstorableText(
  value: unknown,
  path: string,
  out: { path: string; message: string }[] = [],
  depth = 0,
): { path: string; message: string }[] {
  if (out.length >= 20 || depth > 32) {
    return out;
  }
  if (typeof value === 'string') {
    const message = problemOf(value);
    if (message) {
      out.push({ path, message });
    }
  } else if (Array.isArray(value)) {
    value.forEach((v, i) => unstorableText(v, `${path}.${i}`, out, depth + 1));
  } else if (typeof value === 'object' && value !== null) {
    for (const [k, v] of Object.entries(value)) {
      const at = `${path}.${JSON.stringify(k).slice(1, -1)}`;
      const message = problemOf(k);
      if (message) {
        out.push({ path: at, message });
      }
      unstorableText(v, at, out, depth + 1);
    }
  }
  return out;
}
