import { z } from 'zod';
import { ValidationError } from '../shared/errors.ts';
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

/** Parses one part of a request; failures become a ValidationError whose field paths start with the part. */
export function parsePart<S extends z.ZodType>(schema: S, value: unknown, part: Part): z.output<S> {
  const nul = nulPaths(value, part);
  if (nul.length > 0) {
    // Postgres text cannot hold U+0000: refused here with the field named, not by the database as "a value is
    // malformed".
    throw new ValidationError(
      'A text value holds the NUL character (U+0000), which cannot be stored; remove it.',
      nul.map((path) => ({ path, message: 'must not contain U+0000' })),
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

/** The paths of the strings (and object keys) in `value` that hold U+0000; at most 20, to a depth of 32. */
function nulPaths(value: unknown, path: string, out: string[] = [], depth = 0): string[] {
  if (out.length >= 20 || depth > 32) {
    return out;
  }
  if (typeof value === 'string') {
    if (value.includes('\u0000')) {
      out.push(path);
    }
  } else if (Array.isArray(value)) {
    value.forEach((v, i) => nulPaths(v, `${path}.${i}`, out, depth + 1));
  } else if (typeof value === 'object' && value !== null) {
    for (const [k, v] of Object.entries(value)) {
      const at = `${path}.${k.replaceAll('\u0000', '\\u0000')}`;
      if (k.includes('\u0000')) {
        out.push(at);
      }
      nulPaths(v, at, out, depth + 1);
    }
  }
  return out;
}
