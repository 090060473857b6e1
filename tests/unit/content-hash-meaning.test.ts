import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalJson, canonicalNumber } from '../../src/normalization/identity.ts';
import { TRANSACTION_NUMBERS } from '../../src/normalization/transactions.ts';

/** A JSON spelling of the decimal `digits` × 10^`power` (`digits` without a sign), chosen by `how`. */
function spell(sign: string, digits: string, power: number, how: number, zeros: number): string {
  const pad = '0'.repeat(zeros);
  switch (how % 3) {
    case 0:
      // Mantissa and exponent, leading zeros moved into the fraction: `1005e-1` as `100.5e0` or `1005.000E-1`.
      return `${sign}${digits}${zeros > 0 ? `.${pad}` : ''}E${power}`;
    case 1: {
      // Plain decimal (the power applied), trailing zeros after the point.
      if (power >= 0) {
        return `${sign}${digits}${'0'.repeat(power)}${zeros > 0 ? `.${pad}` : ''}`;
      }
      const all = digits.padStart(-power + 1, '0');
      return `${sign}${all.slice(0, power)}.${all.slice(power)}${pad}`;
    }
    default:
      // One digit before the point.
      return `${sign}${digits[0]}${digits.length > 1 || zeros > 0 ? `.${digits.slice(1)}${pad}` : ''}e${power + digits.length - 1}`;
  }
}

const digits = fc.stringMatching(/^[1-9]\d{0,20}$/);

describe('a JSON number by its value', () => {
  it('gives one spelling for every spelling of a decimal, and another for another value', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('', '-'),
        digits,
        fc.integer({ min: -30, max: 30 }),
        fc.nat(),
        fc.nat(),
        fc.nat({ max: 20 }),
        fc.nat({ max: 20 }),
        (sign, d, power, how1, how2, z1, z2) => {
          const a = spell(sign, d, power, how1, z1);
          const b = spell(sign, d, power, how2, z2);
          expect(canonicalNumber(a), `${a} / ${b}`).toBe(canonicalNumber(b));
          // One more unit in the last digit is another value.
          const other = spell(sign, `${d}1`, power - 1, how2, z2);
          expect(canonicalNumber(other), `${a} / ${other}`).not.toBe(canonicalNumber(a));
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('reads zeros as zero and leaves what is not a JSON number as it is', () => {
    expect(['0', '-0', '0.000', '0e7', '-0.0E-3'].map(canonicalNumber)).toEqual(['0', '0', '0', '0', '0']);
    expect(['100.5', '100.50', '1.005e2', '1005E-1', '0.1005e+3'].map(canonicalNumber)).toEqual(
      Array(5).fill('1005e-1'),
    );
    expect(canonicalNumber('1e99999999999999999999')).toBe('1e99999999999999999999');
    expect(['007', '1.', '.5', '1e', 'abc', ' 1', ''].map(canonicalNumber)).toEqual([
      '007',
      '1.',
      '.5',
      '1e',
      'abc',
      ' 1',
      '',
    ]);
  });
});

describe('a record as its meaning (canonicalJson)', () => {
  it('reads the number members by value, any member order, a null member as absent; everything else exactly', () => {
    const a = {
      amount: '100.5',
      currency: { code: 'USD', decimalLocation: 2 },
      account: { currency: { decimalLocation: '2.0' } },
      supplementalText: '7.50',
      lastUpdate: null,
      list: [null, '1.50'],
      __proto__x: 1,
    };
    const b = {
      list: [null, '1.50'],
      __proto__x: 1,
      account: { currency: { decimalLocation: '2' } },
      supplementalText: '7.50',
      currency: { decimalLocation: '2.00', code: 'USD' },
      amount: '1.005e2',
    };
    expect(canonicalJson(a, TRANSACTION_NUMBERS)).toBe(canonicalJson(b, TRANSACTION_NUMBERS));
    for (const changed of [
      { ...b, supplementalText: '7.5' },
      { ...b, list: ['1.50'] },
      { ...b, list: [null, '1.5'] },
      { ...b, amount: '100.51' },
      { ...b, lastUpdate: '' },
      { ...b, currency: { decimalLocation: '2', code: 'usd' } },
    ]) {
      expect(canonicalJson(changed, TRANSACTION_NUMBERS)).not.toBe(canonicalJson(a, TRANSACTION_NUMBERS));
    }
    // A member named `__proto__` is a member like any other.
    const proto = JSON.parse('{"__proto__": {"amount": "1"}, "amount": "1.0"}') as unknown;
    expect(canonicalJson(proto, TRANSACTION_NUMBERS)).toBe('{"__proto__":{"amount":"1"},"amount":"1"}');
  });
});
