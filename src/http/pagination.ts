import { z } from 'zod';

/**
 * The list contract every API route follows: `?limit=&cursor=` in, `{ data, nextCursor }` out.
 * `limit` defaults to 50, at most 500. `nextCursor` is opaque (src/storage/pagination.ts encodes it);
 * pass it back unchanged to get the next page; null means this was the last page. A bad cursor is a
 * 400 `invalid_cursor`. Spread `PAGE_QUERY` into a list route's query schema.
 */
export const DEFAULT_LIMIT = 50;
export const MAX_LIMIT = 500;

/**
 * A count in a query string (`?limit=20`): digits only, read as a whole number from `min` to `max`. `0x10`, `1e2`,
 * ` 5`, `+5` and `1.0` are refused (a number coerced from them would page by something the client did not write).
 */
export function countParam(min: number, max: number) {
  return z.preprocess(
    (v) => (typeof v === 'string' && /^[0-9]{1,9}$/.test(v) ? Number(v) : v),
    z
      .number({ error: `expected a whole number written in digits, ${min} to ${max}` })
      .int()
      .min(min)
      .max(max),
  );
}

export const PAGE_QUERY = {
  limit: countParam(1, MAX_LIMIT)
    .default(DEFAULT_LIMIT)
    .meta({ description: `Page size, 1 to ${MAX_LIMIT} (default ${DEFAULT_LIMIT})` }),
  cursor: z
    .string()
    .min(1)
    .max(1024)
    .optional()
    .meta({ description: 'The nextCursor of the previous page, unchanged' }),
};

export function pageSchema<T extends z.ZodType>(item: T) {
  return z.object({
    data: z.array(item),
    nextCursor: z.string().nullable().meta({ description: 'Cursor of the next page; null on the last page' }),
  });
}
