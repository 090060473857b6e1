import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  normalizeStatementAccount,
  parseCamt,
  parseStatement,
  StatementFileError,
} from '../../src/statements/index.ts';
import { camtFile, type CamtStatement } from '../factories/camt.ts';

const UGLY = readFileSync('tests/fixtures/statements/ugly.camt053.xml', 'utf8');

describe('camt.053: the hand-made ugly file', () => {
  const parsed = parseCamt(UGLY);
  const account = parsed.accounts[0]!;

  it('reads the message id, the account and its balances (OPBD over PRCD, a DBIT balance negative, DtTm dates)', () => {
    expect(parsed.format).toBe('camt053');
    expect(parsed.fileId).toBe('STMT-2026-11-30-001');
    expect(parsed.accounts.map((a) => [a.accountNumber, a.currency])).toEqual([['000000123456789', 'USD']]);
    expect(account.balances).toEqual([
      expect.objectContaining({
        date: '2026-11-30',
        kind: 'final',
        openingLedgerMinor: 1000000n,
        closingLedgerMinor: 1202450n,
        closingAvailableMinor: -25000n,
        openingAvailableMinor: null,
      }),
    ]);
  });

  it('reads entries: references, type code, status, value date, narrative; a batch split by its details', () => {
    expect(
      account.entries.map((e) => [
        e.direction,
        e.amountMinor,
        e.status,
        e.bankReference,
        e.customerReference,
        e.typeCode,
        e.valueDate,
      ]),
    ).toEqual([
      ['credit', 250000n, 'posted', '1234567890AB', 'INV-001', '195', '2026-11-30'],
      ['debit', 40000n, 'posted', 'B77-1', 'PAY-1', null, null],
      ['debit', 7550n, 'posted', 'B77-2', '', null, null],
      ['debit', 100n, 'pending', 'PEND-1', '', null, null],
    ]);
    expect(account.entries[0]!.bookingDate).toBe('2026-11-30');
    expect(account.entries[0]!.text).toBe('FED WIRE CREDIT');
    expect(account.entries[0]!.narrative).toEqual({ 'YOUR REF': 'INV-001', 'B/O CUSTOMER': 'ACME CORP & SONS <NY>' });
    // The entry's own text, exactly as the file has it (kept with the stored row).
    expect(account.entries[0]!.source).toMatch(
      /^<c:Ntry>\r\n[^]*<c:AcctSvcrRef>1234567890AB<\/c:AcctSvcrRef>[^]*<\/c:Ntry>$/,
    );
    expect(UGLY).toContain(account.entries[0]!.source);
  });

  it('normalizes to posted (P) and pending (I) records of source camt053', () => {
    const batch = normalizeStatementAccount(parsed, account, '000000123456789');
    expect(batch.source).toBe('camt053');
    expect(batch.records.map((r) => [r.recordClass, r.status])).toEqual([
      ['P', 'posted'],
      ['P', 'posted'],
      ['P', 'posted'],
      ['I', 'pending'],
    ]);
    expect(batch.postedDates).toEqual(['2026-11-30']);
    expect(batch.intradayDates).toEqual(['2026-11-30']);
    expect(batch.balances[0]!.source).toBe('camt053');
  });

  it("skips a balance whose code it does not know, Object's own property names included (no phantom balance)", () => {
    // The PRCD balance recoded and moved to another day: its code decides whether that day gets a balance row (a
    // closing balance does; an opening one dated before the statement's first day is that day's opening).
    const withCode = (code: string) =>
      parseCamt(
        UGLY.replace('<c:Cd>PRCD</c:Cd>', `<c:Cd>${code}</c:Cd>`).replace(
          '<c:Amt Ccy="USD">9999.99</c:Amt><c:CdtDbtInd>CRDT</c:CdtDbtInd><c:Dt><c:Dt>2026-11-30',
          '<c:Amt Ccy="USD">9999.99</c:Amt><c:CdtDbtInd>CRDT</c:CdtDbtInd><c:Dt><c:Dt>2026-11-29',
        ),
      ).accounts[0]!.balances;
    expect(withCode('CLBD').map((b) => b.date)).toEqual(['2026-11-29', '2026-11-30']);
    expect(withCode('PRCD').map((b) => b.date)).toEqual(['2026-11-30']);
    const unknown = withCode('XXXX');
    expect(unknown.map((b) => b.date)).toEqual(['2026-11-30']);
    for (const code of ['constructor', 'toString', '__proto__', 'hasOwnProperty', 'valueOf']) {
      expect(withCode(code), code).toEqual(unknown);
    }
  });

  it('reads text written as CDATA like any other text: a reference, a remittance line, an amount', () => {
    const p = parseCamt(
      UGLY.replace('<c:EndToEndId>INV-001</c:EndToEndId>', '<c:EndToEndId><![CDATA[INV-001]]></c:EndToEndId>')
        .replace('<c:Ustrd>YOUR REF: INV-001</c:Ustrd>', '<c:Ustrd><![CDATA[YOUR REF: INV-001]]></c:Ustrd>')
        .replace('<c:Amt Ccy="USD">2500.00</c:Amt>', '<c:Amt Ccy="USD"><![CDATA[2500.00]]></c:Amt>'),
    );
    const before = account.entries[0]!;
    expect(p.accounts[0]!.entries[0]).toEqual({ ...before, source: expect.any(String) as unknown });
  });

  it('a camt.052 report of the same entries is intraday: every entry pending, ITBD an intraday balance', () => {
    const report = UGLY.replace('camt.053.001.02', 'camt.052.001.08')
      .replace(/BkToCstmrStmt/g, 'BkToCstmrAcctRpt')
      .replace(/c:Stmt>/g, 'c:Rpt>')
      .replace(/<c:Cd>CLBD<\/c:Cd>/, '<c:Cd>ITBD</c:Cd>');
    const p = parseStatement(report);
    expect(p.format).toBe('camt052');
    expect(p.accounts[0]!.entries.every((e) => e.status === 'pending')).toBe(true);
    expect(p.accounts[0]!.balances.find((b) => b.kind === 'current_day')).toEqual(
      expect.objectContaining({ closingLedgerMinor: 1202450n }),
    );
  });
});

describe('camt: successive statements of one account and day (an intraday sequence)', () => {
  const balancesOf = (text: string) =>
    parseStatement(text).accounts.flatMap((a) =>
      a.balances.map((b) => ({
        date: b.date,
        kind: b.kind,
        opening: b.openingLedgerMinor,
        closing: b.closingLedgerMinor,
        fromCopy: b.fromCopy ?? false,
      })),
    );
  const day = '2026-11-30';
  const morning: CamtStatement = {
    account: 'ACC-1',
    date: day,
    id: 'S-1',
    opening: '100.00',
    closing: '150.00',
    items: [{ cdtDbt: 'CRDT', amount: '50.00', ref: 'R1' }],
  };
  const afternoon: CamtStatement = {
    account: 'ACC-1',
    date: day,
    id: 'S-2',
    opening: '150.00',
    closing: '130.00',
    items: [{ cdtDbt: 'DBIT', amount: '20.00', ref: 'R2' }],
  };

  it("the public multi-statement sample: the later statement opens with the earlier's close, so the day opens with the first and closes with the last", () => {
    const text = readFileSync('tests/fixtures/statements/public/camt053.v2.multi.statement.xml', 'utf8');
    expect(balancesOf(text)).toEqual([
      { date: '2014-12-31', kind: 'final', opening: 1815n, closing: 2000n, fromCopy: false },
    ]);
    expect(parseStatement(text).accounts[0]!.entries.map((e) => e.amountMinor)).toEqual([885n, 700n]);
  });

  it('ordered by their sequence numbers (ElctrncSeqNb) wherever they stand in the file, or by the balances alone', () => {
    const one = [{ date: day, kind: 'final', opening: 10000n, closing: 13000n, fromCopy: false }];
    expect(
      balancesOf(
        camtFile([
          { ...afternoon, seq: '8' },
          { ...morning, seq: '7' },
        ]),
      ),
    ).toEqual(one);
    expect(balancesOf(camtFile([afternoon, morning]))).toEqual(one);
    const third = { ...afternoon, id: 'S-3', opening: '130.00', closing: '131.00', items: [] };
    expect(balancesOf(camtFile([third, morning, afternoon]))).toEqual([{ ...one[0]!, closing: 13100n }]);
  });

  it('refused (statement_balances_conflict, naming the statements) when they do not follow on from one another', () => {
    const refusal = (text: string) => {
      try {
        parseStatement(text);
      } catch (err) {
        expect(err).toBeInstanceOf(StatementFileError);
        return err as StatementFileError;
      }
      throw new Error('the file was accepted');
    };
    // Two statements of the whole day that disagree: neither opens with the other's close.
    const other = { ...afternoon, opening: '100.00' };
    const err = refusal(camtFile([morning, other]));
    expect(err).toMatchObject({ code: 'statement_balances_conflict', httpStatus: 400 });
    expect(err.message).toMatch(/S-1.*S-2|S-2.*S-1/);
    expect(err.message).toMatch(/2026-11-30/);
    // Sequence numbers that put them in the order their balances contradict.
    expect(
      refusal(
        camtFile([
          { ...morning, seq: '2' },
          { ...afternoon, seq: '1' },
        ]),
      ).code,
    ).toBe('statement_balances_conflict');
    // Only closing balances and no sequence numbers: which is the later cannot be told.
    const bare = (s: CamtStatement) => ({ ...s, opening: undefined });
    expect(refusal(camtFile([bare(morning), bare(afternoon)])).code).toBe('statement_balances_conflict');
  });
});

describe('camt: what refuses a file', () => {
  const refused = (text: string) => {
    try {
      parseStatement(text);
    } catch (err) {
      expect(err).toBeInstanceOf(StatementFileError);
      return err as StatementFileError;
    }
    throw new Error('the file was accepted');
  };

  it('another XML document, broken XML, an amount with more decimals than its currency, a CdtDbtInd that is neither', () => {
    expect(refused('<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.001.001.03"/>').message).toMatch(
      /not a camt\.052 or camt\.053/,
    );
    expect(refused(UGLY.replace('</c:Ntry>', '')).message).toMatch(/not well-formed XML/);
    expect(refused(UGLY.replace('2500.00</c:Amt>', '2500.001</c:Amt>')).message).toMatch(/more than 2 decimal places/);
    expect(
      refused(UGLY.replace('<c:CdtDbtInd>DBIT</c:CdtDbtInd><c:Sts>PDNG', '<c:CdtDbtInd>X</c:CdtDbtInd><c:Sts>PDNG'))
        .message,
    ).toMatch(/CdtDbtInd must be CRDT or DBIT/);
    expect(refused(UGLY.replace('<c:Amt Ccy="USD">1.00</c:Amt>', '<c:Amt Ccy="USD">-1.00</c:Amt>')).message).toMatch(
      /unsigned decimal amount/,
    );
  });

  it('elements nested past 64 levels: refused at the 65th, not read to the end (the parser slows with depth)', () => {
    const open = '<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08">';
    const deep = (n: number) => `${open}\n${'<a>\n'.repeat(n)}${'</a>'.repeat(n)}</Document>`;
    const err = refused(deep(100_000));
    expect(err.message).toMatch(/nested deeper than 64 levels/);
    expect(err.line).toBe(65);
    // Under another root the refusal comes at the root: nothing nested under it is read (before, the whole file was,
    // for minutes, and only then refused).
    const foreign = refused(deep(100_000).replace('camt.053.001.08', 'pain.001.001.03'));
    expect(foreign.message).toMatch(/not a camt\.052 or camt\.053 document/);
    expect(foreign.line).toBe(1);
    // Under the bound the same shape is read (a document with no statement in it).
    expect(() => parseStatement(deep(60))).not.toThrow();
  });

  it('a statement split into pages is read only whole: every page in order, the last saying so', () => {
    const paged = (pages: [string, string][]) =>
      UGLY.replace(/<c:Stmt>[^]*<\/c:Stmt>/, (stmt) =>
        pages
          .map(([n, last]) =>
            stmt.replace(
              '<c:Id>S1</c:Id>',
              `<c:Id>S1</c:Id><c:StmtPgntn><c:PgNb>${n}</c:PgNb><c:LastPgInd>${last}</c:LastPgInd></c:StmtPgntn>`,
            ),
          )
          .join('\r\n'),
      );
    expect(parseStatement(paged([['1', 'true']])).accounts[0]!.entries).toHaveLength(4);
    expect(
      parseStatement(
        paged([
          ['1', 'false'],
          ['2', 'true'],
        ]),
      ).accounts[0]!.entries,
    ).toHaveLength(8);
    for (const pages of [
      [['2', 'true']],
      [['1', 'false']],
      [
        ['1', 'false'],
        ['3', 'true'],
      ],
      [
        ['1', 'true'],
        ['2', 'true'],
      ],
    ] as [string, string][][]) {
      expect(refused(paged(pages)).code, JSON.stringify(pages)).toBe('statement_incomplete');
    }
    expect(refused(paged([['one', 'true']])).message).toMatch(/PgNb: must be a page number/);
  });

  it('an entry status of no known code, or a proprietary one, refuses the file with the entry line', () => {
    const at = (status: string) => UGLY.replace('<c:Sts>PDNG</c:Sts>', status);
    expect(refused(at('<c:Sts>RJCT</c:Sts>')).message).toMatch(
      /entry Sts: must be BOOK, PDNG, INFO or FUTR, got "RJCT"/,
    );
    expect(refused(at('<c:Sts><c:Prtry>HELD</c:Prtry></c:Sts>')).message).toMatch(/got "HELD"/);
    expect(parseCamt(at('<c:Sts><c:Cd>FUTR</c:Cd></c:Sts>')).accounts[0]!.entries[3]!.status).toBe('pending');
  });

  it('names the line of the entry', () => {
    const lines = UGLY.split('\r\n');
    const line = lines.findIndex((l) => l.includes('PEND-1')) - 2;
    expect(refused(UGLY.replace('<c:Amt Ccy="USD">1.00</c:Amt>', '<c:Amt Ccy="USD">1.OO</c:Amt>')).line).toBe(line);
  });

  it('an entity declaration is not expanded (no DTD, no external entities)', () => {
    const xxe = UGLY.replace(
      '<c:Document',
      '<!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>\r\n<c:Document',
    ).replace('FED WIRE CREDIT', '&x;');
    expect(refused(xxe).code).toBe('statement_invalid');
  });

  it('a damaged document is read or refused with a StatementFileError, never anything else (fast-check)', () => {
    fc.assert(
      fc.property(fc.nat(), fc.nat({ max: 4 }), fc.string({ maxLength: 4 }), (at, drop, insert) => {
        const i = at % UGLY.length;
        try {
          parseStatement(UGLY.slice(0, i) + insert + UGLY.slice(i + drop));
        } catch (err) {
          expect(err).toBeInstanceOf(StatementFileError);
        }
      }),
      { numRuns: 1000 },
    );
  });
});

describe('camt.053: a file sent again with its amounts written another way', () => {
  it('gives the same content hashes (a file record is hashed by its amount in minor units, not its text)', () => {
    const hashes = (amount: string, opening: string) => {
      const file = camtFile([
        {
          account: '000000123456789',
          date: '2026-11-30',
          opening,
          closing: '111',
          items: [{ cdtDbt: 'CRDT', amount, ref: 'R1' }],
        },
      ]);
      const parsed = parseStatement(file);
      const batch = normalizeStatementAccount(parsed, parsed.accounts[0]!, '000000123456789');
      return [...batch.records.map((r) => r.contentHash), ...batch.balances.map((b) => b.contentHash)];
    };
    const plain = hashes('100.5', '10.5');
    expect(plain).toHaveLength(2);
    expect(hashes('100.50', '10.50')).toEqual(plain);
    expect(hashes('100.51', '10.5')).not.toEqual(plain);
  });
});
