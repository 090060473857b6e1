import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { buildAccounts } from '../../src/simulator/accounts.ts';
import { Ledger } from '../../src/simulator/ledger.ts';
import { DEFAULT_QUIRKS } from '../../src/simulator/quirks.ts';
import { renderBai2, renderCamt053 } from '../../src/simulator/statements.ts';
import {
  parseStatement,
  StatementFileError,
  StatementReader,
  type ParsedStatement,
} from '../../src/statements/index.ts';

/** The file handed over in pieces cut at `cuts` (character offsets), as a request body or a file stream arrives. */
function readInPieces(text: string, cuts: readonly number[]): ParsedStatement {
  const reader = new StatementReader();
  let at = 0;
  for (const cut of [...new Set(cuts)].sort((a, b) => a - b)) {
    reader.write(text.slice(at, cut));
    at = cut;
  }
  reader.write(text.slice(at));
  return reader.end();
}

function refusal(read: () => unknown): { line: number | null; code: string } | null {
  try {
    read();
    return null;
  } catch (err) {
    if (err instanceof StatementFileError) {
      return { line: err.line, code: err.code };
    }
    throw err;
  }
}

const seed = 'statements-stream';
const ledger = new Ledger({
  seed,
  accounts: buildAccounts(seed, 2),
  firstDate: '2026-10-01',
  txPerDay: 12,
  quirks: DEFAULT_QUIRKS,
});
const window = {
  accountIds: ledger.accounts.map((a) => a.accountId),
  from: '2026-10-05',
  to: '2026-10-09',
  clock: { today: '2026-10-30', progress: 0.5 },
};
const FILES: Record<string, string> = {
  'simulated BAI2': renderBai2(ledger, window),
  'simulated camt.053': renderCamt053(ledger, window),
  'ugly BAI2': readFileSync('tests/fixtures/statements/ugly.bai2', 'utf8'),
  'ugly camt.053': readFileSync('tests/fixtures/statements/ugly.camt053.xml', 'utf8'),
  'BAI2 with a BOM and LF line ends': `\uFEFF${renderBai2(ledger, window).replace(/\r\n/g, '\n')}`,
};

describe('statement files read in pieces', () => {
  for (const [name, text] of Object.entries(FILES)) {
    it(`${name}: any cut gives the same statement as the whole text, entry texts included`, () => {
      const whole = parseStatement(text);
      expect(whole.accounts.flatMap((a) => a.entries).length).toBeGreaterThan(0);
      fc.assert(
        fc.property(fc.array(fc.nat({ max: text.length }), { maxLength: 40 }), (cuts) => {
          expect(readInPieces(text, cuts)).toEqual(whole);
        }),
        { numRuns: 40 },
      );
      // One character at a time: every CRLF and every tag split.
      expect(
        readInPieces(
          text,
          Array.from({ length: Math.min(text.length, 6000) }, (_, i) => i),
        ),
      ).toEqual(whole);
    });
  }

  it('a blocked BAI2 file (no line ends) read in pieces is the same as whole', () => {
    const lines = FILES['ugly BAI2']!.split(/\r\n|\n/).filter((l) => l.trim() !== '');
    const length = 80;
    const blocked = lines
      .map((l) =>
        l
          .replace(/^(01,(?:[^,]*,){5})[^,]*/, `$1${length}`)
          .padEnd(length, ' ')
          .slice(0, length),
      )
      .join('');
    const whole = refusal(() => parseStatement(blocked)) ?? parseStatement(blocked);
    fc.assert(
      fc.property(fc.array(fc.nat({ max: blocked.length }), { maxLength: 20 }), (cuts) => {
        expect(refusal(() => readInPieces(blocked, cuts)) ?? readInPieces(blocked, cuts)).toEqual(whole);
      }),
      { numRuns: 30 },
    );
  });

  it('a tampered control total or a broken record is refused with the same line however the file is cut', () => {
    const bai2 = FILES['simulated BAI2']!;
    const lines = bai2.split('\r\n');
    const at = lines.findIndex((l) => l.startsWith('49,'));
    lines[at] = lines[at]!.replace(/^49,(-?\d+),/, (_m, n: string) => `49,${BigInt(n) + 1n},`);
    const tampered = lines.join('\r\n');
    fc.assert(
      fc.property(fc.array(fc.nat({ max: tampered.length }), { maxLength: 20 }), (cuts) => {
        expect(refusal(() => readInPieces(tampered, cuts))).toEqual({ line: at + 1, code: 'statement_control_total' });
      }),
      { numRuns: 30 },
    );
    const camt = FILES['simulated camt.053']!;
    const broken = camt.replace('</Ntry>', '</Ntr>');
    const expected = refusal(() => parseStatement(broken));
    // The line of the wrong end tag itself (not where the reader stopped).
    expect(expected).toEqual({
      code: 'statement_invalid',
      line: camt.slice(0, camt.indexOf('</Ntry>')).split('\n').length,
    });
    fc.assert(
      fc.property(fc.array(fc.nat({ max: broken.length }), { maxLength: 20 }), (cuts) => {
        expect(refusal(() => readInPieces(broken, cuts))).toEqual(expected);
      }),
      { numRuns: 30 },
    );
  });

  it('tells the format from the first characters, even when they arrive one by one; blank is no content', () => {
    const reader = new StatementReader();
    for (const c of ['  \r\n', '0', '1']) {
      reader.write(c);
    }
    expect(reader.hasContent).toBe(true);
    expect(() => reader.write(';')).toThrow(expect.objectContaining({ code: 'statement_format_unknown' }) as Error);
    const blank = new StatementReader();
    blank.write('   \r\n');
    expect(blank.hasContent).toBe(false);
    expect(() => blank.end()).toThrow(expect.objectContaining({ code: 'statement_format_unknown' }) as Error);
  });
});
