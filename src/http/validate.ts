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

/** Parses one part of a request; failures become a ValidationError whose field paths start with the part. */
export function parsePart<S extends z.ZodType>(schema: S, value: unknown, part: Part): z.output<S> {
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
