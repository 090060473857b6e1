import { z } from 'zod';
import { ValidationError } from '../shared/errors.ts';
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
