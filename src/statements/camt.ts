import { SaxesParser, type SaxesTagNS } from 'saxes';
import type { Direction } from '../domain/types.ts';
import { toStorableMinorUnits } from '../shared/money.ts';
import { isIsoDate, type IsoDate } from '../shared/time.ts';
import { COPY_CODES, resolveCopies, type CamtSection } from './camt-copies.ts';
import { joinSuccessive, type SequenceNumbers } from './camt-sequence.ts';
import { impliedDecimals } from './currencies.ts';
import { readNarrative } from './narrative.ts';
import {
  StatementFileError,
  type ParsedStatement,
  type StatementAccount,
  type StatementBalance,
  type StatementEntry,
  type StatementFormat,
} from './types.ts';

/**
 * ISO 20022 camt.053 (BankToCustomerStatement, end of day) and camt.052 (BankToCustomerAccountReport,
 * intraday), every version from .001.01 on: elements are matched by local name inside the camt
 * namespace, which is all the versions change for what we read (but .001.01's account identifiers
 * `PrtryAcct`/`BBAN` and balance type `Tp/Cd`, read beside the later forms). Streaming (saxes): no DOM, no DTD
 * or external entities. Mapping (API-NOTES §10): `Ntry/Amt` + `CdtDbtInd` → amount and direction,
 * `BookgDt` → booking date, `ValDt` → value date, `AcctSvcrRef` → bank reference, `TxDtls/Refs/EndToEndId`
 * → customer reference, `BkTxCd/Prtry/Cd` → BAI type code, `Sts` BOOK → posted, PDNG/INFO → pending,
 * `Bal` OPBD/CLBD/OPAV/CLAV (final) and ITBD/ITAV (intraday) → balances.
 */

const CAMT_NS = /^urn:iso:std:iso:20022:tech:xsd:camt\.05([23])\.001\.\d{2}$/;

interface TxDetail {
  amount: { text: string; ccy: string } | null;
  endToEndId: string;
  acctSvcrRef: string;
  lines: string[];
}

interface EntryDraft {
  line: number;
  amount: { text: string; ccy: string } | null;
  cdtDbt: string;
  status: string;
  bookingDate: string;
  valueDate: string;
  acctSvcrRef: string;
  typeCode: string;
  addtl: string;
  details: TxDetail[];
  /** Offset of the entry's start tag in the document, to keep its text. */
  start: number;
  source: string;
}

interface BalanceDraft {
  line: number;
  code: string;
  amount: { text: string; ccy: string } | null;
  cdtDbt: string;
  date: string;
}

/** A page number and last-page indicator (`StmtPgntn`, `RptPgntn`, `MsgPgntn`), as written. */
interface Pagination {
  line: number;
  page: string;
  last: string;
}

interface StatementDraft {
  line: number;
  account: string;
  currency: string;
  entries: EntryDraft[];
  balances: BalanceDraft[];
  pagination: Pagination | null;
  /** `CpyDplctInd` as written ('' when the statement is an original). */
  copy: string;
  /** The statement's own `Id`. */
  id: string;
  /** `ElctrncSeqNb` and `LglSeqNb` as written ('' when absent): the order of a day's successive statements. */
  seq: SequenceNumbers;
}

function dateOf(text: string, line: number, what: string): IsoDate {
  // `Dt` is a date; `DtTm` an ISO date-time whose calendar date is the bank's.
  const d = text.slice(0, 10);
  if (!isIsoDate(d)) {
    throw new StatementFileError(`${what}: must be a date YYYY-MM-DD, got ${JSON.stringify(text)}`, line);
  }
  return d;
}

function minor(
  amount: { text: string; ccy: string } | null,
  line: number,
  what: string,
): { minor: bigint; currency: string; decimalLocation: number } {
  if (!amount || !/^[A-Z]{3}$/.test(amount.ccy)) {
    throw new StatementFileError(`${what}: needs an amount with its Ccy (3-letter ISO 4217 code)`, line);
  }
  const decimalLocation = impliedDecimals(amount.ccy);
  if (!/^\d+(\.\d+)?$/.test(amount.text.trim())) {
    throw new StatementFileError(
      `${what}: must be an unsigned decimal amount, got ${JSON.stringify(amount.text)}`,
      line,
    );
  }
  try {
    return { minor: toStorableMinorUnits(amount.text.trim(), decimalLocation), currency: amount.ccy, decimalLocation };
  } catch (err) {
    throw new StatementFileError(`${what}: ${(err as Error).message}`, line);
  }
}

function directionOf(code: string, line: number, what: string): Direction {
  if (code === 'CRDT') {
    return 'credit';
  }
  if (code === 'DBIT') {
    return 'debit';
  }
  throw new StatementFileError(`${what}: CdtDbtInd must be CRDT or DBIT, got ${JSON.stringify(code)}`, line);
}

// Maps, not object literals: the code is the file's text, and `constructor` or `toString` must find nothing.
const FINAL_CODES = new Map<
  string,
  keyof Pick<
    StatementBalance,
    'openingLedgerMinor' | 'closingLedgerMinor' | 'openingAvailableMinor' | 'closingAvailableMinor'
  >
>([
  ['OPBD', 'openingLedgerMinor'],
  ['PRCD', 'openingLedgerMinor'],
  ['CLBD', 'closingLedgerMinor'],
  ['OPAV', 'openingAvailableMinor'],
  ['CLAV', 'closingAvailableMinor'],
]);
const INTERIM_CODES = new Map<string, 'closingLedgerMinor' | 'closingAvailableMinor'>([
  ['ITBD', 'closingLedgerMinor'],
  ['ITAV', 'closingAvailableMinor'],
]);

/** Balance codes that open the reporting period: the balance the previous period closed with. */
const OPENING_CODES = new Set(['OPBD', 'PRCD', 'OPAV']);

/**
 * Balances by date; in an intraday report (camt.052) every balance is of the current day, OPBD included.
 * An opening balance (OPBD, PRCD, OPAV) is the opening of the statement's first day: many banks date it
 * on the day the previous statement closed (PRCD is that closing by definition), which is the same
 * amount, since no entry lies between. Dated before the statement's first day (its earliest booking
 * date or closing balance date), it is moved to that day; it never makes a balance of the previous day.
 */
function balancesOf(
  drafts: readonly BalanceDraft[],
  intraday: boolean,
  entryDays: readonly IsoDate[],
): StatementBalance[] {
  const out = new Map<string, StatementBalance>();
  const days = [
    ...entryDays,
    ...drafts
      .filter((b) => !OPENING_CODES.has(b.code) && (FINAL_CODES.has(b.code) || INTERIM_CODES.has(b.code)))
      .map((b) => dateOf(b.date, b.line, `balance ${b.code} date`)),
  ].sort();
  const firstDay = days[0];
  for (const b of drafts) {
    const finalField = FINAL_CODES.get(b.code);
    const interimField = INTERIM_CODES.get(b.code);
    if (!finalField && !interimField) {
      continue;
    }
    const dated = dateOf(b.date, b.line, `balance ${b.code} date`);
    const date = OPENING_CODES.has(b.code) && firstDay !== undefined && dated < firstDay ? firstDay : dated;
    const m = minor(b.amount, b.line, `balance ${b.code}`);
    const signedMinor = directionOf(b.cdtDbt, b.line, `balance ${b.code}`) === 'debit' ? -m.minor : m.minor;
    const kind = finalField && !intraday ? 'final' : 'current_day';
    const key = `${date}|${kind}`;
    const row = out.get(key) ?? {
      date,
      kind,
      currency: m.currency,
      decimalLocation: m.decimalLocation,
      openingLedgerMinor: null,
      closingLedgerMinor: null,
      openingAvailableMinor: null,
      closingAvailableMinor: null,
      at: { line: b.line },
    };
    const field = finalField ?? interimField!;
    // OPBD wins over PRCD (previously closed booked) when both are there.
    if (!(b.code === 'PRCD' && row.openingLedgerMinor !== null)) {
      row[field] = signedMinor;
    }
    out.set(key, row);
  }
  return [...out.values()];
}

/**
 * BOOK (or no status, as versions before .001.08 may leave it) is posted; PDNG, INFO and FUTR (booked for a future
 * date: not in the day's closing balance, and reported again as BOOK on its day) are pending, as is every entry of a
 * camt.052. Another status is refused: taken as posted, an entry the bank did not book would be stored as booked.
 */
function statusOf(format: StatementFormat, e: EntryDraft): StatementEntry['status'] {
  if (e.status !== '' && e.status !== 'BOOK' && e.status !== 'PDNG' && e.status !== 'INFO' && e.status !== 'FUTR') {
    throw new StatementFileError(
      `entry Sts: must be BOOK, PDNG, INFO or FUTR, got ${JSON.stringify(e.status)}`,
      e.line,
    );
  }
  return format === 'camt052' || (e.status !== '' && e.status !== 'BOOK') ? 'pending' : 'posted';
}

function entriesOf(format: StatementFormat, e: EntryDraft): StatementEntry[] {
  const total = minor(e.amount, e.line, 'entry amount');
  const direction = directionOf(e.cdtDbt, e.line, 'entry');
  if (e.bookingDate === '' && e.valueDate === '') {
    throw new StatementFileError(
      'entry: needs a booking date (BookgDt) or, failing it, a value date (ValDt); it has neither',
      e.line,
    );
  }
  const bookingDate = dateOf(e.bookingDate || e.valueDate, e.line, 'entry BookgDt');
  const valueDate = e.valueDate === '' ? null : dateOf(e.valueDate, e.line, 'entry ValDt');
  const status = statusOf(format, e);
  const base = {
    bookingDate,
    valueDate,
    direction,
    currency: total.currency,
    decimalLocation: total.decimalLocation,
    status,
    typeCode: /^\d{3}$/.test(e.typeCode) ? e.typeCode : null,
    availability: null,
    at: { line: e.line },
    source: e.source,
  };
  const text = (d: TxDetail | undefined) =>
    readNarrative([{ text: e.addtl, joined: false }, ...(d?.lines ?? []).map((l) => ({ text: l, joined: false }))]);
  // A batch entry whose details each carry their amount, adding up to the entry's: one transaction per detail.
  const amounts = e.details.map((d) => (d.amount ? minor(d.amount, e.line, 'transaction detail amount') : null));
  if (
    e.details.length > 1 &&
    amounts.every((a) => a !== null && a.currency === total.currency) &&
    amounts.reduce((s, a) => s + a!.minor, 0n) === total.minor
  ) {
    return e.details.map((d, k) => ({
      ...base,
      ...text(d),
      amountMinor: amounts[k]!.minor,
      bankReference: d.acctSvcrRef || e.acctSvcrRef,
      customerReference: d.endToEndId,
    }));
  }
  const d = e.details[0];
  return [
    {
      ...base,
      ...text(d),
      amountMinor: total.minor,
      bankReference: e.acctSvcrRef || d?.acctSvcrRef || '',
      customerReference: d?.endToEndId ?? '',
    },
  ];
}

/** How deep elements may nest: far more than camt.052/053 use, far less than what would slow the parser down. */
const MAX_DEPTH = 64;

/** Parses a camt.053 or camt.052 document, or throws `StatementFileError` naming the line that is wrong. */
export function parseCamt(text: string): ParsedStatement {
  const stream = camtStream();
  stream.write(text);
  return stream.end();
}

/**
 * A camt document read as it arrives (`write` chunk by chunk, `end` at the end): saxes is fed each
 * chunk, and only the text of the entry being read is kept (an entry's own text is stored with it).
 * `end` returns the statement only for a complete, well-formed document.
 */
export function camtStream(): { write(chunk: string): void; end(): ParsedStatement } {
  const parser = new SaxesParser({ xmlns: true, position: true });
  /** The document from offset `base` on: from the open entry's start tag, or from the last `<` between entries. */
  let kept = '';
  let base = 0;
  let started = false;
  const path: string[] = [];
  let ns = '';
  let format: StatementFormat | null = null;
  let fileId = '';
  let messagePage: Pagination | null = null;
  const statements: StatementDraft[] = [];
  let stmt: StatementDraft | null = null;
  let entry: EntryDraft | null = null;
  let detail: TxDetail | null = null;
  let balance: BalanceDraft | null = null;
  let buffer = '';
  let amountCcy = '';
  let failure: Error | null = null;
  const within = (...names: string[]) => names.every((n, k) => path[path.length - names.length + k] === n);

  /** Where saxes found the document not well-formed (it reads on after an error). */
  let failureLine: number | null = null;
  parser.on('error', (err) => {
    failureLine ??= parser.line;
    failure ??= err;
  });
  parser.on('opentag', (tag: SaxesTagNS) => {
    if (path.length >= MAX_DEPTH) {
      // Thrown, not recorded: it stops saxes in the middle of the chunk. Its namespace handling costs time in
      // proportion to the depth for every element, so a file of nothing but nested elements would hold the process
      // for minutes (30,000 levels: 37 s) before its end was reached.
      throw new StatementFileError(
        `elements nested deeper than ${MAX_DEPTH} levels (a camt statement needs about 15)`,
        parser.line,
      );
    }
    if (path.length === 0) {
      const m = CAMT_NS.exec(tag.uri);
      if (!m) {
        // Thrown like the depth bound: nothing after a foreign root is read (not even nested to any depth).
        throw new StatementFileError(
          `not a camt.052 or camt.053 document (root namespace ${JSON.stringify(tag.uri)})`,
          parser.line,
        );
      }
      ns = tag.uri;
      format = m[1] === '3' ? 'camt053' : 'camt052';
    }
    if (tag.uri !== ns) {
      path.push(`{${tag.uri}}${tag.local}`);
      return;
    }
    path.push(tag.local);
    buffer = '';
    if (tag.local === 'Amt' || tag.local === 'TxAmt') {
      const ccy = tag.attributes.Ccy;
      amountCcy = typeof ccy === 'string' ? ccy : (ccy?.value ?? '');
    }
    if ((tag.local === 'Stmt' || tag.local === 'Rpt') && path.length === 3) {
      stmt = {
        line: parser.line,
        account: '',
        currency: '',
        entries: [],
        balances: [],
        pagination: null,
        copy: '',
        id: '',
        seq: { electronic: '', legal: '' },
      };
    } else if (stmt && (within('Stmt', 'Ntry') || within('Rpt', 'Ntry'))) {
      entry = {
        line: parser.line,
        amount: null,
        cdtDbt: '',
        status: '',
        bookingDate: '',
        valueDate: '',
        acctSvcrRef: '',
        typeCode: '',
        addtl: '',
        details: [],
        start: base + kept.lastIndexOf('<', parser.position - 1 - base),
        source: '',
      };
    } else if (entry && tag.local === 'TxDtls') {
      detail = { amount: null, endToEndId: '', acctSvcrRef: '', lines: [] };
      entry.details.push(detail);
    } else if (stmt && tag.local === 'Bal' && path.length === 4) {
      balance = { line: parser.line, code: '', amount: null, cdtDbt: '', date: '' };
    }
  });
  parser.on('text', (t) => {
    buffer += t;
  });
  // A CDATA section is text written without escapes: the same characters.
  parser.on('cdata', (t) => {
    buffer += t;
  });
  parser.on('closetag', (tag: SaxesTagNS) => {
    const value = buffer.trim();
    const name = path.at(-1) ?? '';
    const ours = tag.uri === ns;
    if (ours && stmt) {
      closeInStatement(stmt, name, value);
    } else if (ours && within('GrpHdr', 'MsgId')) {
      fileId = value;
    } else if (ours && within('GrpHdr', 'MsgPgntn', name) && (name === 'PgNb' || name === 'LastPgInd')) {
      messagePage ??= { line: parser.line, page: '', last: '' };
      messagePage[name === 'PgNb' ? 'page' : 'last'] = value;
    }
    path.pop();
    buffer = '';
  });
  /** Element ends inside a statement, by the element's local name, then its place (`within`). */
  function closeInStatement(s: StatementDraft, name: string, value: string): void {
    if (balance) {
      closeInBalance(s, balance, name, value);
    } else if (detail) {
      closeInDetail(detail, name, value);
    } else if (entry) {
      closeInEntry(s, entry, name, value);
    } else if (
      (name === 'IBAN' && within('Acct', 'Id', 'IBAN')) ||
      (name === 'Id' && within('Acct', 'Id', 'Othr', 'Id')) ||
      // Version .001.01's account identifiers besides the IBAN.
      (name === 'Id' && within('Acct', 'Id', 'PrtryAcct', 'Id')) ||
      (name === 'BBAN' && within('Acct', 'Id', 'BBAN'))
    ) {
      s.account = value;
    } else if (name === 'Ccy' && within('Acct', 'Ccy')) {
      s.currency = value;
    } else if (name === 'Id' && path.length === 4) {
      s.id = value;
    } else if (name === 'ElctrncSeqNb' && path.length === 4) {
      s.seq.electronic = value;
    } else if (name === 'LglSeqNb' && path.length === 4) {
      s.seq.legal = value;
    } else if (name === 'CpyDplctInd' && path.length === 4) {
      if (!(COPY_CODES as readonly string[]).includes(value)) {
        throw new StatementFileError(
          `CpyDplctInd: must be ${COPY_CODES.join(', ')} (a copy or duplicate of a statement sent before), got ${JSON.stringify(value)}`,
          parser.line,
        );
      }
      s.copy = value;
    } else if (
      (name === 'PgNb' || name === 'LastPgInd') &&
      path.length === 5 &&
      (within('StmtPgntn', name) || within('RptPgntn', name))
    ) {
      s.pagination ??= { line: parser.line, page: '', last: '' };
      s.pagination[name === 'PgNb' ? 'page' : 'last'] = value;
    } else if ((name === 'Stmt' || name === 'Rpt') && path.length === 3) {
      statements.push(s);
      stmt = null;
    }
  }
  function closeInBalance(s: StatementDraft, b: BalanceDraft, name: string, value: string): void {
    // `Tp/CdOrPrtry/Cd` from version .001.02 on, `Tp/Cd` in .001.01.
    if (name === 'Cd' && (within('Bal', 'Tp', 'CdOrPrtry', 'Cd') || within('Bal', 'Tp', 'Cd'))) {
      b.code = value;
    } else if (name === 'Amt' && within('Bal', 'Amt')) {
      b.amount = { text: value, ccy: amountCcy };
    } else if (name === 'CdtDbtInd' && within('Bal', 'CdtDbtInd')) {
      b.cdtDbt = value;
    } else if ((name === 'Dt' || name === 'DtTm') && within('Bal', 'Dt', name)) {
      b.date = value;
    } else if (name === 'Bal') {
      s.balances.push(b);
      balance = null;
    }
  }
  function closeInDetail(d: TxDetail, name: string, value: string): void {
    if (name === 'EndToEndId' && within('TxDtls', 'Refs', 'EndToEndId')) {
      d.endToEndId = value === 'NOTPROVIDED' ? '' : value;
    } else if (name === 'AcctSvcrRef' && within('TxDtls', 'Refs', 'AcctSvcrRef')) {
      d.acctSvcrRef = value;
    } else if (name === 'Amt' && (within('TxDtls', 'AmtDtls', 'TxAmt', 'Amt') || within('TxDtls', 'Amt'))) {
      d.amount = { text: value, ccy: amountCcy };
    } else if (
      (name === 'Ustrd' && within('RmtInf', 'Ustrd')) ||
      (name === 'AddtlTxInf' && within('TxDtls', 'AddtlTxInf'))
    ) {
      d.lines.push(buffer);
    } else if (name === 'TxDtls') {
      detail = null;
    }
  }
  function closeInEntry(s: StatementDraft, e: EntryDraft, name: string, value: string): void {
    switch (name) {
      case 'Amt':
        e.amount = within('Ntry', 'Amt') ? { text: value, ccy: amountCcy } : e.amount;
        return;
      case 'CdtDbtInd':
        e.cdtDbt = within('Ntry', 'CdtDbtInd') ? value : e.cdtDbt;
        return;
      case 'Sts':
        // Text up to version .001.07, a code (`<Sts><Cd>BOOK</Cd></Sts>`) from .001.08 on.
        e.status = within('Ntry', 'Sts') && value !== '' ? value : e.status;
        return;
      case 'Prtry':
        // A proprietary status (refused unless it reads as a known code).
        e.status = within('Ntry', 'Sts', 'Prtry') ? value : e.status;
        return;
      case 'Cd':
        if (within('Ntry', 'Sts', 'Cd')) {
          e.status = value;
        } else if (within('BkTxCd', 'Prtry', 'Cd')) {
          e.typeCode = value;
        }
        return;
      case 'Dt':
      case 'DtTm':
        if (within('Ntry', 'BookgDt', name)) {
          e.bookingDate = value;
        } else if (within('Ntry', 'ValDt', name)) {
          e.valueDate = value;
        }
        return;
      case 'AcctSvcrRef':
        e.acctSvcrRef = within('Ntry', 'AcctSvcrRef') ? value : e.acctSvcrRef;
        return;
      case 'AddtlNtryInf':
        e.addtl = within('Ntry', 'AddtlNtryInf') ? buffer.trim() : e.addtl;
        return;
      case 'Ntry':
        e.source = kept.slice(e.start - base, parser.position - base);
        s.entries.push(e);
        entry = null;
        return;
      default:
    }
  }
  const fail = (err: Error): never => {
    throw err instanceof StatementFileError
      ? err
      : new StatementFileError(
          `not well-formed XML: ${err.message.replace(/^.*?:\d+:\d+: /, '')}`,
          failureLine ?? parser.line,
        );
  };
  return {
    write(chunk: string): void {
      const text = started ? chunk : chunk.replace(/^\uFEFF/, '');
      started ||= text.length > 0;
      kept += text;
      try {
        parser.write(text);
      } catch (err) {
        failure ??= err as Error;
      }
      if (failure) {
        fail(failure);
      }
      if (!entry) {
        // A tag not yet reported starts at the last `<`: keep from there.
        const cut = kept.lastIndexOf('<');
        if (cut > 0) {
          kept = kept.slice(cut);
          base += cut;
        }
      }
    },
    end(): ParsedStatement {
      try {
        parser.close();
      } catch (err) {
        failure ??= err as Error;
      }
      if (failure) {
        fail(failure);
      }
      if (!format) {
        throw new StatementFileError('not a camt.052 or camt.053 document (no root element)', null);
      }
      if (messagePage && !(pageNumber(messagePage) === 1 && lastPage(messagePage))) {
        throw new StatementFileError(
          `the message is page ${messagePage.page} of several (GrpHdr/MsgPgntn): its statements go on in another file. ` +
            'Import the statement as one file (every page of a day in one file), or items on different pages could be taken for one another',
          messagePage.line,
          'statement_incomplete',
        );
      }
      return { format, fileId, accounts: accountsOf(format, statements) };
    },
  };
}

function pageNumber(p: Pagination): number | null {
  return /^\d{1,5}$/.test(p.page) ? Number(p.page) : null;
}

function lastPage(p: Pagination): boolean {
  return p.last === 'true' || p.last === '1';
}

/**
 * A statement split into pages (`StmtPgntn` / `RptPgntn`) is read only whole: every page of an account's
 * statement in this file, in order, the last one saying so. A page alone cannot be imported, since the
 * identity of an item counts its identical items of the day (three $25.00 fees are occurrences 1, 2, 3),
 * and a fee on page 2 would be taken for the fee on page 1.
 */
function checkPages(statements: readonly StatementDraft[]): void {
  const open = new Map<string, number>();
  for (const s of statements) {
    const p = s.pagination;
    const expected = (open.get(s.account) ?? 0) + 1;
    const number = p ? pageNumber(p) : 1;
    const last = p ? lastPage(p) : true;
    if (number === null) {
      throw new StatementFileError(`PgNb: must be a page number, got ${JSON.stringify(p!.page)}`, p!.line);
    }
    if (number !== expected) {
      throw new StatementFileError(
        expected === 1
          ? `the statement is page ${number} of several: its first pages are not in this file. ` +
              'Import the statement as one file (every page of a day in one file)'
          : `the statement goes on from page ${expected - 1} with page ${number}: pages are missing or out of order`,
        (p ?? s).line,
        'statement_incomplete',
      );
    }
    if (last) {
      open.delete(s.account);
    } else {
      open.set(s.account, number);
    }
  }
  const unfinished = statements.findLast((s) => open.has(s.account));
  if (unfinished) {
    throw new StatementFileError(
      `the statement is page ${open.get(unfinished.account)} of several and the file ends before its last page. ` +
        'Import the statement as one file (every page of a day in one file)',
      (unfinished.pagination ?? unfinished).line,
      'statement_incomplete',
    );
  }
}

function accountsOf(format: StatementFormat, statements: readonly StatementDraft[]): StatementAccount[] {
  const out: StatementAccount[] = [];
  for (const s of statements) {
    if (s.account === '') {
      throw new StatementFileError(
        'statement without an account identifier (Acct/Id/IBAN, Acct/Id/Othr/Id, Acct/Id/PrtryAcct/Id or Acct/Id/BBAN)',
        s.line,
      );
    }
  }
  checkPages(statements);
  /** The pages of one statement are one section (a page after the first joins the account's open section). */
  const sections: CamtSection[] = [];
  const open = new Map<string, CamtSection>();
  const sequences = new Map<CamtSection, SequenceNumbers>();
  for (const s of statements) {
    const entries = s.entries.flatMap((e) => entriesOf(format, e));
    const currency = s.currency || entries[0]?.currency || s.balances[0]?.amount?.ccy || '';
    const account: StatementAccount = {
      accountNumber: s.account,
      currency,
      entries,
      balances: balancesOf(
        s.balances,
        format === 'camt052',
        entries.map((e) => e.bookingDate),
      ),
      rejects: [],
      interimDays: [],
      correctionDays: [],
      copyDays: [],
    };
    const page = s.pagination ? pageNumber(s.pagination) : 1;
    const section = open.get(s.account);
    if (section && page !== null && page > 1) {
      merge(section.account, account);
    } else {
      const opened = { account, id: s.id, copy: s.copy, line: s.line };
      sections.push(opened);
      open.set(s.account, opened);
      sequences.set(opened, s.seq);
    }
  }
  const resolved = resolveCopies(sections);
  joinSuccessive(resolved, (s) => sequences.get(s)!);
  for (const { account } of resolved) {
    const same = out.find((a) => a.accountNumber === account.accountNumber && a.currency === account.currency);
    if (same) {
      merge(same, account);
    } else {
      out.push(account);
    }
  }
  return out;
}

function merge(into: StatementAccount, account: StatementAccount): void {
  into.entries.push(...account.entries);
  for (const b of account.balances) {
    mergeBalance(into.balances, b);
  }
  into.copyDays.push(...account.copyDays.filter((d) => !into.copyDays.includes(d)));
}

const AMOUNT_FIELDS = [
  'openingLedgerMinor',
  'closingLedgerMinor',
  'openingAvailableMinor',
  'closingAvailableMinor',
] as const;

/**
 * A balance of a day another statement of the file reported too (pages of one statement: the opening on the
 * first, the closing on the last) completes that day's balance; two different amounts of one field stay two
 * balances (each a reject, as for the API).
 */
function mergeBalance(into: StatementBalance[], b: StatementBalance): void {
  const same = into.find(
    (x) => x.date === b.date && x.kind === b.kind && x.currency === b.currency && x.fromCopy === b.fromCopy,
  );
  if (!same || AMOUNT_FIELDS.some((f) => same[f] !== null && b[f] !== null && same[f] !== b[f])) {
    into.push(b);
    return;
  }
  for (const f of AMOUNT_FIELDS) {
    same[f] ??= b[f];
  }
}
