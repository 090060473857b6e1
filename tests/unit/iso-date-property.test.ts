import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isIsoDate } from '../../src/shared/time.ts';

/** The definition: a YYYY-MM-DD text that a UTC Date built from its parts writes back unchanged. */
function byDate(value: string): boolean {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value);
  if (!m) {
    return false;
  }
  return new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]))).toISOString().slice(0, 10) === value;
}

const pad = (n: number, w: number) => String(n).padStart(w, '0');

describe('isIsoDate', () => {
  it('agrees with the Date round trip on dates near and past every month end, leap years, small years and odd text', () => {
    const dateLike = fc
      .tuple(fc.integer({ min: 0, max: 9999 }), fc.integer({ min: 0, max: 13 }), fc.integer({ min: 0, max: 32 }))
      .map(([y, m, d]) => `${pad(y, 4)}-${pad(m, 2)}-${pad(d, 2)}`);
    const odd = fc.string({ unit: fc.constantFrom('0', '1', '2', '9', '-', ' ', 'a', '٣', '/'), maxLength: 12 });
    fc.assert(
      fc.property(fc.oneof(dateLike, odd), (value) => {
        expect(isIsoDate(value), value).toBe(byDate(value));
      }),
      { numRuns: 20_000 },
    );
  });

  it('knows the Gregorian leap rule and the calendar edges', () => {
    for (const [value, ok] of [
      ['2024-02-29', true],
      ['2023-02-29', false],
      ['2000-02-29', true],
      ['1900-02-29', false],
      ['2026-04-31', false],
      ['2026-12-31', true],
      ['0099-01-01', false],
      ['0100-01-01', true],
      ['2026-1-01', false],
      ['2026-01-01 ', false],
      ['2026-00-10', false],
      ['2026-13-01', false],
    ] as const) {
      expect(isIsoDate(value), value).toBe(ok);
    }
  });
});
