import { ValidationError } from '../shared/errors.ts';
import { isUuid } from '../shared/ids.ts';
import { isIsoDate } from '../shared/time.ts';

/**
 * Keyset pagination: a page is "rows after this key in this order", never an offset, so pages
 * stay correct and cheap while rows are inserted. The cursor is the last row's compound sort key,
 * encoded as opaque base64url JSON; clients must not build or parse it.
 *
 * Sort keys must be exact and unique: end every order with the primary key, and never put a JS
 * `Date` in a key (timestamptz has microseconds, Date has milliseconds, so rows would be skipped or
 * repeated): order by a uuidv7/bigserial id, or select the timestamp `::text` for the cursor.
 *
 *   const rows = await q.where(...keyset after decodeCursor(cursor, ['string']) ...).limit(limit + 1).execute();
 *   return pageOf(rows, limit, (r) => [r.id]);
 */
/**
 * `uuid`: a UUID string; `int`: a bigint as a decimal string (int8 columns arrive as strings); `date`: a calendar date
 * `YYYY-MM-DD` (a date column's text), so a forged one is a 400, never a database error.
 */
export type CursorKind = 'string' | 'number' | 'uuid' | 'int' | 'date';
type KindValue<K> = K extends 'number' ? number : string;
export type CursorKey<K extends readonly CursorKind[]> = { -readonly [I in keyof K]: KindValue<K[I]> };

const CURSOR_VERSION = 1;
const MAX_CURSOR_LENGTH = 1024;

export function encodeCursor(key: readonly (string | number)[]): string {
  return Buffer.from(JSON.stringify({ v: CURSOR_VERSION, k: key }), 'utf8').toString('base64url');
}

function invalidCursor(): ValidationError {
  return new ValidationError(
    'The cursor is invalid; pass the nextCursor of a previous page unchanged.',
    [{ path: 'query.cursor', message: 'invalid cursor' }],
    'invalid_cursor',
  );
}

/** Within Postgres's bigint (19 digits can exceed it: 9999999999999999999 would reach the database and fail there). */
function inInt8(value: string): boolean {
  const n = BigInt(value);
  return n >= -9223372036854775808n && n <= 9223372036854775807n;
}

/** Decodes a cursor whose key has the given shape; anything else is a 400 `invalid_cursor`. */
export function decodeCursor<const K extends readonly CursorKind[]>(cursor: string, kinds: K): CursorKey<K> {
  if (cursor.length === 0 || cursor.length > MAX_CURSOR_LENGTH || !/^[A-Za-z0-9_-]+$/.test(cursor)) {
    throw invalidCursor();
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw invalidCursor();
  }
  const key = (parsed as { v?: unknown; k?: unknown } | null)?.k;
  if ((parsed as { v?: unknown } | null)?.v !== CURSOR_VERSION || !Array.isArray(key) || key.length !== kinds.length) {
    throw invalidCursor();
  }
  kinds.forEach((kind, i) => {
    const value: unknown = key[i];
    const ok =
      kind === 'number'
        ? typeof value === 'number' && Number.isFinite(value)
        : kind === 'uuid'
          ? typeof value === 'string' && isUuid(value)
          : kind === 'int'
            ? typeof value === 'string' && /^-?\d{1,19}$/.test(value) && inInt8(value)
            : kind === 'date'
              ? typeof value === 'string' && isIsoDate(value)
              : typeof value === 'string' && value.length <= 256;
    if (!ok) {
      throw invalidCursor();
    }
  });
  return key as CursorKey<K>;
}

export interface Page<T> {
  rows: T[];
  nextCursor: string | null;
}

/** Given up to `limit + 1` rows, the page and the cursor of the next one (null on the last page). */
export function pageOf<T>(rows: T[], limit: number, keyOf: (row: T) => readonly (string | number)[]): Page<T> {
  if (rows.length <= limit) {
    return { rows, nextCursor: null };
  }
  const page = rows.slice(0, limit);
  const last = page[page.length - 1];
  return { rows: page, nextCursor: last === undefined ? null : encodeCursor(keyOf(last)) };
}
