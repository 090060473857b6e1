import { formatMinorUnits } from '../shared/money.ts';
import { diffDays, eachDay, type IsoDate } from '../shared/time.ts';
import type { SimAccount } from './accounts.ts';
import { BANK } from './catalog.ts';
import type { Ledger } from './ledger.ts';
import { balanceFor, intradayReported, postedReported, type Clock, type Reported } from './views.ts';

/**
 * Any window of the simulated ledger as the statement files J.P. Morgan Access lets a customer
 * download: BAI2 and ISO 20022 camt.053 (prior-day). They hold exactly what a history query returns
 * on `clock` (the same posted items, references and amounts; late postings from their reveal date)
 * and the final balances of each business day, so a test can import a file for some days, sync
 * others over the API, and hold both against one ledger. Days that are not closed business days on
 * `clock` are left out, as the bank's file would.
 */
export interface StatementWindow {
  accountIds: readonly string[];
  from: IsoDate;
  to: IsoDate;
  clock: Clock;
}

interface DayData {
  account: SimAccount;
  date: IsoDate;
  items: Reported[];
  opening: bigint;
  closing: bigint;
  openingAvailable: bigint;
  closingAvailable: bigint;
}

function daysOf(ledger: Ledger, w: StatementWindow): DayData[][] {
  const accounts = w.accountIds.map((id) => {
    const a = ledger.account(id);
    if (!a) {
      throw new Error(`no simulated account ${id}`);
    }
    return a;
  });
  return eachDay(w.from, w.to)
    .filter((date) => ledger.calendar.isBusinessDay(date) && ledger.hasData(date) && diffDays(date, w.clock.today) > 0)
    .map((date) =>
      accounts.flatMap((account) => {
        const b = ledger.finalBalances(account, date);
        return b
          ? [
              {
                account,
                date,
                items: postedReported(ledger, account, date, w.clock.today),
                opening: b.openingLedger,
                closing: b.endingLedger,
                openingAvailable: b.openingAvailable,
                closingAvailable: b.endingAvailable,
              },
            ]
          : [];
      }),
    )
    .filter((accounts) => accounts.length > 0);
}

const yymmdd = (date: IsoDate) => date.slice(2).replace(/-/g, '');

/** Narrative values on one line each; the bank's text never carries a line break into a file. */
function tagLines(narrative: Record<string, string | null>): string[] {
  return Object.entries(narrative).flatMap(([k, v]) =>
    v === null || k.trim() === '' ? [] : [`${k.trim()}: ${v.replace(/[\r\n\u2028\u2029]+/g, ' ')}`],
  );
}

/**
 * A record of fields (03) cut between fields into physical records of at most `width` columns: each
 * part ends with `/`, the next goes on in an 88 record (a field is never split).
 */
function wrapFields(record: string, width = 80): string[] {
  const fields = record.replace(/\/$/, '').split(',');
  const out: string[] = [];
  let current = fields.shift()!;
  for (const f of fields) {
    if (current.length + 1 + f.length + 1 > width) {
      out.push(`${current}/`);
      current = `88,${f}`;
    } else {
      current += `,${f}`;
    }
  }
  out.push(`${current}/`);
  return out;
}

/**
 * A record whose last field is text (16, 88 narrative) cut into 80-column physical records, continued in 88 records.
 */
function wrap(record: string, width = 80): string[] {
  const out = [record.slice(0, width)];
  for (let i = width; i < record.length; i += width - 3) {
    out.push(`88,${record.slice(i, i + width - 3)}`);
  }
  return out;
}

export interface Bai2Options {
  /** The file id of the 01 record (default: the window's last day). */
  fileId?: string;
}

/** The window as a BAI2 file: one group per business day, one account record per account, CRLF line ends. */
export function renderBai2(ledger: Ledger, w: StatementWindow, options: Bai2Options = {}): string {
  const lines: string[] = [
    `01,${BANK.aba},CUSTOMER,${yymmdd(w.clock.today)},0200,${options.fileId ?? yymmdd(w.to)},80,,2/`,
  ];
  let fileTotal = 0n;
  let groups = 0;
  for (const day of daysOf(ledger, w)) {
    const currency = day[0]!.account.currency.code;
    const groupStart = lines.length;
    lines.push(`02,CUSTOMER,${BANK.aba},1,${yymmdd(day[0]!.date)},,${currency},2/`);
    let groupTotal = 0n;
    for (const d of day) {
      const accountStart = lines.length;
      const c = d.account.currency.code;
      lines.push(
        ...wrapFields(
          `03,${d.account.accountId},${c},010,${d.opening},,,040,${d.openingAvailable},,,015,${d.closing},,,045,${d.closingAvailable},,/`,
        ),
      );
      let total = d.opening + d.openingAvailable + d.closing + d.closingAvailable;
      for (const r of d.items) {
        const item = r.item;
        total += r.amount;
        lines.push(
          ...wrap(
            `16,${item.kind.typeCode},${r.amount},V,${yymmdd(item.valueDate)},,${item.bankRef},${item.customerRef},${item.kind.shortDescription || '/'}`,
          ),
        );
        for (const tag of tagLines(item.narrative)) {
          lines.push(...wrap(`88,${tag}`));
        }
      }
      lines.push(`49,${total},${lines.length - accountStart + 1}/`);
      groupTotal += total;
    }
    lines.push(`98,${groupTotal},${day.length},${lines.length - groupStart + 1}/`);
    fileTotal += groupTotal;
    groups++;
  }
  lines.push(`99,${fileTotal},${groups},${lines.length + 1}/`);
  return `${lines.join('\r\n')}\r\n`;
}

/**
 * Text as XML 1.0 can carry it: escaped, and without the characters it cannot hold at all (NUL, most C0 controls, lone
 * surrogates).
 */
const xml = (s: string) =>
  s
    .replace(
      // eslint-disable-next-line no-control-regex -- the control characters XML 1.0 cannot hold are exactly what this removes
      /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g,
      ' ',
    )
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;');

function amountXml(minor: bigint, account: SimAccount): string {
  return `<Amt Ccy="${account.currency.code}">${formatMinorUnits(minor < 0n ? -minor : minor, account.currency.decimalLocation)}</Amt>`;
}

function balanceXml(code: string, minor: bigint, d: DayData): string {
  return `<Bal><Tp><CdOrPrtry><Cd>${code}</Cd></CdOrPrtry></Tp>${amountXml(minor, d.account)}<CdtDbtInd>${minor < 0n ? 'DBIT' : 'CRDT'}</CdtDbtInd><Dt><Dt>${d.date}</Dt></Dt></Bal>`;
}

export interface CamtOptions {
  /** Message version: `02` writes `<Sts>BOOK</Sts>`, `08` and later `<Sts><Cd>BOOK</Cd></Sts>` (default 08). */
  version?: '02' | '08';
}

/** The window as a camt.053 document: one `Stmt` per account and business day. */
export function renderCamt053(ledger: Ledger, w: StatementWindow, options: CamtOptions = {}): string {
  const version = options.version ?? '08';
  const out: string[] = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.${version}">`,
    `<BkToCstmrStmt><GrpHdr><MsgId>SIM-${yymmdd(w.from)}-${yymmdd(w.to)}</MsgId><CreDtTm>${w.clock.today}T02:00:00</CreDtTm></GrpHdr>`,
  ];
  for (const day of daysOf(ledger, w)) {
    for (const d of day) {
      out.push(`<Stmt><Id>${d.account.accountId}-${d.date}</Id><CreDtTm>${w.clock.today}T02:00:00</CreDtTm>`);
      out.push(
        `<Acct><Id><Othr><Id>${d.account.accountId}</Id></Othr></Id><Ccy>${d.account.currency.code}</Ccy></Acct>`,
      );
      out.push(
        balanceXml('OPBD', d.opening, d),
        balanceXml('CLBD', d.closing, d),
        balanceXml('OPAV', d.openingAvailable, d),
        balanceXml('CLAV', d.closingAvailable, d),
      );
      for (const r of d.items) {
        const item = r.item;
        const sts = version === '02' ? '<Sts>BOOK</Sts>' : '<Sts><Cd>BOOK</Cd></Sts>';
        const ustrd = tagLines(item.narrative)
          .map((t) => `<Ustrd>${xml(t)}</Ustrd>`)
          .join('');
        out.push(
          `<Ntry>${amountXml(r.amount, d.account)}<CdtDbtInd>${item.direction === 'CREDIT' ? 'CRDT' : 'DBIT'}</CdtDbtInd>${sts}` +
            `<BookgDt><Dt>${d.date}</Dt></BookgDt><ValDt><Dt>${item.valueDate}</Dt></ValDt><AcctSvcrRef>${xml(item.bankRef)}</AcctSvcrRef>` +
            `<BkTxCd><Prtry><Cd>${item.kind.typeCode}</Cd><Issr>BAI</Issr></Prtry></BkTxCd>` +
            `<NtryDtls><TxDtls><Refs><EndToEndId>${item.customerRef === '' ? 'NOTPROVIDED' : xml(item.customerRef)}</EndToEndId></Refs>` +
            `${ustrd === '' ? '' : `<RmtInf>${ustrd}</RmtInf>`}</TxDtls></NtryDtls>` +
            `<AddtlNtryInf>${xml(item.kind.shortDescription)}</AddtlNtryInf></Ntry>`,
        );
      }
      out.push('</Stmt>');
    }
  }
  out.push('</BkToCstmrStmt></Document>', '');
  return out.join('\n');
}

/**
 * The bank's current business day (on `clock`) as a camt.052 intraday report: the CURRENT_DAY snapshot's
 * items as pending entries (the same items, amounts and references as the API's intraday records) and
 * the interim balances.
 */
export function renderCamt052(ledger: Ledger, accountIds: readonly string[], clock: Clock): string {
  const date = clock.today;
  const out: string[] = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.052.001.08">',
    `<BkToCstmrAcctRpt><GrpHdr><MsgId>SIM-INTRADAY-${yymmdd(date)}</MsgId><CreDtTm>${date}T12:00:00</CreDtTm></GrpHdr>`,
  ];
  for (const id of accountIds) {
    const account = ledger.account(id);
    const balance = account ? balanceFor(ledger, account, date, clock) : undefined;
    if (!account || !balance) {
      continue;
    }
    const d = { account, date } as DayData;
    out.push(
      `<Rpt><Id>${id}-${date}</Id><Acct><Id><Othr><Id>${id}</Id></Othr></Id><Ccy>${account.currency.code}</Ccy></Acct>`,
    );
    out.push(
      balanceXml('OPBD', balance.amounts.openingLedger, d),
      balanceXml('ITBD', balance.amounts.endingLedger, d),
      balanceXml('ITAV', balance.amounts.endingAvailable, d),
    );
    for (const r of intradayReported(ledger, account, clock)) {
      const item = r.item;
      out.push(
        `<Ntry>${amountXml(r.amount, account)}<CdtDbtInd>${item.direction === 'CREDIT' ? 'CRDT' : 'DBIT'}</CdtDbtInd><Sts><Cd>PDNG</Cd></Sts>` +
          `<BookgDt><Dt>${date}</Dt></BookgDt><ValDt><Dt>${item.valueDate}</Dt></ValDt><AcctSvcrRef>${xml(item.bankRef)}</AcctSvcrRef>` +
          `<BkTxCd><Prtry><Cd>${item.kind.typeCode}</Cd><Issr>BAI</Issr></Prtry></BkTxCd>` +
          `<NtryDtls><TxDtls><Refs><EndToEndId>${item.customerRef === '' ? 'NOTPROVIDED' : xml(item.customerRef)}</EndToEndId></Refs></TxDtls></NtryDtls>` +
          `<AddtlNtryInf>${xml(item.kind.shortDescription)}</AddtlNtryInf></Ntry>`,
      );
    }
    out.push('</Rpt>');
  }
  out.push('</BkToCstmrAcctRpt></Document>', '');
  return out.join('\n');
}
