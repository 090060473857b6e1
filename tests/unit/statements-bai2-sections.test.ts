import { describe, expect, it } from 'vitest';
import { parseBai2 } from '../../src/statements/index.ts';

/** BAI2 account sections as banks write them (shapes seen in public sample files), read through the parser. */
const file = (lines: string[]) => `${lines.join('\n')}\n`;

describe('BAI2: one account twice in one group', () => {
  it('is one report of the account: the items of both sections, each once', () => {
    const parsed = parseBai2(
      file([
        '01,0004,12345,261201,0829,001,80,1,2/',
        '02,12345,0004,1,261130,,USD,/',
        '03,111,USD,010,100000,,,015,130000,,/',
        '16,195,50000,0,R1,,ONE/',
        '49,280000,3/',
        '03,111,USD/',
        '16,495,20000,0,R2,,TWO/',
        '49,20000,3/',
        '98,300000,2,8/',
        '99,300000,1,10/',
      ]),
    );
    expect(parsed.accounts).toHaveLength(1);
    expect(parsed.accounts[0]!.entries.map((e) => [e.bankReference, e.direction, e.amountMinor])).toEqual([
      ['R1', 'credit', 50000n],
      ['R2', 'debit', 20000n],
    ]);
    expect(parsed.accounts[0]!.balances).toEqual([
      expect.objectContaining({ openingLedgerMinor: 100000n, closingLedgerMinor: 130000n }),
    ]);
  });
});

describe('BAI2: one account twice in one group with different balances', () => {
  it('refuses the file, naming both lines', () => {
    const read = () =>
      parseBai2(
        file([
          '01,0004,12345,261201,0829,001,80,1,2/',
          '02,12345,0004,1,261130,,USD,/',
          '03,111,USD,010,100000,,,015,130000,,/',
          '49,230000,2/',
          '03,111,USD,010,100000,,,015,140000,,/',
          '49,240000,2/',
          '98,470000,2,6/',
          '99,470000,1,8/',
        ]),
      );
    expect(read).toThrow(
      /line 5: account \*\*\*\*111 is reported twice in the group of line 2, with different balances for 2026-11-30 \(lines 3 and 5\)/,
    );
    expect(read).toThrow(expect.objectContaining({ code: 'statement_groups_conflict', httpStatus: 400 }));
  });
});

describe('BAI2: an account identifier (03) with an empty summary slot', () => {
  it('reads a slot whose type code, amount, item count and funds type are all blank as nothing', () => {
    // As a bank writes an account with no opening balance reported: `03,acct,USD,,,,,060,…`.
    const parsed = parseBai2(
      file([
        '01,GSBI,cont001,261201,1249,1,,,2/',
        '02,cont001,026015079,1,261130,2000,,/',
        '03,107049932,USD,,,,,060,6865898,,,100,1912,1,,400,000,0,/',
        '16,195,1912,,SPB1,1111,ACH Credit Payment/',
        '49,6869722,3/',
        '98,6869722,1,5/',
        '99,6869722,1,7/',
      ]),
    );
    expect(parsed.accounts[0]!.entries.map((e) => e.amountMinor)).toEqual([1912n]);
  });

  it('still refuses a slot with an amount but no type code', () => {
    const read = () =>
      parseBai2(
        file([
          '01,GSBI,cont001,261201,1249,1,,,2/',
          '02,cont001,026015079,1,261130,2000,,/',
          '03,107049932,USD,,500,,,060,6865898,,/',
          '49,6866398,2/',
          '98,6866398,1,4/',
          '99,6866398,1,6/',
        ]),
      );
    expect(read).toThrow(/line 3: type code: must be three digits, got ""/);
  });
});

describe('BAI2: several records on one line', () => {
  it('is refused naming the line and what to fix, not as a record out of place', () => {
    const read = () =>
      parseBai2(
        file([
          '01,103100195,103100195,261201,2112,4,,,2/   02,103100195,103100195,1,261130,2400,USD,2/',
          '03,1111111,,010,-3500,,,015,-3600,,/',
          '49,-7100,2/',
          '98,-7100,1,4/',
          '99,-7100,1,6/',
        ]),
      );
    expect(read).toThrow(
      'line 1: another record follows the "/" that ends this 01 record on the same line ("02,103100195,1031001…"): put each record on a line of its own',
    );
  });
});

describe('BAI2: an account identifier (03) continued after a trailing empty field', () => {
  it('reads the empty field that ends a continued physical record as filler, the 88 starting the next slot', () => {
    // As a bank writes every summary record with a comma before its slash: `015,35217175,,,/` then `88,040,…`.
    const parsed = parseBai2(
      file([
        '01,121140399,121140399,261201,0754,1,,,2/',
        '02,121140399,121140399,1,261130,,USD,2/',
        '03,1234567890,USD,010,34726979,,,015,35217175,,,/',
        '88,040,32742537,,,045,35217175,,,/',
        '88,100,490196,1,,400,000,0,/',
        '16,142,490196,,172629,/',
        '88,SOME PAYMENT ACH OFFSET',
        '49,138884258,6/',
        '98,138884258,1,8/',
        '99,138884258,1,10/',
      ]),
    );
    const account = parsed.accounts[0]!;
    expect(account.balances).toEqual([
      expect.objectContaining({
        openingLedgerMinor: 34726979n,
        closingLedgerMinor: 35217175n,
        openingAvailableMinor: 32742537n,
        closingAvailableMinor: 35217175n,
      }),
    ]);
    expect(account.entries.map((e) => [e.typeCode, e.amountMinor, e.bankReference, e.text])).toEqual([
      ['142', 490196n, '172629', 'SOME PAYMENT ACH OFFSET'],
    ]);
  });
});

describe('BAI2: a detail (16) continued inside its funds type fields', () => {
  it('reads distributions (D) and availability (S) that go on in the 88 record', () => {
    const parsed = parseBai2(
      file([
        '01,BANK,CUST,261201,0800,F1,80,,2/',
        '02,CUST,BANK,1,261130,,USD,2/',
        '03,111,USD,010,100000,,,015,100000,,/',
        '16,495,1000,D,2,0,400,1/',
        '88,600,B2,C2,SECOND/',
        '16,195,1000,S,500,300/',
        '88,200,B1,C1,FIRST/',
        '49,202000,6/',
        '98,202000,1,8/',
        '99,202000,1,10/',
      ]),
    );
    expect(
      parsed.accounts[0]!.entries.map((e) => [
        e.typeCode,
        e.bankReference,
        e.customerReference,
        e.text,
        e.availability,
      ]),
    ).toEqual([
      ['495', 'B2', 'C2', 'SECOND', { fundsType: 'D', day0: '400', day1: '600' }],
      ['195', 'B1', 'C1', 'FIRST', { fundsType: 'S', immediate: '500', oneDay: '300', twoOrMoreDays: '200' }],
    ]);
  });

  it('reads a record that ends with its funds type, the slash right after the last distribution', () => {
    const parsed = parseBai2(
      file([
        '01,BANK,CUST,261201,0800,F1,80,,2/',
        '02,CUST,BANK,1,261130,,USD,2/',
        '03,111,USD,010,100000,,,015,100000,,/',
        '16,495,1000,D,2,0,400,1,600/',
        '49,201000,3/',
        '98,201000,1,5/',
        '99,201000,1,7/',
      ]),
    );
    expect(parsed.accounts[0]!.entries.map((e) => [e.amountMinor, e.bankReference, e.availability])).toEqual([
      [1000n, '', { fundsType: 'D', day0: '400', day1: '600' }],
    ]);
  });
});
