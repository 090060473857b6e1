import type { IsoDate } from '../shared/time.ts';
import { impliedDecimals } from './currencies.ts';
import { amount, count, currencyCode, date, directionOfTypeCode, fundsType } from './bai2-fields.ts';
import { resolveGroupOverlaps, type GroupSection } from './bai2-groups.ts';
import { DEFAULT_RECORD_LENGTH, fieldsAndEnds, fieldsOf, type Logical, type Physical } from './bai2-records.ts';
import { readNarrative, type TextLine } from './narrative.ts';
import {
  StatementFileError,
  type ParsedStatement,
  type StatementAccount,
  type StatementBalance,
  type StatementEntry,
} from './types.ts';

export { directionOfTypeCode } from './bai2-fields.ts';

/**
 * BAI2 (Cash Management Balance Reporting Specifications, version 2): 01 file header, 02 group header
 * (as-of date, currency), 03 account (status and summary amounts), 16 transaction detail, 88
 * continuation, 49/98/99 trailers with control totals and record counts. Pure; no I/O.
 *
 * What makes a file refused as a whole (`StatementFileError`, with the line): broken structure, a
 * field that cannot be read where the layout needs it, and any control total or record count that
 * does not add up, since then some record was lost or altered on the way. A detail whose type code
 * names no direction is a reject of that record only; the rest of the file is stored.
 */

interface GroupState {
  asOfDate: IsoDate;
  currency: string;
  sameDay: boolean;
  /** An interim previous-day report (as-of-date modifier 1): posted items, but not yet all of the day's. */
  interim: boolean;
  /** An interim report of either kind (as-of-date modifier 1 or 3): another group of its day may add to it. */
  partial: boolean;
  /** Group status 3: the group replaces (corrects) a group of the same date sent before. */
  correction: boolean;
}

interface Detail {
  entry?: StatementEntry;
  reject?: { reason: string; fields: string[] };
  rawAmount: bigint;
}

/**
 * A 16 record: type, amount, funds type (+ sub-fields), bank reference, customer reference, then the
 * text, which runs to the end of the record (it may hold commas and slashes) and on into 88 records.
 */
function detail(r: Logical, group: GroupState, currency: string): Detail {
  const parts = [...r.parts];
  let buffer = parts.shift()!.body;
  let prefix: { fields: string[]; textStart: number } | null = null;
  for (;;) {
    // The slash that ends the record is no part of its last field (a text keeps it: it is cut from `buffer`).
    const fields = buffer.replace(/\/$/, '').split(',');
    let next: number | null = 3;
    if (fields.length >= 3) {
      try {
        next = fundsType(fields, 2, r.line).next;
      } catch (err) {
        if (parts.length === 0) {
          throw err;
        }
        // The funds type's sub-fields go on in the next 88 record (a record may be continued at any field).
        next = null;
      }
    }
    // Complete when the customer reference is followed by a comma (the text field starts).
    if (next !== null && fields.length > next + 2) {
      prefix = { fields: fields.slice(0, next + 2), textStart: fields.slice(0, next + 2).join(',').length + 1 };
      break;
    }
    if (parts.length === 0) {
      break;
    }
    // The fields go on in the next 88 record.
    buffer = `${buffer.replace(/\/$/, '')},${parts.shift()!.body}`;
  }
  const fields = prefix?.fields ?? buffer.replace(/\/$/, '').split(',');
  const typeCode = fields[0] ?? '';
  const raw = amount(fields[1], r.line, 'amount', false);
  if (raw === null) {
    throw new StatementFileError('amount: a transaction detail (16) needs an amount', r.line);
  }
  const funds = fundsType(fields, 2, r.line);
  const bankReference = fields[funds.next] ?? '';
  const customerReference = fields[funds.next + 1] ?? '';
  // The part that held the text (the last one joined into `buffer`) decides whether the first 88 wraps it.
  let previousFull = r.parts[r.parts.length - parts.length - 1]?.full ?? false;
  // A closing `/` ends a text; in a record that filled its physical length it is the text's own character.
  const unslash = (t: string, full: boolean) => (full ? t : t.replace(/\/$/, ''));
  const lines: TextLine[] = [
    { text: unslash(prefix ? buffer.slice(prefix.textStart) : '', previousFull), joined: false },
  ];
  for (const p of parts) {
    lines.push({ text: unslash(p.body, p.full), joined: previousFull });
    previousFull = p.full;
  }
  const { text: shortText, narrative } = readNarrative(lines);
  const direction = directionOfTypeCode(typeCode);
  if (direction === null) {
    return {
      rawAmount: raw,
      reject: {
        reason: `type code: ${JSON.stringify(typeCode)} is no credit (100–399, 920–959) or debit (400–699, 960–999) detail code`,
        fields: ['typeCode'],
      },
    };
  }
  return {
    rawAmount: raw,
    entry: {
      bookingDate: group.asOfDate,
      valueDate: funds.valueDate,
      direction,
      amountMinor: raw,
      currency,
      decimalLocation: impliedDecimals(currency),
      status: group.sameDay ? 'pending' : 'posted',
      typeCode,
      bankReference,
      customerReference,
      text: shortText,
      narrative,
      availability: funds.availability,
      at: { line: r.line },
      source: r.parts.map((p) => `${p.code},${p.body}`).join('\n'),
    },
  };
}

/** Status codes of the 03 record that are balances (API-NOTES §9): 010/015/040/045, intraday 030/060. */
const BALANCE_CODES: Record<
  string,
  keyof Pick<
    StatementBalance,
    'openingLedgerMinor' | 'closingLedgerMinor' | 'openingAvailableMinor' | 'closingAvailableMinor'
  >
> = {
  '010': 'openingLedgerMinor',
  '015': 'closingLedgerMinor',
  '040': 'openingAvailableMinor',
  '045': 'closingAvailableMinor',
  '030': 'closingLedgerMinor',
  '060': 'closingAvailableMinor',
};

/** The 03 record: account number, currency, then (type code, amount, item count, funds type + sub-fields) repeated. */
function accountHeader(
  r: Logical,
  group: GroupState,
): { account: StatementAccount; balance: StatementBalance | null; total: bigint } {
  const { fields, continuedEnds } = fieldsAndEnds(r);
  const accountNumber = fields[0] ?? '';
  if (accountNumber === '') {
    throw new StatementFileError(
      'account number: the account identifier (03) needs the customer account number',
      r.line,
    );
  }
  const currency = currencyCode(fields[1], group.currency, r.line);
  const decimalLocation = impliedDecimals(currency);
  const balance: StatementBalance = {
    date: group.asOfDate,
    kind: group.sameDay ? 'current_day' : 'final',
    currency,
    decimalLocation,
    openingLedgerMinor: null,
    closingLedgerMinor: null,
    openingAvailableMinor: null,
    closingAvailableMinor: null,
    at: { line: r.line },
  };
  let total = 0n;
  let hasBalance = false;
  let i = 2;
  while (i < fields.length) {
    const code = fields[i] ?? '';
    if (code === '' && fields.slice(i).every((f) => f === '')) {
      break;
    }
    // A physical record continued in an 88, written with a comma before its slash (`015,35217175,,,/`): the empty field
    // it ends with is filler, the 88 starts the next slot (a field never runs on into an 88; a type code is never empty).
    if (code === '' && continuedEnds.has(i)) {
      i += 1;
      continue;
    }
    // A slot left blank whole (type code, amount, item count, funds type), as some banks write an unreported summary.
    if (code === '' && fields.slice(i + 1, i + 4).every((f) => f === '')) {
      i += 4;
      continue;
    }
    if (!/^\d{3}$/.test(code)) {
      throw new StatementFileError(`type code: must be three digits, got ${JSON.stringify(code)}`, r.line);
    }
    const value = amount(fields[i + 1], r.line, `amount of type code ${code}`, true);
    total += value ?? 0n;
    const target = BALANCE_CODES[code];
    // The closing ledger (015) wins over a current ledger (030) on the same record.
    if (
      target &&
      value !== null &&
      !(code === '030' && balance.closingLedgerMinor !== null) &&
      !(code === '060' && balance.closingAvailableMinor !== null)
    ) {
      balance[target] = value;
      hasBalance = true;
    }
    i = fundsType(fields, i + 3, r.line).next;
  }
  return {
    account: {
      accountNumber,
      currency,
      entries: [],
      balances: [],
      rejects: [],
      interimDays: group.interim ? [group.asOfDate] : [],
      correctionDays: group.correction ? [group.asOfDate] : [],
      copyDays: [],
    },
    // An interim previous-day balance is not the day's final balance (it would pass for it, or replace it).
    balance: hasBalance && !group.interim ? balance : null,
    total,
  };
}

function expectTotals(
  line: number,
  what: string,
  declared: { total?: bigint; records?: number; count?: number },
  actual: { total?: bigint; records?: number; count?: number },
): void {
  if (declared.total !== undefined && declared.total !== actual.total) {
    throw new StatementFileError(
      `${what} control total ${declared.total} does not match the sum of its amounts, ${actual.total}: the file is incomplete or was altered`,
      line,
      'statement_control_total',
    );
  }
  if (declared.count !== undefined && declared.count !== actual.count) {
    throw new StatementFileError(
      `${what} says ${declared.count} ${what === 'group' ? 'accounts' : 'groups'}, the file holds ${actual.count}`,
      line,
      'statement_control_total',
    );
  }
  if (declared.records !== undefined && declared.records !== actual.records) {
    throw new StatementFileError(
      `${what} says ${declared.records} records, the file holds ${actual.records}`,
      line,
      'statement_control_total',
    );
  }
}

interface OpenGroup extends GroupState {
  total: bigint;
  records: number;
  accounts: number;
  line: number;
}

interface OpenAccount {
  state: StatementAccount;
  total: bigint;
  records: number;
  line: number;
}

/**
 * The file read record by record: which group and account are open, and the running control totals
 * and physical record counts each trailer is held to.
 */
class Bai2Reader {
  readonly statement: ParsedStatement;
  fileTotal = 0n;
  fileRecords: number;
  groups = 0;
  group: OpenGroup | null = null;
  account: OpenAccount | null = null;
  /** Each account's part of each group, in file order; merged per account once the file is complete. */
  sections: GroupSection[] = [];
  ended = false;

  constructor(fileId: string, headerRecords: number) {
    this.statement = { format: 'bai2', fileId, accounts: [] };
    this.fileRecords = headerRecords;
  }

  read(r: Logical): void {
    if (this.ended) {
      throw new StatementFileError(`a ${r.code} record after the file trailer (99)`, r.line);
    }
    switch (r.code) {
      case '02':
        return this.groupHeader(r);
      case '03':
        return this.accountHeader(r);
      case '16':
        return this.detail(r);
      case '49':
        return this.accountTrailer(r);
      case '98':
        return this.groupTrailer(r);
      case '99':
        return this.fileTrailer(r);
      case '01':
        throw new StatementFileError('a second file header (01): one file per import', r.line);
      default:
        throw new StatementFileError(
          `record code ${r.code}: a BAI2 file has 01, 02, 03, 16, 88, 49, 98 and 99 records`,
          r.line,
        );
    }
  }

  private groupHeader(r: Logical): void {
    if (this.group) {
      throw new StatementFileError('a group header (02) inside a group that has no trailer (98)', r.line);
    }
    const f = fieldsOf(r);
    if (f[2] === '2' || f[2] === '4') {
      throw new StatementFileError(
        `group status ${f[2]} (${f[2] === '2' ? 'deletion' : 'test only'}): such a group is not imported`,
        r.line,
      );
    }
    // As-of-date modifier: 1 interim previous-day, 2 final previous-day, 3 interim same-day, 4 final same-day.
    this.group = {
      asOfDate: date(f[3], r.line, 'as-of date'),
      currency: currencyCode(f[5], 'USD', r.line),
      sameDay: f[6] === '3' || f[6] === '4',
      interim: f[6] === '1',
      partial: f[6] === '1' || f[6] === '3',
      // Group status: 1 update, 2 deletion, 3 correction, 4 test only.
      correction: f[2] === '3',
      total: 0n,
      records: r.parts.length,
      accounts: 0,
      line: r.line,
    };
  }

  private accountHeader(r: Logical): void {
    if (!this.group || this.account) {
      throw new StatementFileError(
        this.group
          ? 'an account identifier (03) inside an account that has no trailer (49)'
          : 'an account identifier (03) outside a group',
        r.line,
      );
    }
    const h = accountHeader(r, this.group);
    if (h.balance) {
      h.account.balances.push(h.balance);
    }
    this.account = { state: h.account, total: h.total, records: r.parts.length, line: r.line };
  }

  private detail(r: Logical): void {
    const { group, account } = this;
    if (!group || !account) {
      throw new StatementFileError('a transaction detail (16) outside an account', r.line);
    }
    const d = detail(r, group, account.state.currency);
    account.total += d.rawAmount;
    account.records += r.parts.length;
    if (d.entry) {
      account.state.entries.push(d.entry);
    } else if (d.reject) {
      account.state.rejects.push({
        at: { line: r.line },
        ...d.reject,
        bookingDate: group.asOfDate,
        text: r.parts.map((p) => `${p.code},${p.body}`).join('\n'),
      });
    }
  }

  private accountTrailer(r: Logical): void {
    const { group, account } = this;
    if (!group || !account) {
      throw new StatementFileError('an account trailer (49) without its account identifier (03)', r.line);
    }
    const f = fieldsOf(r);
    account.records += r.parts.length;
    expectTotals(
      r.line,
      'account',
      {
        total: amount(f[0], r.line, 'account control total', true) ?? 0n,
        records: count(f[1], r.line, 'number of records'),
      },
      { total: account.total, records: account.records },
    );
    group.total += account.total;
    group.records += account.records;
    group.accounts++;
    this.sections.push({
      account: account.state,
      date: group.asOfDate,
      sameDay: group.sameDay,
      partial: group.partial,
      correction: group.correction,
      line: group.line,
    });
    this.account = null;
  }

  private groupTrailer(r: Logical): void {
    const { group, account } = this;
    if (!group || account) {
      throw new StatementFileError(
        group
          ? `a group trailer (98) while the account of line ${account!.line} has no trailer (49)`
          : 'a group trailer (98) without its header (02)',
        r.line,
      );
    }
    const f = fieldsOf(r);
    group.records += r.parts.length;
    expectTotals(
      r.line,
      'group',
      {
        total: amount(f[0], r.line, 'group control total', true) ?? 0n,
        count: count(f[1], r.line, 'number of accounts'),
        records: count(f[2], r.line, 'number of records'),
      },
      { total: group.total, count: group.accounts, records: group.records },
    );
    this.fileTotal += group.total;
    this.fileRecords += group.records;
    this.groups++;
    this.group = null;
  }

  private fileTrailer(r: Logical): void {
    if (this.group) {
      throw new StatementFileError(
        `the file trailer (99) while the group of line ${this.group.line} has no trailer (98)`,
        r.line,
      );
    }
    const f = fieldsOf(r);
    this.fileRecords += r.parts.length;
    expectTotals(
      r.line,
      'file',
      {
        total: amount(f[0], r.line, 'file control total', true) ?? 0n,
        count: count(f[1], r.line, 'number of groups'),
        records: count(f[2], r.line, 'number of records'),
      },
      { total: this.fileTotal, count: this.groups, records: this.fileRecords },
    );
    for (const section of resolveGroupOverlaps(this.sections)) {
      mergeAccount(this.statement, section.account);
    }
    this.ended = true;
  }
}

/** Parses a whole BAI2 file, or throws `StatementFileError` naming the line that is wrong. */
export function parseBai2(text: string): ParsedStatement {
  const stream = new Bai2Stream();
  stream.write(text);
  return stream.end();
}

/**
 * A BAI2 file read as it arrives, chunk by chunk (`write`), record by record: control totals are
 * checked as each trailer arrives and `end` returns the statement only when the file trailer (99) was
 * read, so a caller that stores after `end` stores nothing of a refused file. The same records,
 * line numbers and errors as reading the whole text, except that the first error in file order is
 * the one reported. Holds the current line, the open record with its 88s, and what was read; only a
 * blocked file (no line ends, fixed-length records) is held whole, since it is one line until its end.
 */
export class Bai2Stream {
  private pending = '';
  private scanned = 0;
  private lineNo = 0;
  private bomChecked = false;
  /** Lines up to and including the first non-blank one, held while that one could be a blocked file. */
  private held: string[] | null = [];
  private heldDecided = false;
  /** The 01 record's physical record length; null when it leaves it blank (variable-length records). */
  private recordLength: number | null = DEFAULT_RECORD_LENGTH;
  private open: Logical | null = null;
  private lastLine = 0;
  private reader: Bai2Reader | null = null;

  write(chunk: string): void {
    let text = chunk;
    if (!this.bomChecked && text.length > 0) {
      text = text.replace(/^\uFEFF/, '');
      this.bomChecked = true;
    }
    this.pending += text;
    const re = /\r\n|\n|\r/g;
    re.lastIndex = Math.max(0, this.scanned - 1);
    let from = 0;
    for (let m = re.exec(this.pending); m; m = re.exec(this.pending)) {
      // A CR at the end of the chunk may be the first half of a CRLF.
      if (m[0] === '\r' && m.index === this.pending.length - 1) {
        break;
      }
      this.line(this.pending.slice(from, m.index));
      from = m.index + m[0].length;
    }
    this.pending = this.pending.slice(from);
    this.scanned = this.pending.length;
  }

  end(): ParsedStatement {
    // A DOS end-of-file byte (Ctrl-Z, 0x1A), which some banks' systems still write after the 99 record, ends the
    // file; anywhere but at its very end it is no part of a record and is refused as one.
    this.line(this.pending.endsWith('\x1a') ? this.pending.slice(0, -1) : this.pending);
    this.pending = '';
    if (this.held) {
      const held = this.held;
      this.held = null;
      const nonEmpty = held.filter((l) => l.trim() !== '');
      const first = nonEmpty[0] ?? '';
      const length = Number(first.split(',', 8)[6]);
      if (
        nonEmpty.length === 1 &&
        first.startsWith('01,') &&
        Number.isInteger(length) &&
        length >= 20 &&
        first.length > length
      ) {
        // A blocked file: fixed-length pieces of the length its 01 record declares, numbered as records.
        this.lineNo = 0;
        for (let i = 0; i < first.length; i += length) {
          this.record(first.slice(i, i + length), ++this.lineNo);
        }
      } else {
        this.release(held);
      }
    }
    if (this.open) {
      this.logical(this.open);
      this.open = null;
    }
    if (!this.reader) {
      throw new StatementFileError('a BAI2 file starts with a file header (01)', 1);
    }
    if (!this.reader.ended) {
      throw new StatementFileError('the file ends without its trailer (99): it is incomplete', this.lastLine || 1);
    }
    return this.reader.statement;
  }

  /** One line of the file. Until the first non-blank line is known not to be a blocked file, lines are held. */
  private line(raw: string): void {
    this.lineNo++;
    if (!this.held) {
      this.record(raw, this.lineNo);
      return;
    }
    this.held.push(raw);
    if (raw.trim() === '') {
      return;
    }
    if (!this.heldDecided) {
      this.heldDecided = true;
      const length = Number(raw.split(',', 8)[6]);
      if (raw.startsWith('01,') && Number.isInteger(length) && length >= 20 && raw.length > length) {
        return; // could be a blocked file: known at the next non-blank line or the end
      }
    }
    const held = this.held;
    this.held = null;
    this.release(held);
  }

  private release(lines: readonly string[]): void {
    lines.forEach((raw, i) => this.record(raw, i + 1));
  }

  private record(raw: string, line: number): void {
    const trimmed = raw.replace(/[ \t]+$/, '');
    if (trimmed === '') {
      return;
    }
    const m = /^(\d{2}),/.exec(trimmed);
    if (!m) {
      throw new StatementFileError(
        `not a BAI2 record (a record starts with a two-digit record code and a comma): ${JSON.stringify(trimmed.slice(0, 20))}`,
        line,
      );
    }
    const code = m[1]!;
    if (code === '01') {
      const field = (trimmed.split(',')[6] ?? '').replace(/\/.*$/, '').trim();
      const length = Number(field);
      // Variable-length records have no length to fill: a record is continued in an 88 by the sender's choice,
      // never cut mid-word by its length, so an 88 after it always starts a new line of text.
      this.recordLength = field === '' ? null : Number.isInteger(length) && length > 0 ? length : DEFAULT_RECORD_LENGTH;
    }
    this.lastLine = line;
    const full = this.recordLength !== null && trimmed.length >= this.recordLength;
    const p: Physical = { line, code, body: trimmed.slice(3), full };
    // Fields end at the `/` (a detail's text excepted): what follows is padding, never another record.
    const logicalCode = code === '88' ? this.open?.code : code;
    const after = logicalCode === '16' ? null : /\/\s*(\d{2},.*)$/.exec(p.body);
    if (after) {
      throw new StatementFileError(
        `another record follows the "/" that ends this ${code} record on the same line (${JSON.stringify(after[1]!.slice(0, 20) + '…')}): put each record on a line of its own`,
        line,
      );
    }
    if (p.code === '88') {
      if (!this.open) {
        throw new StatementFileError('an 88 continuation record before any record it could continue', p.line);
      }
      this.open.parts.push(p);
      return;
    }
    if (this.open) {
      this.logical(this.open);
    }
    this.open = { code: p.code, line: p.line, parts: [p] };
  }

  private logical(r: Logical): void {
    if (this.reader) {
      this.reader.read(r);
      return;
    }
    if (r.code !== '01') {
      throw new StatementFileError('a BAI2 file starts with a file header (01)', r.line);
    }
    const header = fieldsOf(r);
    if (header[7] !== undefined && header[7] !== '' && header[7] !== '2') {
      throw new StatementFileError(
        `version: only BAI2 (version number 2) is read, got ${JSON.stringify(header[7])}`,
        r.line,
      );
    }
    this.reader = new Bai2Reader(header[4] ?? '', r.parts.length);
  }
}

/** The same account in several groups (one per as-of date) is one account with all their days. */
function mergeAccount(statement: ParsedStatement, a: StatementAccount): void {
  const same = statement.accounts.find((x) => x.accountNumber === a.accountNumber && x.currency === a.currency);
  if (!same) {
    statement.accounts.push(a);
    return;
  }
  same.entries.push(...a.entries);
  same.balances.push(...a.balances);
  same.rejects.push(...a.rejects);
  same.interimDays.push(...a.interimDays.filter((d) => !same.interimDays.includes(d)));
  same.correctionDays.push(...a.correctionDays.filter((d) => !same.correctionDays.includes(d)));
}
