import { ValidationError } from './errors.ts';

/**
 * Calendar dates are `YYYY-MM-DD` strings (a `IsoDate`); they are never `Date` objects, so a machine's
 * time zone cannot shift a business day. Arithmetic happens on UTC midnight internally.
 */
export type IsoDate = string;

const DAY_MS = 86_400_000;

/** The number the ASCII digits of `value` from `from` to `to` (exclusive) spell, or -1 if one is no digit. */
function digits(value: string, from: number, to: number): number {
  let n = 0;
  for (let i = from; i < to; i++) {
    const d = value.charCodeAt(i) - 48;
    if (d < 0 || d > 9) {
      return -1;
    }
    n = n * 10 + d;
  }
  return n;
}

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/**
 * A real calendar date written `YYYY-MM-DD` (proleptic Gregorian, years 0100 to 9999). Checked by arithmetic:
 * it runs for every date of every bank record, and a `Date` per call was a visible share of ingestion's CPU.
 * Years below 100 are refused, as `Date.UTC` (which maps them to 19xx) always made this check refuse them.
 */
export function isIsoDate(value: string): boolean {
  return value.length === 10 && isDateAt(value, 0);
}

/** Whether `value` holds a date `isIsoDate` takes at `at` (its ten characters from there). */
function isDateAt(value: string, at: number): boolean {
  if (value.charCodeAt(at + 4) !== 45 || value.charCodeAt(at + 7) !== 45) {
    return false;
  }
  const year = digits(value, at, at + 4);
  const month = digits(value, at + 5, at + 7);
  const day = digits(value, at + 8, at + 10);
  if (year < 100 || month < 1 || month > 12 || day < 1) {
    return false;
  }
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  return day <= (month === 2 && leap ? 29 : (DAYS_IN_MONTH[month - 1] as number));
}

/** What a date field takes (isIsoDate), said in field errors: `0050-01-01` is written right but out of range. */
export const ISO_DATE_EXPECTED = 'expected a calendar date YYYY-MM-DD from 0100-01-01 on';

/**
 * `YYYY-MM-DDThh:mm:ss[.f…]` and a zone (`Z`, `±hh:mm` or `±hhmm`): the form of J.P. Morgan's instants. Without
 * capturing groups: a form that matches puts every part at a place `isInstant` reads by position.
 */
const INSTANT_FORM = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:?\d{2})$/;

/**
 * An ISO-8601 instant with a zone that names a real instant: its date a calendar date (`isIsoDate`), hour 00-23,
 * minute 00-59, second 00-60 (a leap second), an offset of at most 15:59 (what Postgres takes). A text of the form
 * that is none (`2026-02-30T14:60:00+25:00`) is refused, so it never reaches a `timestamptz` column. Runs three times
 * for every bank record: once the form matched, the parts are read by position (the hour at 11, the minute at 14, the
 * second at 17, the offset's minutes last and its hours before them, past a colon if there is one), never as the
 * substrings of a match.
 */
export function isInstant(value: string): boolean {
  if (!INSTANT_FORM.test(value) || !isDateAt(value, 0)) {
    return false;
  }
  if (digits(value, 11, 13) > 23 || digits(value, 14, 16) > 59 || digits(value, 17, 19) > 60) {
    return false;
  }
  const end = value.length;
  if (value.charCodeAt(end - 1) === 90 /* Z */) {
    return true;
  }
  const hoursAt = value.charCodeAt(end - 3) === 58 /* : */ ? end - 5 : end - 4;
  return digits(value, hoursAt, hoursAt + 2) <= 15 && digits(value, end - 2, end) <= 59;
}

export function assertIsoDate(value: string, field = 'date'): IsoDate {
  if (!isIsoDate(value)) {
    throw new ValidationError(
      `${field} must be a calendar date YYYY-MM-DD from 0100-01-01 to 9999-12-31, got ${JSON.stringify(value)}`,
      [{ path: field, message: ISO_DATE_EXPECTED }],
    );
  }
  return value;
}

function toEpochDay(date: IsoDate): number {
  return Date.parse(`${date}T00:00:00Z`) / DAY_MS;
}

function fromEpochDay(day: number): IsoDate {
  return new Date(day * DAY_MS).toISOString().slice(0, 10);
}

export function addDays(date: IsoDate, days: number): IsoDate {
  return fromEpochDay(toEpochDay(date) + days);
}

/** Whole days from `from` to `to` (negative when `to` is earlier). */
export function diffDays(from: IsoDate, to: IsoDate): number {
  return toEpochDay(to) - toEpochDay(from);
}

/** Every date from `from` to `to`, both included. */
export function eachDay(from: IsoDate, to: IsoDate): IsoDate[] {
  const out: IsoDate[] = [];
  for (let d = toEpochDay(from), end = toEpochDay(to); d <= end; d++) {
    out.push(fromEpochDay(d));
  }
  return out;
}

/** 0 = Sunday … 6 = Saturday. */
export function dayOfWeek(date: IsoDate): number {
  return new Date(`${date}T00:00:00Z`).getUTCDay();
}

export function isWeekend(date: IsoDate): boolean {
  const d = dayOfWeek(date);
  return d === 0 || d === 6;
}

/**
 * One formatter per kind and time zone: making an `Intl.DateTimeFormat` costs far more than formatting with it
 * (about 45 µs to make one, 2 µs to format with it; every sync window asked for a few). Time zones are the accounts'
 * few, but Intl also accepts other spellings of a zone ('america/new_york', offsets such as '+01:00'), each a key of
 * its own at about 37 KB a formatter: past `MAX_FORMATTERS` the cache starts again, so odd spellings cost time,
 * never unbounded memory. No zone (undefined from an untyped caller) is the process's zone, which may change: never
 * cached.
 */
const formatters = new Map<string, Intl.DateTimeFormat>();
const MAX_FORMATTERS = 256;

function makeFormatter(kind: 'date' | 'minute', timeZone: string | undefined): Intl.DateTimeFormat {
  return kind === 'date'
    ? new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' })
    : new Intl.DateTimeFormat('en-GB', { timeZone, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
}

function formatter(kind: 'date' | 'minute', timeZone: string | undefined): Intl.DateTimeFormat {
  if (timeZone === undefined) {
    return makeFormatter(kind, timeZone);
  }
  const key = `${kind}|${timeZone}`;
  let f = formatters.get(key);
  if (f === undefined) {
    f = makeFormatter(kind, timeZone);
    if (formatters.size >= MAX_FORMATTERS) {
      formatters.clear();
    }
    formatters.set(key, f);
  }
  return f;
}

/** How many formatters are cached (for tests: the cache stays bounded). */
export function cachedFormatterCount(): number {
  return formatters.size;
}

/** The calendar date at `instant` in an IANA time zone (the account's business day). */
export function localDate(instant: Date, timeZone: string): IsoDate {
  const parts = formatter('date', timeZone).formatToParts(instant);
  const get = (t: string) => parts.find((p) => p.type === t)?.value ?? '';
  return `${get('year')}-${get('month')}-${get('day')}`;
}

/** Minutes since local midnight at `instant` in `timeZone`. */
export function localMinuteOfDay(instant: Date, timeZone: string): number {
  const parts = formatter('minute', timeZone).formatToParts(instant);
  const get = (t: string) => Number(parts.find((p) => p.type === t)?.value ?? '0');
  return get('hour') * 60 + get('minute');
}

export function isValidTimeZone(timeZone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone });
    return true;
  } catch {
    return false;
  }
}

/**
 * Splits [from, to] into consecutive windows of at most `maxDays` days (J.P. Morgan allows 5 days per
 * transaction request and 31 per balance request).
 */
export function splitRange(from: IsoDate, to: IsoDate, maxDays: number): { from: IsoDate; to: IsoDate }[] {
  if (diffDays(from, to) < 0) {
    throw new ValidationError(`range start ${from} is after its end ${to}`);
  }
  const windows: { from: IsoDate; to: IsoDate }[] = [];
  for (let start = from; diffDays(start, to) >= 0; start = addDays(start, maxDays)) {
    const end = addDays(start, maxDays - 1);
    windows.push({ from: start, to: diffDays(end, to) < 0 ? to : end });
  }
  return windows;
}
