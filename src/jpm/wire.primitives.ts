import { z } from 'zod';
import { isInstant, isIsoDate } from '../shared/time.ts';
import { toMinorUnits } from '../shared/money.ts';

/**
 * Building blocks of the wire schemas. Bank JSON is parsed with `parseJsonLossless`, so every JSON
 * number arrives here as its exact source text (a string). Amounts stay text (validated by regex and
 * turned into bigint minor units only by normalization, `shared/money.ts`); small integers such as `decimalLocation`
 * or page numbers are safe as JS numbers and are converted here.
 */

/** JSON number grammar, optionally signed (balances can be negative: overdrawn accounts). */
export const SIGNED_DECIMAL = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?$/;
/**
 * Transaction amounts are unsigned; the direction is `debitCreditCode`. A zero written with a minus sign (`-0.00`, as
 * a serializer negating zero writes it) is zero, not a negative amount: taken, its text kept as sent.
 */
export const UNSIGNED_DECIMAL = /^(?:(0|[1-9]\d*)(\.\d+)?|-0(\.0+)?)([eE][+-]?\d+)?$/;
export const INTEGER = /^(0|[1-9]\d*)$/;
/** `debitCreditCode` as a money fact: CREDIT or DEBIT, in any case. */
export const DIRECTION = /^(credit|debit)$/i;
/** `loggedAt` is local time without a zone and with microseconds (`2022-09-30T11:00:12.722739`). */
export const LOCAL_OR_INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:?\d{2})?$/;

/** ISO 4217 alphabetic code. */
export const CURRENCY_CODE = /^[A-Z]{3}$/;

/** Largest scale `toMinorUnits` supports; J.P. Morgan uses 0, 2 and 3 in practice. */
export const MAX_DECIMAL_LOCATION = 18;

/** A short, value-free description of what arrived, for error messages. */
export function describeInput(input: unknown): string {
  if (input === undefined) {
    return 'nothing';
  }
  if (input === null) {
    return 'null';
  }
  if (Array.isArray(input)) {
    return 'an array';
  }
  return typeof input === 'object' ? 'an object' : `a ${typeof input}`;
}

/** Amount texts are safe to echo in a reject reason (they identify nobody); clip long garbage. */
function quote(input: unknown): string {
  const text = typeof input === 'string' ? input : describeInput(input);
  return JSON.stringify(text.length > 40 ? `${text.slice(0, 40)}…` : text);
}

function decimal(pattern: RegExp, what: string) {
  return z.string().regex(pattern, { error: (iss) => `must be ${what}, got ${quote(iss.input)}` });
}

/** A signed decimal amount (JSON number text), e.g. balances. */
export const signedDecimalText = decimal(SIGNED_DECIMAL, 'a decimal number');
/** An unsigned decimal amount (JSON number text), e.g. a transaction's `amount`. */
export const unsignedDecimalText = decimal(UNSIGNED_DECIMAL, 'an unsigned decimal number');

/** A JSON number's text in parts: sign, digits without the point, and the power of ten they are scaled by. */
const NUMBER_PARTS = /^(-?)(0|[1-9]\d*)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/;

/**
 * The value of a JSON number text when it is a whole number ≥ 0 (`2`, `2.0`, `1000.00`, `1e2`, `30e-1`, `-0`: JSON-wise
 * the same number as its plain spelling), as a JS number; `'fraction'` when it is a number with a fraction (`2.5`);
 * `undefined` when it is no JSON number or is negative. Exact: decided on the digits, never through a float, and
 * bounded (a value past 10^20 is returned as `Infinity`, over every limit here, without building its digits).
 */
export function wholeNumberOf(text: string): number | 'fraction' | undefined {
  if (INTEGER.test(text)) {
    // Plain digits (every count J.P. Morgan writes as normal): the value they spell, without taking the text apart.
    return text.length > 21 ? Infinity : Number(text);
  }
  const m = NUMBER_PARTS.exec(text);
  if (m === null) {
    return undefined;
  }
  const [, sign, int, frac = '', exp = '0'] = m;
  let digits = `${int}${frac}`.replace(/^0+/, '');
  if (digits === '') {
    return 0;
  }
  if (sign === '-') {
    return undefined;
  }
  // Value = digits × 10^power. An exponent too long to be a JS number is beyond any bound: past 10^20 or a fraction.
  const exponent = exp.replace(/^[+-]?0*/, '').length > 6 ? (exp.startsWith('-') ? -1e7 : 1e7) : Number(exp);
  let power = exponent - frac.length;
  while (power < 0 && digits.endsWith('0')) {
    digits = digits.slice(0, -1);
    power += 1;
  }
  if (power < 0) {
    return 'fraction';
  }
  return digits.length + power > 21 ? Infinity : Number(`${digits}${'0'.repeat(power)}`);
}

/**
 * A non-negative integer (JSON number text) up to `max`, returned as a JS number. A fraction of zero (`2.0`, `1e2`) is
 * the same number and taken; a real fraction (`2.5`) is refused as not a whole number.
 */
export function intText(max: number) {
  return z.string().transform((text, ctx) => {
    const n = wholeNumberOf(text);
    if (n === undefined || n === 'fraction') {
      const what = n === 'fraction' ? 'a whole number' : 'a non-negative integer';
      ctx.addIssue({ code: 'custom', message: `must be ${what}, got ${quote(text)}` });
      return z.NEVER;
    }
    if (n > max) {
      ctx.addIssue({ code: 'custom', message: `must be at most ${max}` });
      return z.NEVER;
    }
    return n;
  });
}

/** Digits kept as text (a check number can exceed 2^53 in theory, and we never compute with it). */
export const digitsText = z.string().regex(INTEGER, { error: (iss) => `must be digits, got ${quote(iss.input)}` });

export const isoDate = z
  .string()
  .refine(isIsoDate, { error: (iss) => `must be a calendar date YYYY-MM-DD, got ${quote(iss.input)}` });
export const instantText = z
  .string()
  .refine(isInstant, { error: (iss) => `must be an ISO-8601 timestamp with zone, got ${quote(iss.input)}` });
export const localTimestampText = z
  .string()
  .regex(LOCAL_OR_INSTANT, { error: (iss) => `must be an ISO-8601 timestamp, got ${quote(iss.input)}` });

/** `{code, description, decimalLocation, currencySequence}` as on every record and balance account. */
export const currencySchema = z.looseObject({
  code: z
    .string()
    .regex(CURRENCY_CODE, { error: (iss) => `must be a 3-letter ISO 4217 code, got ${quote(iss.input)}` }),
  description: z.string(),
  decimalLocation: intText(MAX_DECIMAL_LOCATION),
  currencySequence: intText(1_000_000),
});

/**
 * Adds an issue at `path` when `text` has more decimals than the currency allows (`3.001` in USD):
 * such an amount cannot be represented in minor units, and rounding it would invent money.
 */
export function checkScale(
  ctx: z.RefinementCtx,
  path: (string | number)[],
  text: string | null | undefined,
  decimalLocation: number,
): void {
  // Text that is not a decimal at all already has its own issue from the field's regex.
  if (text === null || text === undefined || !SIGNED_DECIMAL.test(text)) {
    return;
  }
  try {
    toMinorUnits(text, decimalLocation);
  } catch (err) {
    // An exponent past ±40 (`1e400`) is no amount at all, not one with too many decimals: say which.
    const exponent = err instanceof Error && err.message.includes('exponent out of range');
    ctx.addIssue({
      code: 'custom',
      path,
      message: exponent
        ? `amount ${quote(text)} has an exponent out of range (at most 40 either way)`
        : `amount ${quote(text)} does not fit the currency's ${decimalLocation} decimal places`,
    });
  }
}
