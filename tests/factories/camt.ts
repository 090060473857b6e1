/** One camt entry's facts: direction, amount (decimal text), bank reference (AcctSvcrRef), end-to-end id. */
export interface CamtItem {
  cdtDbt: 'CRDT' | 'DBIT';
  amount: string;
  ref: string;
  endToEnd?: string;
}

/** One `Stmt` (or `Rpt`) of `camtFile`: its account, day, balances (OPBD, CLBD) and entries. */
export interface CamtStatement {
  account: string;
  date: string;
  opening?: string;
  closing?: string;
  items: CamtItem[];
  /** `CpyDplctInd` as written (COPY, DUPL, CODU), none when undefined. */
  copy?: string;
  /** The statement's `Id` (defaults to the account and date, as banks number a day's statement). */
  id?: string;
  /** The statement's `ElctrncSeqNb` (none when undefined). */
  seq?: string;
}

const balance = (code: string, amount: string, date: string) =>
  `<Bal><Tp><CdOrPrtry><Cd>${code}</Cd></CdOrPrtry></Tp><Amt Ccy="USD">${amount}</Amt>` +
  `<CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>${date}</Dt></Dt></Bal>`;

/**
 * A camt.053.001.08 (or camt.052.001.08 with `report`) document of USD statements, each entry booked (BOOK, or
 * PDNG in a report) on its statement's day.
 */
export function camtFile(
  statements: readonly CamtStatement[],
  opts: { msgId?: string; report?: boolean } = {},
): string {
  const kind = opts.report ? '052' : '053';
  const [root, tag] = opts.report ? ['BkToCstmrAcctRpt', 'Rpt'] : ['BkToCstmrStmt', 'Stmt'];
  const out = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.${kind}.001.08">`,
    `<${root}><GrpHdr><MsgId>${opts.msgId ?? 'CAMT-MSG'}</MsgId><CreDtTm>2026-12-01T02:00:00</CreDtTm></GrpHdr>`,
  ];
  for (const s of statements) {
    out.push(
      `<${tag}><Id>${s.id ?? `${s.account}-${s.date}`}</Id>` +
        (s.seq === undefined ? '' : `<ElctrncSeqNb>${s.seq}</ElctrncSeqNb>`) +
        `<CreDtTm>2026-12-01T02:00:00</CreDtTm>` +
        (s.copy === undefined ? '' : `<CpyDplctInd>${s.copy}</CpyDplctInd>`) +
        `<Acct><Id><Othr><Id>${s.account}</Id></Othr></Id><Ccy>USD</Ccy></Acct>` +
        (s.opening === undefined ? '' : balance(opts.report ? 'ITBD' : 'OPBD', s.opening, s.date)) +
        (s.closing === undefined ? '' : balance(opts.report ? 'ITAV' : 'CLBD', s.closing, s.date)),
    );
    for (const i of s.items) {
      out.push(
        `<Ntry><Amt Ccy="USD">${i.amount}</Amt><CdtDbtInd>${i.cdtDbt}</CdtDbtInd>` +
          `<Sts><Cd>${opts.report ? 'PDNG' : 'BOOK'}</Cd></Sts><BookgDt><Dt>${s.date}</Dt></BookgDt>` +
          `<AcctSvcrRef>${i.ref}</AcctSvcrRef><BkTxCd><Prtry><Cd>${i.cdtDbt === 'CRDT' ? '195' : '495'}</Cd></Prtry></BkTxCd>` +
          `<NtryDtls><TxDtls><Refs><EndToEndId>${i.endToEnd ?? 'NOTPROVIDED'}</EndToEndId></Refs></TxDtls></NtryDtls>` +
          `<AddtlNtryInf>ITEM ${i.ref}</AddtlNtryInf></Ntry>`,
      );
    }
    out.push(`</${tag}>`);
  }
  out.push(`</${root}></Document>`, '');
  return out.join('\n');
}
