import { describe, expect, it } from 'vitest';
import { normalizeStatementAccount, parseCamt } from '../../src/statements/index.ts';

/** camt shapes seen in public sample files, read through the parser. */
const report = (version: string, account: string, entry: string) => `<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.052.001.${version}">
  <BkToCstmrAcctRpt>
    <GrpHdr><MsgId>M1</MsgId><CreDtTm>2026-11-30T12:30:00+01:00</CreDtTm></GrpHdr>
    <Rpt>
      <Id>R1</Id>
      <CreDtTm>2026-11-30T12:30:00+01:00</CreDtTm>
      <Acct><Id>${account}</Id></Acct>
      <Ntry>
        <Amt Ccy="SEK">200000</Amt>
        <CdtDbtInd>DBIT</CdtDbtInd>
        <Sts>BOOK</Sts>
        ${entry}
        <AcctSvcrRef>REF-1</AcctSvcrRef>
      </Ntry>
    </Rpt>
  </BkToCstmrAcctRpt>
</Document>
`;
const BOOKED = '<BookgDt><Dt>2026-11-30</Dt></BookgDt>';

describe('camt: account identifiers', () => {
  it('reads a camt.052.001.01 proprietary account (Acct/Id/PrtryAcct/Id) and a BBAN', () => {
    const prtry = parseCamt(report('01', '<PrtryAcct><Id>CH2801234000123456789</Id></PrtryAcct>', BOOKED));
    expect(prtry.accounts.map((a) => a.accountNumber)).toEqual(['CH2801234000123456789']);
    const bban = parseCamt(report('01', '<BBAN>01234000123456789</BBAN>', BOOKED));
    expect(bban.accounts.map((a) => a.accountNumber)).toEqual(['01234000123456789']);
  });

  it('refuses a statement without one, naming the forms it reads', () => {
    expect(() => parseCamt(report('02', '<Othr><SchmeNm><Cd>BBAN</Cd></SchmeNm></Othr>', BOOKED))).toThrow(
      'line 5: statement without an account identifier (Acct/Id/IBAN, Acct/Id/Othr/Id, Acct/Id/PrtryAcct/Id or Acct/Id/BBAN)',
    );
  });
});

describe('camt.05x.001.01: balance types written without CdOrPrtry (Bal/Tp/Cd)', () => {
  it('reads them as the later versions', () => {
    const balance =
      '<Bal><Tp><Cd>ITBD</Cd></Tp><Amt Ccy="SEK">1000.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>2026-11-30</Dt></Dt></Bal>';
    const parsed = parseCamt(
      report('01', '<PrtryAcct><Id>CH2801234000123456789</Id></PrtryAcct>', BOOKED).replace(
        '</Acct>',
        `</Acct>${balance}`,
      ),
    );
    expect(parsed.accounts[0]!.balances).toEqual([
      expect.objectContaining({ date: '2026-11-30', kind: 'current_day', closingLedgerMinor: 100000n }),
    ]);
  });
});

describe('camt: an entry without a date', () => {
  it('is refused saying it needs a booking or value date', () => {
    expect(() => parseCamt(report('02', '<IBAN>CH2801234000123456789</IBAN>', ''))).toThrow(
      'line 9: entry: needs a booking date (BookgDt) or, failing it, a value date (ValDt); it has neither',
    );
  });
});

describe("camt: a file account giving one day's final balance twice with different amounts", () => {
  it('makes both balances rejects whose reason speaks of the file, not of an API answer', () => {
    // Successive statements of a day are joined into one balance by the reader (statements-camt); two balances of
    // one day can still reach the normalizer, which must word their rejects as the file's.
    const parsed = parseCamt(
      '<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><BkToCstmrStmt><GrpHdr><MsgId>M</MsgId></GrpHdr>' +
        '<Stmt><Id>253</Id><Acct><Id><IBAN>NL26VAYB8060476890</IBAN></Id><Ccy>EUR</Ccy></Acct>' +
        '<Bal><Tp><CdOrPrtry><Cd>OPBD</Cd></CdOrPrtry></Tp><Amt Ccy="EUR">18.15</Amt><CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>2026-11-30</Dt></Dt></Bal>' +
        '<Bal><Tp><CdOrPrtry><Cd>CLBD</Cd></CdOrPrtry></Tp><Amt Ccy="EUR">27.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>2026-11-30</Dt></Dt></Bal></Stmt>' +
        '</BkToCstmrStmt></Document>',
    );
    const account = parsed.accounts[0]!;
    account.balances.push({ ...account.balances[0]!, closingLedgerMinor: 2000n });
    const batch = normalizeStatementAccount(parsed, account, 'NL26VAYB8060476890');
    expect(batch.balances).toEqual([]);
    expect(batch.balanceRejects.map((r) => r.reason)).toEqual([
      '(balance): the file gives the final balance of 2026-11-30 2 times with different content',
      '(balance): the file gives the final balance of 2026-11-30 2 times with different content',
    ]);
  });
});
