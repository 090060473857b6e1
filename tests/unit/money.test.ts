import { describe, expect, it } from 'vitest';
import { formatMinorUnits, toMinorUnits } from '../../src/shared/money.ts';

describe('toMinorUnits', () => {
  it.each([
    ['32163647.96', 2, 3216364796n],
    ['0.1', 2, 10n],
    ['1013.31', 2, 101331n],
    ['3.0', 2, 300n],
    ['18157336', 2, 1815733600n],
    ['999999999999999', 0, 999999999999999n],
    ['9999999999999.99', 2, 999999999999999n],
    ['1.005', 3, 1005n],
    ['1.2E3', 2, 120000n],
    ['1e-2', 2, 1n],
    ['0', 2, 0n],
    ['-12.5', 2, -1250n],
  ])('%s at scale %i is %s', (text, scale, minor) => {
    expect(toMinorUnits(text, scale)).toBe(minor);
  });

  it('keeps digits a float would lose', () => {
    // 0.1 + 0.2 style error: as a JS number 4035087.29 * 100 = 403508728.99999994
    expect(toMinorUnits('4035087.29', 2)).toBe(403508729n);
    expect(toMinorUnits('90071992547409.93', 2)).toBe(9007199254740993n);
  });

  it('rejects more decimals than the currency has, and non-numbers', () => {
    expect(() => toMinorUnits('1.001', 2)).toThrow(/more than 2 decimal places/);
    expect(() => toMinorUnits('1.5', 0)).toThrow(/more than 0 decimal places/);
    expect(() => toMinorUnits('abc', 2)).toThrow(/not a decimal number/);
    expect(() => toMinorUnits('1.2.3', 2)).toThrow(/not a decimal number/);
  });

  it('accepts trailing zeros beyond the scale', () => {
    expect(toMinorUnits('5.000', 2)).toBe(500n);
    expect(toMinorUnits('7.00', 0)).toBe(7n);
  });
});

describe('formatMinorUnits', () => {
  it.each([
    [3216364796n, 2, '32163647.96'],
    [10n, 2, '0.10'],
    [5n, 3, '0.005'],
    [1234n, 0, '1234'],
    [-1250n, 2, '-12.50'],
    [0n, 2, '0.00'],
  ])('%s at scale %i is %s', (minor, scale, text) => {
    expect(formatMinorUnits(minor, scale)).toBe(text);
  });

  it('round-trips with toMinorUnits', () => {
    for (const text of ['0.01', '123456789012.34', '7.50']) {
      expect(formatMinorUnits(toMinorUnits(text, 2), 2)).toBe(text);
    }
  });
});
