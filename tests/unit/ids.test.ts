import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isUuid, uuidv7 } from '../../src/shared/ids.ts';

describe('uuidv7', () => {
  it('carries the time in its first 48 bits, version 7 and the RFC 9562 variant', () => {
    const id = uuidv7(0x0123456789ab);
    expect(id).toMatch(/^01234567-89ab-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(isUuid(id)).toBe(true);
    expect(uuidv7(0)).toMatch(/^00000000-0000-7/);
  });

  it('refuses a time it cannot carry (an invalid Date, before 1970, past 48 bits) instead of making a malformed id', () => {
    for (const t of [Number.NaN, Number.POSITIVE_INFINITY, -1, 2 ** 48, new Date('not a date').getTime()]) {
      expect(() => uuidv7(t)).toThrow(RangeError);
    }
    expect(uuidv7(2 ** 48 - 1)).toMatch(/^ffffffff-ffff-7/);
  });

  it('sorts by the millisecond it was made in and is never the same twice', () => {
    const t = Date.UTC(2026, 11, 6, 7, 0, 0);
    const ids = Array.from({ length: 10_000 }, (_, i) => uuidv7(t + Math.floor(i / 100)));
    expect(new Set(ids).size).toBe(ids.length);
    for (let i = 100; i < ids.length; i += 100) {
      expect((ids[i - 1] as string) < (ids[i] as string)).toBe(true);
    }
    for (const id of ids) {
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    }
  });
  it('writes the time as it always did, for every time asked, again or after another (property)', () => {
    // The time part as it was made per id before the last millisecond's part was kept.
    const timePart = (now: number) => {
      const time = Math.trunc(now).toString(16).padStart(12, '0').slice(-12);
      return `${time.slice(0, 8)}-${time.slice(8)}-7`;
    };
    const time = fc.oneof(
      fc.integer({ min: 0, max: 2 ** 48 - 1 }),
      fc.double({ min: 0, max: 2 ** 48 - 1, noNaN: true }),
      fc.constantFrom(0, -0, 1.5, 1.9, 2, 2 ** 48 - 1),
    );
    fc.assert(
      fc.property(fc.array(time, { minLength: 1, maxLength: 8 }), (times) => {
        for (const t of [...times, ...times.toReversed(), ...times]) {
          const id = uuidv7(t);
          expect(id.slice(0, 15)).toBe(timePart(t));
          expect(isUuid(id)).toBe(true);
        }
      }),
      { numRuns: 2000 },
    );
    // A refused time is refused whatever came before it.
    uuidv7(5);
    for (const t of [Number.NaN, -1, 2 ** 48]) {
      expect(() => uuidv7(t)).toThrow(RangeError);
    }
  });
});
