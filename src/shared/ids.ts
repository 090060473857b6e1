import { createHash, randomUUID } from 'node:crypto';

/** The id's time part (48 bits of milliseconds, the version nibble after them) for the last time asked: a page of
 *  1000 inserts is made within a few milliseconds, so the hex formatting is done once per millisecond, not per id. */
let lastTime = Number.NaN;
let lastPrefix = '';

/**
 * UUIDv7: time-ordered, so primary keys cluster on insert and sort by creation. Used for rows we
 * create; the bank's own identifiers are stored as they arrive. Made from a random (v4) UUID with its
 * first 48 bits replaced by the time in milliseconds and its version nibble set to 7: the same 74 random
 * bits as drawing 16 bytes, but `randomUUID` serves them from a buffered pool (a draw per id, as before,
 * was 3 % of the worker's CPU at one id per stored transaction).
 */
export function uuidv7(now: number = Date.now()): string {
  if (now !== lastTime) {
    if (!Number.isFinite(now) || now < 0 || now >= 2 ** 48) {
      // An invalid Date (NaN) or an impossible time would make a malformed id that only the database refuses.
      throw new RangeError(`uuidv7 needs a time in milliseconds since 1970, got ${String(now)}`);
    }
    const time = Math.trunc(now).toString(16).padStart(12, '0').slice(-12);
    lastPrefix = `${time.slice(0, 8)}-${time.slice(8)}-7`;
    lastTime = now;
  }
  // randomUUID() is xxxxxxxx-xxxx-4xxx-[89ab]xxx-xxxxxxxxxxxx: keep everything after its version nibble.
  return `${lastPrefix}${randomUUID().slice(15)}`;
}

/**
 * A UUIDv7 of `time` whose other bits are a SHA-256 of `name`: the same name and time always give the same id. For
 * ids that must come out the same when the same thing is made again (a milestone's webhook event, made again after a
 * database restore: src/events/webhooks.ts), while still sorting by time like the others.
 */
export function uuidv7FromName(time: number, name: string): string {
  const hash = createHash('sha256').update(name, 'utf8').digest('hex');
  const variant = ((parseInt(hash.slice(3, 4), 16) & 0x3) | 0x8).toString(16);
  return `${uuidv7(time).slice(0, 15)}${hash.slice(0, 3)}-${variant}${hash.slice(4, 7)}-${hash.slice(7, 19)}`;
}

export function requestId(): string {
  return randomUUID();
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isUuid(value: string): boolean {
  return UUID.test(value);
}

/** Only spaces, or nothing: a fixed-width field of the bank's left empty. */
const BLANK = /^ *$/;

/**
 * Whether the bank gave an id: a text that is not empty and not only spaces (a `transactionId` written as blanks is a
 * fixed-width field holding none). Such a value is still stored exactly as sent; it identifies nothing.
 */
export function hasBankId(value: unknown): value is string {
  return typeof value === 'string' && !BLANK.test(value);
}
