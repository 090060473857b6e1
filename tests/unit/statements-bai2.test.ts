import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Bai2Stream } from '../../src/statements/bai2.ts';
import {
  directionOfTypeCode,
  parseBai2,
  parseStatement,
  StatementFileError,
  normalizeStatementAccount,
} from '../../src/statements/index.ts';

const UGLY = readFileSync('tests/fixtures/statements/ugly.bai2', 'utf8');

describe('BAI2: the hand-made ugly file', () => {
  const parsed = parseBai2(UGLY);
  const usd = parsed.accounts[0]!;
  const jpy = parsed.accounts[1]!;

  it('reads both groups, the defaulted currency and the continued 03 record', () => {
    expect(parsed.fileId).toBe('FILE42');
    expect(parsed.accounts.map((a) => [a.accountNumber, a.currency])).toEqual([
      ['000000123456789', 'USD'],
      ['000000987654321', 'JPY'],
    ]);
    expect(usd.balances).toEqual([
      expect.objectContaining({
        date: '2026-11-30',
        kind: 'final',
        decimalLocation: 2,
        openingLedgerMinor: 1000000n,
        closingLedgerMinor: 1210050n,
        openingAvailableMinor: 990000n,
        closingAvailableMinor: null,
      }),
    ]);
    expect(jpy.balances).toEqual([
      expect.objectContaining({ decimalLocation: 0, openingLedgerMinor: -5000n, closingLedgerMinor: -3000n }),
    ]);
  });

  it('reads every detail with its funds type, references and text, amounts exact', () => {
    expect(
      usd.entries.map((e) => [e.typeCode, e.direction, e.amountMinor, e.bankReference, e.customerReference, e.text]),
    ).toEqual([
      ['195', 'credit', 250000n, '1234567890AB', 'INV-001', 'FED WIRE CREDIT'],
      ['698', 'debit', 2500n, 'BANKREF0001', '', 'SERVICE CHARGE'],
      ['698', 'debit', 2500n, 'BANKREF0001', '', 'SERVICE CHARGE'],
      ['698', 'debit', 2500n, 'BANKREF0001', '', 'SERVICE CHARGE'],
      ['495', 'debit', 40000n, '9876543210CD', 'PAYROLL 11/30', ''],
      ['399', 'credit', 7550n, '555', 'CUST/REF', 'MISC, WITH COMMA / AND SLASH'],
    ]);
    expect(usd.entries[0]!.valueDate).toBe('2026-11-30');
    expect(usd.entries[0]!.availability).toEqual({ fundsType: 'V', valueDate: '2026-11-30', valueTime: '1200' });
    expect(usd.entries[4]!.availability).toEqual({
      fundsType: 'S',
      immediate: '40000',
      oneDay: '0',
      twoOrMoreDays: '0',
    });
    expect(usd.entries[5]!.availability).toEqual({ fundsType: 'D', day1: '5000', day2: '2550' });
    expect(jpy.entries.map((e) => [e.amountMinor, e.decimalLocation, e.availability])).toEqual([[2000n, 0, null]]);
  });

  it('joins an 88 record that continues a line wrapped at 80 columns, and reads the narrative tags', () => {
    expect(usd.entries[0]!.narrative).toEqual({
      'YOUR REF': 'INV-001',
      'B/O CUSTOMER': 'ACME CORP 1 MAIN STREET NEW YORK NY 10001 UNITED STATES OF AMERICA',
    });
    expect(usd.entries[0]!.at.line).toBe(5);
  });

  it('keeps a detail whose type code names no direction as a reject of that record, with its line', () => {
    expect(usd.rejects).toEqual([
      expect.objectContaining({ at: { line: 14 }, fields: ['typeCode'], bookingDate: '2026-11-30' }),
    ]);
    expect(usd.rejects[0]!.reason).toContain('"050"');
  });

  it('three identical fees stay three: occurrences 1, 2, 3 of one fingerprint', () => {
    const batch = normalizeStatementAccount(parsed, usd, '000000123456789');
    const fees = batch.records.filter((r) => r.baiTypeCode === '698').map((r) => r.fingerprintKey);
    expect(new Set(fees.map((k) => k.slice(0, k.lastIndexOf(':')))).size).toBe(1);
    expect(fees.map((k) => k.split(':')[2])).toEqual(['1', '2', '3']);
    expect(batch.source).toBe('bai2');
    expect(batch.rejects).toEqual([expect.objectContaining({ index: 14, fields: ['typeCode'] })]);
  });
});

describe('BAI2: a blocked file (fixed 80-byte records, no line ends)', () => {
  it('reads the same as the file with line ends', () => {
    const blocked = UGLY.split('\r\n')
      .filter((l) => l !== '')
      .map((l) => l.trimEnd().padEnd(80, ' '))
      .join('');
    expect(blocked).not.toMatch(/[\r\n]/);
    const a = parseBai2(UGLY);
    const b = parseBai2(blocked);
    expect(b.accounts.map((x) => x.entries.map((e) => [e.amountMinor, e.text, e.narrative, e.at.line]))).toEqual(
      a.accounts.map((x) => x.entries.map((e) => [e.amountMinor, e.text, e.narrative, e.at.line])),
    );
    expect(b.accounts.map((x) => x.balances)).toEqual(a.accounts.map((x) => x.balances));
  });
});

describe('BAI2: a DOS end-of-file byte (Ctrl-Z, 0x1A) after the file trailer', () => {
  const body = UGLY.replace(/\s+$/, '');
  const expected = parseBai2(UGLY);

  it('is the end of the file, after the 99 record, after its line end, or in a chunk of its own', () => {
    for (const text of [`${body}\x1a`, `${body}\r\n\x1a`, `${body}\n\x1a`]) {
      expect(parseBai2(text)).toEqual(expected);
      expect(parseStatement(text)).toEqual(expected);
    }
    const stream = new Bai2Stream();
    stream.write(`${body}\r\n`);
    stream.write('\x1a');
    expect(stream.end()).toEqual(expected);
  });

  it('anywhere but the very end is still refused', () => {
    expect(() => parseBai2(`${body}\r\n\x1a\r\n`)).toThrow(/not a BAI2 record/);
    expect(() => parseBai2(`${body}\r\n\x1a\x1a`)).toThrow(/not a BAI2 record/);
    expect(() => parseBai2(UGLY.replace('\r\n', '\r\n\x1a\r\n'))).toThrow(/line 2: not a BAI2 record/);
  });
});

describe('BAI2: what refuses a file', () => {
  const lines = UGLY.split('\r\n');
  const refused = (text: string) => {
    try {
      parseBai2(text);
    } catch (err) {
      expect(err).toBeInstanceOf(StatementFileError);
      return err as StatementFileError;
    }
    throw new Error('the file was accepted');
  };

  it('an account, group or file control total that does not add up, naming the trailer line', () => {
    for (const [prefix, line] of [
      ['49,', 15],
      ['98,', 16],
      ['99,', 22],
    ] as const) {
      const i = lines.findIndex((l) => l.startsWith(prefix));
      const changed = lines.with(
        i,
        lines[i]!.replace(/^(\d\d),(-?\d+)/, (_m, c: string, n: string) => `${c},${BigInt(n) + 1n}`),
      );
      const err = refused(changed.join('\r\n'));
      expect(err.code).toBe('statement_control_total');
      expect(err.line).toBe(line);
    }
  });

  it('a record count that does not match (a lost 88 record)', () => {
    const err = refused(lines.filter((l) => l !== '88,YOUR REF: INV-001').join('\r\n'));
    expect(err.message).toMatch(/line 14: account says 13 records, the file holds 12/);
  });

  it('a truncated file, an unknown funds type, a record out of place, an unreadable amount', () => {
    expect(refused(lines.slice(0, 12).join('\r\n')).message).toMatch(/without its trailer \(99\)/);
    expect(refused(UGLY.replace('16,195,250000,V,', '16,195,250000,Q,')).message).toMatch(/line 5: funds type/);
    expect(refused(UGLY.replace('02,CUSTOMER,021000021,1,261130,,JPY,2/', '03,X/')).line).toBe(17);
    expect(
      refused(
        UGLY.replace('16,698,2500,0,BANKREF0001,,SERVICE CHARGE     ', '16,698,25.00,0,BANKREF0001,,SERVICE CHARGE'),
      ).message,
    ).toMatch(/line 9: amount/);
    expect(() => parseStatement('hello')).toThrow(
      expect.objectContaining({ code: 'statement_format_unknown' }) as Error,
    );
  });
});

describe('BAI2: type code ranges', () => {
  it('credits, debits and the codes that are neither', () => {
    expect(['100', '195', '399', '920', '959'].map(directionOfTypeCode)).toEqual(Array(5).fill('credit'));
    expect(['400', '495', '699', '960', '999'].map(directionOfTypeCode)).toEqual(Array(5).fill('debit'));
    expect(['010', '099', '700', '899', '900', '919', '12', 'ABC'].map(directionOfTypeCode)).toEqual(
      Array(8).fill(null),
    );
  });
});

/** A test-side BAI2 writer (not the simulator's): a record wrapped at `width` (at least 64, so the fields before the text fit the first record, as BAI2 requires) into 88 records, the text split anywhere. */
function writeFile(
  details: { code: string; amount: bigint; bank: string; cust: string; text: string; tags: [string, string][] }[],
  width: number,
): string {
  const wrap = (record: string) => {
    const out = [record.slice(0, width)];
    for (let i = width; i < record.length; i += width - 3) {
      out.push(`88,${record.slice(i, i + width - 3)}`);
    }
    return out;
  };
  const body: string[] = ['03,12345,USD,010,0,,/'];
  let total = 0n;
  for (const d of details) {
    total += d.amount;
    body.push(...wrap(`16,${d.code},${d.amount},0,${d.bank},${d.cust},${d.text}`));
    for (const [k, v] of d.tags) {
      body.push(...wrap(`88,${k}: ${v}`));
    }
  }
  body.push(`49,${total},${body.length + 1}/`);
  const lines = [
    `01,A,B,261201,0200,F1,${width},,2/`,
    '02,B,A,1,261130,,USD,2/',
    ...body,
    `98,${total},1,${body.length + 2}/`,
  ];
  lines.push(`99,${total},1,${lines.length + 1}/`);
  return lines.join('\n');
}

const word = fc.stringMatching(/^[A-Z0-9][A-Z0-9 .,/&-]{0,40}[A-Z0-9.]$/);
const ref = fc.stringMatching(/^[A-Z0-9-]{0,16}$/);
const detail = fc.record({
  code: fc.constantFrom('195', '399', '495', '698', '142', '575'),
  amount: fc.bigInt({ min: 0n, max: 10n ** 17n }),
  bank: ref,
  cust: ref,
  text: word,
  tags: fc.uniqueArray(fc.tuple(fc.constantFrom('YOUR REF', 'B/O CUSTOMER', 'REC FROM', 'OBI', 'FED REF'), word), {
    selector: ([k]) => k,
    maxLength: 4,
  }),
});

describe('BAI2: properties (fast-check)', () => {
  it('every detail comes back exactly, whatever the amounts, texts and record width', () => {
    fc.assert(
      fc.property(fc.array(detail, { maxLength: 12 }), fc.integer({ min: 64, max: 120 }), (details, width) => {
        const parsed = parseBai2(writeFile(details, width));
        const entries = parsed.accounts[0]?.entries ?? [];
        expect(entries.map((e) => [e.typeCode, e.amountMinor, e.bankReference, e.customerReference, e.text])).toEqual(
          details.map((d) => [d.code, d.amount, d.bank, d.cust, d.text]),
        );
        expect(entries.map((e) => e.narrative ?? {})).toEqual(details.map((d) => Object.fromEntries(d.tags)));
      }),
      { numRuns: 300 },
    );
  });

  it('any amount digit changed in a detail is caught by the control totals', () => {
    fc.assert(
      fc.property(
        fc.array(detail, { minLength: 1, maxLength: 6 }),
        fc.nat(),
        fc.integer({ min: 1, max: 9 }),
        (details, pick, delta) => {
          const i = pick % details.length;
          const text = writeFile(details, 200);
          const tampered = text
            .split('\n')
            .map((l, k, all) => {
              const nth = all.slice(0, k).filter((x) => x.startsWith('16,')).length;
              return l.startsWith('16,') && nth === i
                ? l.replace(/^16,(\d{3}),(\d+),/, (_m, c: string, a: string) => `16,${c},${BigInt(a) + BigInt(delta)},`)
                : l;
            })
            .join('\n');
          expect(() => parseBai2(tampered)).toThrow(StatementFileError);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('a damaged file is read or refused with a StatementFileError, never anything else', () => {
    fc.assert(
      fc.property(fc.nat(), fc.nat({ max: 3 }), fc.string({ maxLength: 3 }), (at, drop, insert) => {
        const i = at % UGLY.length;
        const damaged = UGLY.slice(0, i) + insert + UGLY.slice(i + drop);
        try {
          parseStatement(damaged);
        } catch (err) {
          expect(err).toBeInstanceOf(StatementFileError);
        }
      }),
      { numRuns: 1000 },
    );
  });
});
