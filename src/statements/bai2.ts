import type { Direction } from '../domain/types.ts';
import { isIsoDate, type IsoDate } from '../shared/time.ts';
import { impliedDecimals } from './currencies.ts';
import { readNarrative, type TextLine } from './narrative.ts';
import { StatementFileError, type ParsedStatement, type StatementAccount, type StatementBalance, type StatementEntry } from './types.ts';

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

interface Physical {
  line: number;
  code: string;
  /** The record after `NN,`, trailing blanks removed. */
  body: string;
  /** The record filled its physical length: an 88 after it continues the same line of text. */
  full: boolean;
}

interface Logical {
  code: string;
  line: number;
  parts: Physical[];
}

const DEFAULT_RECORD_LENGTH = 80;

/**
 * The file's physical records: one per line, or, in a blocked file without line ends, fixed-length
 * pieces of the length its 01 record declares (each padded with blanks).
 */
function splitLines(text: string): string[] {
  const lines = text.replace(/^\uFEFF/, '').split(/\r\n|\n|\r/);
  const nonEmpty = lines.filter((l) => l.trim() !== '');
  const first = nonEmpty[0] ?? '';
  const length = first.startsWith('01,') ? Number(first.split(',', 8)[6]) : Number.NaN;
  if (nonEmpty.length === 1 && Number.isInteger(length) && length >= 20 && nonEmpty[0]!.length > length) {
    const blocked = nonEmpty[0]!;
    return Array.from({ length: Math.ceil(blocked.length / length) }, (_, i) => blocked.slice(i * length, (i + 1) * length));
  }
  return lines;
}

function physicalRecords(text: string): { records: Physical[]; recordLength: number } {
  const lines = splitLines(text);
  const records: Physical[] = [];
  let recordLength = DEFAULT_RECORD_LENGTH;
  lines.forEach((raw, i) => {
    const trimmed = raw.replace(/[ \t]+$/, '');
    if (trimmed === '') {
      return;
    }
    const m = /^(\d{2}),/.exec(trimmed);
    if (!m) {
      throw new StatementFileError(`not a BAI2 record (a record starts with a two-digit record code and a comma): ${JSON.stringify(trimmed.slice(0, 20))}`, i + 1);
    }
    const code = m[1]!;
    if (code === '01') {
      const length = Number(trimmed.split(',')[6]);
      recordLength = Number.isInteger(length) && length > 0 ? length : DEFAULT_RECORD_LENGTH;
    }
    records.push({ line: i + 1, code, body: trimmed.slice(3), full: trimmed.length >= recordLength });
  });
  return { records, recordLength };
}

function logicalRecords(physical: readonly Physical[]): Logical[] {
  const out: Logical[] = [];
  for (const p of physical) {
    if (p.code === '88') {
      const last = out.at(-1);
      if (!last) {
        throw new StatementFileError('an 88 continuation record before any record it could continue', p.line);
      }
      last.parts.push(p);
    } else {
      out.push({ code: p.code, line: p.line, parts: [p] });
    }
  }
  return out;
}

/** The fields of a record other than 16: each physical part ends at its `/`; parts join with a comma. */
function fieldsOf(r: Logical): string[] {
  return r.parts.map((p) => p.body.replace(/\/.*$/, '')).join(',').split(',');
}

function amount(text: string | undefined, line: number, what: string, signed: boolean): bigint | null {
  if (text === undefined || text === '') {
    return null;
  }
  if (!(signed ? /^[+-]?\d+$/ : /^\d+$/).test(text)) {
    throw new StatementFileError(`${what}: must be ${signed ? 'a whole number (implied decimals), optionally signed' : 'an unsigned whole number (implied decimals)'}, got ${JSON.stringify(text)}`, line);
  }
  return BigInt(text);
}

function date(text: string | undefined, line: number, what: string): IsoDate {
  const m = /^(\d{2})(\d{2})(\d{2})$/.exec(text ?? '');
  const iso = m ? `${Number(m[1]) < 70 ? '20' : '19'}${m[1]}-${m[2]}-${m[3]}` : '';
  if (!isIsoDate(iso)) {
    throw new StatementFileError(`${what}: must be a date YYMMDD, got ${JSON.stringify(text ?? '')}`, line);
  }
  return iso;
}

function count(text: string | undefined, line: number, what: string): number {
  if (!/^\d+$/.test(text ?? '')) {
    throw new StatementFileError(`${what}: must be a whole number, got ${JSON.stringify(text ?? '')}`, line);
  }
  return Number(text);
}

function currencyCode(text: string | undefined, fallback: string, line: number): string {
  if (text === undefined || text === '') {
    return fallback;
  }
  if (!/^[A-Z]{3}$/.test(text)) {
    throw new StatementFileError(`currency: must be a 3-letter ISO 4217 code, got ${JSON.stringify(text)}`, line);
  }
  return text;
}

/** BAI type code ranges (API-NOTES §9): 100–399 and 920–959 credits, 400–699 and 960–999 debits. */
export function directionOfTypeCode(code: string): Direction | null {
  if (!/^\d{3}$/.test(code)) {
    return null;
  }
  const n = Number(code);
  if ((n >= 100 && n <= 399) || (n >= 920 && n <= 959)) {
    return 'credit';
  }
  if ((n >= 400 && n <= 699) || (n >= 960 && n <= 999)) {
    return 'debit';
  }
  return null;
}

/**
 * Reads the funds type and its sub-fields from `fields` at `i`; returns what it says and the index
 * after it. S: immediate, one-day, two-or-more-day amounts; V: value date and time; D: n distributions
 * of (days, amount); 0/1/2/Z or empty: none.
 */
function fundsType(fields: readonly string[], i: number, line: number): { next: number; valueDate: IsoDate | null; availability: Record<string, string> | null; amounts: bigint[] } {
  const type = fields[i] ?? '';
  switch (type) {
    case '':
    case '0':
    case '1':
    case '2':
    case 'Z':
      return { next: i + 1, valueDate: null, availability: type === '' ? null : { fundsType: type }, amounts: [] };
    case 'V': {
      const valueDate = date(fields[i + 1], line, 'value date (funds type V)');
      return { next: i + 3, valueDate, availability: { fundsType: 'V', valueDate, valueTime: fields[i + 2] ?? '' }, amounts: [] };
    }
    case 'S': {
      const parts = [fields[i + 1], fields[i + 2], fields[i + 3]].map((f, k) => amount(f, line, `availability ${k} (funds type S)`, true) ?? 0n);
      return { next: i + 4, valueDate: null, availability: { fundsType: 'S', immediate: parts[0]!.toString(), oneDay: parts[1]!.toString(), twoOrMoreDays: parts[2]!.toString() }, amounts: [] };
    }
    case 'D': {
      const n = count(fields[i + 1], line, 'number of distributions (funds type D)');
      const availability: Record<string, string> = { fundsType: 'D' };
      for (let k = 0; k < n; k++) {
        const days = count(fields[i + 2 + 2 * k], line, `distribution ${k + 1} days (funds type D)`);
        availability[`day${days}`] = (amount(fields[i + 3 + 2 * k], line, `distribution ${k + 1} amount (funds type D)`, true) ?? 0n).toString();
      }
      return { next: i + 2 + 2 * n, valueDate: null, availability, amounts: [] };
    }
    default:
      throw new StatementFileError(`funds type: must be 0, 1, 2, S, V, D or Z, got ${JSON.stringify(type)}`, line);
  }
}

interface GroupState {
  asOfDate: IsoDate;
  currency: string;
  sameDay: boolean;
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
    const fields = buffer.split(',');
    let next = 3;
    if (fields.length >= 3) {
      try {
        next = fundsType(fields, 2, r.line).next;
      } catch (err) {
        if (parts.length === 0) {
          throw err;
        }
      }
    }
    // Complete when the customer reference is followed by a comma (the text field starts).
    if (fields.length > next + 2) {
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
  const lines: TextLine[] = [{ text: unslash(prefix ? buffer.slice(prefix.textStart) : '', previousFull), joined: false }];
  for (const p of parts) {
    lines.push({ text: unslash(p.body, p.full), joined: previousFull });
    previousFull = p.full;
  }
  const { text: shortText, narrative } = readNarrative(lines);
  const direction = directionOfTypeCode(typeCode);
  if (direction === null) {
    return {
      rawAmount: raw,
      reject: { reason: `type code: ${JSON.stringify(typeCode)} is no credit (100–399, 920–959) or debit (400–699, 960–999) detail code`, fields: ['typeCode'] },
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
const BALANCE_CODES: Record<string, keyof Pick<StatementBalance, 'openingLedgerMinor' | 'closingLedgerMinor' | 'openingAvailableMinor' | 'closingAvailableMinor'>> = {
  '010': 'openingLedgerMinor',
  '015': 'closingLedgerMinor',
  '040': 'openingAvailableMinor',
  '045': 'closingAvailableMinor',
  '030': 'closingLedgerMinor',
  '060': 'closingAvailableMinor',
};

/** The 03 record: account number, currency, then (type code, amount, item count, funds type + sub-fields) repeated. */
function accountHeader(r: Logical, group: GroupState): { account: StatementAccount; balance: StatementBalance | null; total: bigint } {
  const fields = fieldsOf(r);
  const accountNumber = fields[0] ?? '';
  if (accountNumber === '') {
    throw new StatementFileError('account number: the account identifier (03) needs the customer account number', r.line);
  }
  const currency = currencyCode(fields[1], group.currency, r.line);
  const decimalLocation = impliedDecimals(currency);
  const balance: StatementBalance = {
    date: group.asOfDate, kind: group.sameDay ? 'current_day' : 'final', currency, decimalLocation,
    openingLedgerMinor: null, closingLedgerMinor: null, openingAvailableMinor: null, closingAvailableMinor: null, at: { line: r.line },
  };
  let total = 0n;
  let hasBalance = false;
  let i = 2;
  while (i < fields.length) {
    const code = fields[i] ?? '';
    if (code === '' && fields.slice(i).every((f) => f === '')) {
      break;
    }
    if (!/^\d{3}$/.test(code)) {
      throw new StatementFileError(`type code: must be three digits, got ${JSON.stringify(code)}`, r.line);
    }
    const value = amount(fields[i + 1], r.line, `amount of type code ${code}`, true);
    total += value ?? 0n;
    const target = BALANCE_CODES[code];
    // The closing ledger (015) wins over a current ledger (030) on the same record.
    if (target && value !== null && !(code === '030' && balance.closingLedgerMinor !== null) && !(code === '060' && balance.closingAvailableMinor !== null)) {
      balance[target] = value;
      hasBalance = true;
    }
    i = fundsType(fields, i + 3, r.line).next;
  }
  return { account: { accountNumber, currency, entries: [], balances: [], rejects: [] }, balance: hasBalance ? balance : null, total };
}

function expectTotals(line: number, what: string, declared: { total?: bigint; records?: number; count?: number }, actual: { total?: bigint; records?: number; count?: number }): void {
  if (declared.total !== undefined && declared.total !== actual.total) {
    throw new StatementFileError(`${what} control total ${declared.total} does not match the sum of its amounts, ${actual.total}: the file is incomplete or was altered`, line, 'statement_control_total');
  }
  if (declared.count !== undefined && declared.count !== actual.count) {
    throw new StatementFileError(`${what} says ${declared.count} ${what === 'group' ? 'accounts' : 'groups'}, the file holds ${actual.count}`, line, 'statement_control_total');
  }
  if (declared.records !== undefined && declared.records !== actual.records) {
    throw new StatementFileError(`${what} says ${declared.records} records, the file holds ${actual.records}`, line, 'statement_control_total');
  }
}

/** Parses a whole BAI2 file, or throws `StatementFileError` naming the line that is wrong. */
export function parseBai2(text: string): ParsedStatement {
  const { records } = physicalRecords(text);
  const logical = logicalRecords(records);
  const first = logical[0];
  if (!first || first.code !== '01') {
    throw new StatementFileError('a BAI2 file starts with a file header (01)', first?.line ?? 1);
  }
  const header = fieldsOf(first);
  if (header[7] !== undefined && header[7] !== '' && header[7] !== '2') {
    throw new StatementFileError(`version: only BAI2 (version number 2) is read, got ${JSON.stringify(header[7])}`, first.line);
  }
  const statement: ParsedStatement = { format: 'bai2', fileId: header[4] ?? '', accounts: [] };
  const physicalCount = (r: Logical) => r.parts.length;
  let fileTotal = 0n;
  let fileRecords = first.parts.length;
  let groups = 0;
  let group: (GroupState & { total: bigint; records: number; accounts: number; line: number }) | null = null;
  let account: { state: StatementAccount; total: bigint; records: number; line: number } | null = null;
  let ended = false;
  for (const r of logical.slice(1)) {
    if (ended) {
      throw new StatementFileError(`a ${r.code} record after the file trailer (99)`, r.line);
    }
    const n = physicalCount(r);
    switch (r.code) {
      case '02': {
        if (group) {
          throw new StatementFileError('a group header (02) inside a group that has no trailer (98)', r.line);
        }
        const f = fieldsOf(r);
        if (f[2] === '2' || f[2] === '4') {
          throw new StatementFileError(`group status ${f[2]} (${f[2] === '2' ? 'deletion' : 'test only'}): such a group is not imported`, r.line);
        }
        group = {
          asOfDate: date(f[3], r.line, 'as-of date'), currency: currencyCode(f[5], 'USD', r.line), sameDay: f[6] === '3' || f[6] === '4',
          total: 0n, records: n, accounts: 0, line: r.line,
        };
        break;
      }
      case '03': {
        if (!group || account) {
          throw new StatementFileError(group ? 'an account identifier (03) inside an account that has no trailer (49)' : 'an account identifier (03) outside a group', r.line);
        }
        const h = accountHeader(r, group);
        if (h.balance) {
          h.account.balances.push(h.balance);
        }
        account = { state: h.account, total: h.total, records: n, line: r.line };
        break;
      }
      case '16': {
        if (!group || !account) {
          throw new StatementFileError('a transaction detail (16) outside an account', r.line);
        }
        const d = detail(r, group, account.state.currency);
        account.total += d.rawAmount;
        account.records += n;
        if (d.entry) {
          account.state.entries.push(d.entry);
        } else if (d.reject) {
          account.state.rejects.push({ at: { line: r.line }, ...d.reject, bookingDate: group.asOfDate, text: r.parts.map((p) => `${p.code},${p.body}`).join('\n') });
        }
        break;
      }
      case '49': {
        if (!group || !account) {
          throw new StatementFileError('an account trailer (49) without its account identifier (03)', r.line);
        }
        const f = fieldsOf(r);
        account.records += n;
        expectTotals(r.line, 'account', { total: amount(f[0], r.line, 'account control total', true) ?? 0n, records: count(f[1], r.line, 'number of records') },
          { total: account.total, records: account.records });
        group.total += account.total;
        group.records += account.records;
        group.accounts++;
        mergeAccount(statement, account.state);
        account = null;
        break;
      }
      case '98': {
        if (!group || account) {
          throw new StatementFileError(group ? `a group trailer (98) while the account of line ${account!.line} has no trailer (49)` : 'a group trailer (98) without its header (02)', r.line);
        }
        const f = fieldsOf(r);
        group.records += n;
        expectTotals(r.line, 'group', {
          total: amount(f[0], r.line, 'group control total', true) ?? 0n, count: count(f[1], r.line, 'number of accounts'), records: count(f[2], r.line, 'number of records'),
        }, { total: group.total, count: group.accounts, records: group.records });
        fileTotal += group.total;
        fileRecords += group.records;
        groups++;
        group = null;
        break;
      }
      case '99': {
        if (group) {
          throw new StatementFileError(`the file trailer (99) while the group of line ${group.line} has no trailer (98)`, r.line);
        }
        const f = fieldsOf(r);
        fileRecords += n;
        expectTotals(r.line, 'file', {
          total: amount(f[0], r.line, 'file control total', true) ?? 0n, count: count(f[1], r.line, 'number of groups'), records: count(f[2], r.line, 'number of records'),
        }, { total: fileTotal, count: groups, records: fileRecords });
        ended = true;
        break;
      }
      case '01':
        throw new StatementFileError('a second file header (01): one file per import', r.line);
      default:
        throw new StatementFileError(`record code ${r.code}: a BAI2 file has 01, 02, 03, 16, 88, 49, 98 and 99 records`, r.line);
    }
  }
  if (!ended) {
    throw new StatementFileError('the file ends without its trailer (99): it is incomplete', records.at(-1)?.line ?? 1);
  }
  return statement;
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
}
