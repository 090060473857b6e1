import { describe, expect, it } from 'vitest';
import { MAX_MINOR_UNITS, toMinorUnits, toStorableMinorUnits } from '../../src/shared/money.ts';
import { parseBai2 } from '../../src/statements/index.ts';

describe('amounts that must fit a stored row', () => {
  it('toStorableMinorUnits takes every amount up to a bigint and refuses the next one; toMinorUnits stays a plain converter', () => {
    expect(toStorableMinorUnits('92233720368547758.07', 2)).toBe(MAX_MINOR_UNITS);
    expect(() => toStorableMinorUnits('92233720368547758.08', 2)).toThrow(/beyond what can be stored/);
    expect(toMinorUnits('10000.5', 18)).toBe(10000500000000000000000n);
  });

  it('a BAI2 amount beyond a bigint refuses the file while it is read, naming the line', () => {
    const file = [
      '01,CUST,BANK,261201,0800,1,80,,2/',
      '02,CUST,BANK,1,261130,,USD,2/',
      '03,000000000000001,USD,015,100,,/',
      '16,195,99999999999999999999,Z,REF1,CUST1/',
      '49,100000000000000000099,3/',
      '98,100000000000000000099,1,5/',
      '99,100000000000000000099,1,7/',
    ].join('\n');
    expect(() => parseBai2(file)).toThrow(/line 4: .*beyond what can be stored/);
  });
});
