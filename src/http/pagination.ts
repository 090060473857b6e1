import { z } from 'zod';

/**
 * The list contract every API route follows: `?limit=&cursor=` in, `{ data, nextCursor }` out.
 * `limit` defaults to 50, at most 500. `nextCursor` is opaque (src/storage/pagination.ts encodes it);
 * pass it back unchanged to get the next page; null means this was the last page. A bad cursor is a
 * 400 `invalid_cursor`. Spread `PAGE_QUERY` into a list route's query schema.
 */
export const DEFAULT_LIMIT = 50;
export const MAX_LIMIT = 500;

export const PAGE_QUERY = {
  limit: z.coerce
    .number()
    .int()
    .min(1)
    .max(MAX_LIMIT)
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
