import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { wholeNumberOf } from '../../src/jpm/wire.primitives.ts';
import { isInstant, isIsoDate } from '../../src/shared/time.ts';

/**
 * The checks every bank record runs (three instants, two counts) read their text by position now; these are their
 * former definitions, the parts taken from a regular expression's match, which they must agree with on every text.
 */
function instantByMatch(value: string): boolean {
  const m = /^(\d{4}-\d{2}-\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.\d{1,9})?(?:Z|[+-](\d{2}):?(\d{2}))$/.exec(value);
  if (m === null || !isIsoDate(m[1]!)) {
    return false;
  }
  const [hour, minute, second] = [Number(m[2]), Number(m[3]), Number(m[4])];
  if (hour > 23 || minute > 59 || second > 60) {
    return false;
  }
  return m[5] === undefined || (Number(m[5]) <= 15 && Number(m[6]) <= 59);
}

function wholeNumberByParts(text: string): number | 'fraction' | undefined {
  const m = /^(-?)(0|[1-9]\d*)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/.exec(text);
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

const pad = (n: number, w: number) => String(n).padStart(w, '0');

describe('isInstant', () => {
  it('agrees with its definition by match on instants near every bound, with and without offsets, and odd text', () => {
    const date = fc
      .tuple(fc.integer({ min: 0, max: 9999 }), fc.integer({ min: 0, max: 13 }), fc.integer({ min: 0, max: 32 }))
      .map(([y, m, d]) => `${pad(y, 4)}-${pad(m, 2)}-${pad(d, 2)}`);
    const two = fc.integer({ min: 0, max: 99 }).map((n) => pad(n, 2));
    const fraction = fc.oneof(
      fc.constant(''),
      fc.integer({ min: 0, max: 12 }).map((k) => `.${'7'.repeat(k)}`),
    );
    const zone = fc.oneof(
      fc.constantFrom('Z', 'z', '', '+', '-0', '+1:00', '+01:0', '+01:000', '+0100 '),
      fc.tuple(fc.constantFrom('+', '-'), two, fc.constantFrom(':', '', '::'), two).map((p) => p.join('')),
    );
    const instantLike = fc
      .tuple(date, fc.constantFrom('T', 't', ' '), two, two, two, fraction, zone)
      .map(([d, t, h, mi, s, f, z]) => `${d}${t}${h}:${mi}:${s}${f}${z}`);
    const odd = fc.string({
      unit: fc.constantFrom('0', '1', '2', '5', '9', '-', '+', ':', '.', 'T', 'Z', '٣'),
      maxLength: 30,
    });
    fc.assert(
      fc.property(fc.oneof(instantLike, odd), (value) => {
        expect(isInstant(value), value).toBe(instantByMatch(value));
      }),
      { numRuns: 30_000 },
    );
  });
});

describe('wholeNumberOf', () => {
  it('agrees with its definition by parts on plain digits, long digits, fractions, exponents and odd text', () => {
    const digits = fc.string({ unit: fc.constantFrom('0', '1', '2', '5', '9'), minLength: 1, maxLength: 30 });
    const numberLike = fc
      .tuple(
        fc.constantFrom('', '-'),
        digits,
        fc.oneof(
          fc.constant(''),
          digits.map((d) => `.${d}`),
        ),
        fc.oneof(
          fc.constant(''),
          fc.tuple(fc.constantFrom('e', 'E'), fc.constantFrom('', '+', '-'), digits).map((p) => p.join('')),
        ),
      )
      .map((p) => p.join(''));
    // Plain digits around 21 of them, past which a value is taken as over every bound (Infinity).
    const long = fc
      .tuple(fc.integer({ min: 1, max: 9 }), fc.integer({ min: 14, max: 24 }), digits)
      .map(([first, n, rest]) => `${first}${rest.repeat(n).slice(0, n)}`.padEnd(n + 1, '0'));
    const odd = fc.string({ unit: fc.constantFrom('0', '1', '9', '-', '+', '.', 'e', ' ', '٣'), maxLength: 12 });
    fc.assert(
      fc.property(fc.oneof(numberLike, long, odd), (text) => {
        expect(wholeNumberOf(text), text).toBe(wholeNumberByParts(text));
      }),
      { numRuns: 30_000 },
    );
  });
});
