import { X509Certificate } from 'node:crypto';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { PeerCertificate, TLSSocket } from 'node:tls';
import { gzipSync } from 'node:zlib';
import { JsonNumber } from '../shared/json.ts';
import { createLogger } from '../shared/logger.ts';
import { addDays, assertIsoDate, type IsoDate } from '../shared/time.ts';
import { buildAccounts, type AccountSpec, type SimAccount } from './accounts.ts';
import { accountDayView, type AccountDayView } from './bank-view.ts';
import { BankCalendar } from './calendar.ts';
import { errorsBody, handleBalance, handleTransactions, RecordsMemo, type BankResponse } from './bank.ts';
import { handleControl } from './control.ts';
import {
  FaultInjector,
  gatewayFault,
  repeatFirstArrayName,
  requestedAccountIds,
  type FaultMatch,
  type FaultPlan,
  type FaultRule,
} from './faults.ts';
import { groundTruth, type GroundTruth } from './ground-truth.ts';
import { tag } from './catalog.ts';
import { rawControlCharacters } from './strange.ts';
import { Ledger } from './ledger.ts';
import { ensureDevPki, type DevPki } from './pki.ts';
import { resolveQuirks, type Quirks } from './quirks.ts';
import { loadReplay, type Replay } from './replay.ts';
import { GCA, SimRequestError } from './requests.ts';
import { ResponseCache, SimStats, type SimulatorStats } from './stats.ts';
import type { Clock } from './views.ts';

export interface SimulatorOptions {
  host?: string;
  /** 0 (default) picks a free port. */
  port?: number;
  /** Dev PKI folder; created on first use (`ensureDevPki`). */
  pkiDir: string;
  seed?: string | number;
  /** Number of accounts (default 8) or explicit specs. */
  accounts?: number | AccountSpec[];
  /** The bank's business date, `YYYY-MM-DD`. */
  today: IsoDate;
  /** Share of the current business day elapsed, 0..1 (default 0.5). */
  progress?: number;
  /** Calendar days of history before `today` (default 30). */
  historyDays?: number;
  /** Average items per account and business day (default 40). */
  txPerDay?: number;
  quirks?: Partial<Quirks>;
  /** Serve this J.P. Morgan sample file as-is instead of the generated ledger. */
  replayFile?: string;
  /** Cache each rendered body (by request and clock) and serve the cached bytes again. */
  prerender?: boolean;
  /** Byte budget of that cache (default 256 MiB); beyond it, the oldest bodies are dropped. */
  prerenderMaxBytes?: number;
  /** The bank's holidays (`YYYY-MM-DD`): no business day, like a weekend (see `calendar.ts`). */
  holidays?: IsoDate[];
  /** v3 page size when a request names none (default 1000); small pages make multi-page walks, and page shifts. */
  defaultPageSize?: number;
  /**
   * Bank latency: every bank call (not the `/_sim/` control endpoints) is answered this much later (default 0), so
   * a client's concurrency matters as it does against J.P. Morgan.
   */
  latencyMs?: number;
  /** Keep a log of every bank call (`requestLog()`): when it arrived, which client certificate, which accounts. */
  recordRequests?: boolean;
}

/** One bank call as the simulator saw it (`recordRequests`). */
export interface SimRequestRecord {
  /** Arrival, ms since the epoch (the simulator's clock). */
  at: number;
  method: string;
  path: string;
  /** The query string (`?…`, or empty) and the request body as sent. */
  query: string;
  body: string;
  /** SHA-256 fingerprint of the client certificate (`X509Certificate.fingerprint256`): one per integration; read when the connection's handshake ended, so a client that has gone since is still named. */
  client: string;
  accountIds: readonly string[];
  /** Status answered; 0 when the call was never answered (a hang fault). */
  status: number;
}

export interface RunningSimulator {
  url: string;
  port: number;
  caCertPem: string;
  pki: DevPki;
  accounts: readonly SimAccount[];
  ledger: Ledger;
  calendar: BankCalendar;
  clock(): Clock;
  setClock(clock: Partial<Clock>): Clock;
  injectFaults(plan: FaultPlan | FaultRule[]): void;
  clearFaults(): void;
  /** Injected fault rules whose budget is not spent yet (a rule with a count leaves once it fired that often). */
  activeFaults(): FaultRule[];
  /** Requests over connections presenting this certificate get 401 GCA-005 from now on. */
  revokeCertificate(certPem: string): string;
  groundTruth(): GroundTruth;
  /** The bank's own view of one account-day at the current clock (`bank-view.ts`). */
  view(accountId: string, date: IsoDate): AccountDayView;
  stats(): SimulatorStats;
  /** Bank calls so far, oldest first (empty unless `recordRequests`). */
  requestLog(): readonly SimRequestRecord[];
  stop(): Promise<void>;
}

const log = createLogger('simulator');
const MAX_BODY = 1 << 20;
/** Shifting pages: how far one page request moves the intraday clock, and how often per clock setting. */
const SHIFT_STEP = 0.05;
const MAX_SHIFTS = 2;

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new SimRequestError(413, GCA.invalidRequest, 'Request body too large'));
        req.destroy();
      } else {
        chunks.push(c);
      }
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function send(
  res: ServerResponse,
  r: BankResponse | { status: number; body: Buffer; headers?: Record<string, string> },
): number {
  const body = typeof r.body === 'string' ? Buffer.from(r.body) : r.body;
  res.writeHead(r.status, { 'content-type': 'application/json', 'content-length': body.length, ...r.headers });
  res.end(body);
  return body.length;
}

/** A rendered body parsed for a fault to change it, every number kept as its exact text (`JsonNumber`). */
function parseKeepingNumbers(body: string): unknown {
  return JSON.parse(body, (_key: string, value: unknown, context?: { source?: string }) =>
    typeof value === 'number' && context?.source !== undefined ? new JsonNumber(context.source) : value,
  );
}

/** A v3 page whose `data` lost its second half while `pagination` still counts every record. */
function shortPage(normal: BankResponse): BankResponse {
  try {
    const page = parseKeepingNumbers(normal.body) as { data?: unknown[] };
    if (normal.status !== 200 || !Array.isArray(page.data)) {
      return normal;
    }
    return { ...normal, body: JSON.stringify({ ...page, data: page.data.slice(0, Math.floor(page.data.length / 2)) }) };
  } catch {
    return normal;
  }
}

/** A v3 page with no records, its pagination unchanged: the records it should hold are missing behind an empty page. */
function blankPage(normal: BankResponse): BankResponse {
  try {
    const page = parseKeepingNumbers(normal.body) as { data?: unknown[] };
    if (normal.status !== 200 || !Array.isArray(page.data)) {
      return normal;
    }
    return { ...normal, body: JSON.stringify({ ...page, data: [] }) };
  } catch {
    return normal;
  }
}

/** A v3 page whose records hold no id: each `transactionId` written as blanks, as a fixed-width field left empty. */
function blankIds(normal: BankResponse): BankResponse {
  try {
    const page = parseKeepingNumbers(normal.body) as { data?: unknown[] };
    if (normal.status !== 200 || !Array.isArray(page.data)) {
      return normal;
    }
    const data = page.data.map((r) =>
      typeof r === 'object' && r !== null ? { ...r, transactionId: ' '.repeat(12) } : r,
    );
    return { ...normal, body: JSON.stringify({ ...page, data }) };
  } catch {
    return normal;
  }
}

/** A v3 page whose records write their direction in lower case (`credit`, `debit`). */
function lowerCaseDirection(normal: BankResponse): BankResponse {
  try {
    const page = parseKeepingNumbers(normal.body) as { data?: unknown[] };
    if (normal.status !== 200 || !Array.isArray(page.data)) {
      return normal;
    }
    const data = page.data.map((r) => {
      const code =
        typeof r === 'object' && r !== null ? (r as { debitCreditCode?: unknown }).debitCreditCode : undefined;
      return typeof code === 'string' ? { ...(r as object), debitCreditCode: code.toLowerCase() } : r;
    });
    return { ...normal, body: JSON.stringify({ ...page, data }) };
  } catch {
    return normal;
  }
}

/** What the `raw-controls` fault puts in a page whose strings hold no control character: a TAB, line breaks, NUL, U+0001, U+001F. */
const CONTROL_REMARK = 'COL 1\tCOL 2\r\nLINE 2\u0000\u0001\u001f';

/**
 * A v3 page or a balance answer with every control character of its strings written raw (`rawControlCharacters`). A
 * page with records of which none holds one gets a narrative tag holding some on its first record, a balance answer
 * whose strings hold none gets some in its first account's name (so the fault always has text to write).
 */
function rawControls(normal: BankResponse): BankResponse {
  try {
    const page = parseKeepingNumbers(normal.body) as { data?: unknown[]; accountList?: unknown[] };
    if (normal.status !== 200) {
      return normal;
    }
    const held = /\\(?:[bfnrt]|u00[01])/.test(normal.body);
    if (Array.isArray(page.accountList)) {
      const account: unknown = page.accountList[0];
      if (typeof account === 'object' && account !== null && !held) {
        const named = account as { accountName?: unknown };
        named.accountName = `${typeof named.accountName === 'string' ? named.accountName : ''}\t${CONTROL_REMARK}`;
      }
      return { ...normal, body: rawControlCharacters(JSON.stringify(page)) };
    }
    if (!Array.isArray(page.data)) {
      return normal;
    }
    const first: unknown = page.data[0];
    if (typeof first === 'object' && first !== null && !held) {
      const record = first as { narrativeText?: unknown };
      const narrative =
        typeof record.narrativeText === 'object' && record.narrativeText !== null ? record.narrativeText : {};
      record.narrativeText = { ...narrative, [tag('REMARK')]: CONTROL_REMARK };
    }
    return { ...normal, body: rawControlCharacters(JSON.stringify(page)) };
  } catch {
    return normal;
  }
}

/**
 * A v3 page past the first as the bank serves it when an item was inserted on a page already read and its counts were
 * not updated: every record moved one place on, so the page starts with the last record of the page before it and
 * its own last record moves on to the next page (`previous`), pagination unchanged.
 */
function shiftedPage(normal: BankResponse, previous: BankResponse | undefined): BankResponse {
  try {
    const page = parseKeepingNumbers(normal.body) as { data?: unknown[] };
    const before = previous?.status === 200 ? (parseKeepingNumbers(previous.body) as { data?: unknown[] }) : undefined;
    if (normal.status !== 200 || !Array.isArray(page.data) || page.data.length === 0 || !before?.data?.length) {
      return normal;
    }
    const data = [before.data.at(-1), ...page.data.slice(0, -1)];
    return { ...normal, body: JSON.stringify({ ...page, data }) };
  } catch {
    return normal;
  }
}

/**
 * A v3 page past the first whose start overlaps the page before it by one record (`previous`'s last, identical), all
 * its own records after it, pagination unchanged: a bank paging by an offset that slipped by one. Nothing is missing;
 * one transaction comes twice in the walk, on two pages.
 */
function overlappingPage(normal: BankResponse, previous: BankResponse | undefined): BankResponse {
  try {
    const page = parseKeepingNumbers(normal.body) as { data?: unknown[] };
    const before = previous?.status === 200 ? (parseKeepingNumbers(previous.body) as { data?: unknown[] }) : undefined;
    if (normal.status !== 200 || !Array.isArray(page.data) || page.data.length === 0 || !before?.data?.length) {
      return normal;
    }
    return { ...normal, body: JSON.stringify({ ...page, data: [before.data.at(-1), ...page.data] }) };
  } catch {
    return normal;
  }
}

/**
 * A v3 page of a walk in which the bank lists one transaction twice: page 1 gives its first record again right after
 * it (identical, same `transactionId`), and every page's `totalRecords` counts the copy, so the pages add up (`counted`),
 * or counts the transaction once.
 */
function repeatedRecord(normal: BankResponse, counted: boolean): BankResponse {
  try {
    const page = parseKeepingNumbers(normal.body) as {
      data?: unknown[];
      pagination?: { pageNumber?: unknown; totalRecords?: unknown };
    };
    const total = page.pagination?.totalRecords;
    if (normal.status !== 200 || !Array.isArray(page.data) || !(total instanceof JsonNumber) || total.text === '0') {
      return normal;
    }
    const first = page.pagination?.pageNumber instanceof JsonNumber && page.pagination.pageNumber.text === '1';
    const data = first ? [page.data[0], ...page.data] : page.data;
    const pagination = counted
      ? { ...page.pagination, totalRecords: new JsonNumber(String(Number(total.text) + 1)) }
      : page.pagination;
    return { ...normal, body: JSON.stringify({ ...page, pagination, data }) };
  } catch {
    return normal;
  }
}

/** A v3 page without records with `data` written as null, as a serializer writing an empty list as null sends it. */
function nullData(normal: BankResponse): BankResponse {
  try {
    const page = parseKeepingNumbers(normal.body) as { data?: unknown[] };
    if (normal.status !== 200 || !Array.isArray(page.data) || page.data.length > 0) {
      return normal;
    }
    return { ...normal, body: JSON.stringify({ ...page, data: null }) };
  } catch {
    return normal;
  }
}

/** A v3 page as it is, but claiming 1,000,000 pages: the pages past its real end come empty. */
function endlessPages(normal: BankResponse): BankResponse {
  try {
    const page = parseKeepingNumbers(normal.body) as { pagination?: Record<string, unknown> };
    if (normal.status !== 200 || typeof page.pagination !== 'object' || page.pagination === null) {
      return normal;
    }
    return { ...normal, body: JSON.stringify({ ...page, pagination: { ...page.pagination, totalPages: 1_000_000 } }) };
  } catch {
    return normal;
  }
}

/**
 * A v3 page from page 2 on carrying page 1's records (as many as the real page has) under its own page number and
 * pagination: the same records served twice under different page numbers, the counts still adding up.
 */
function repeatedPage(normal: BankResponse, first: BankResponse | undefined): BankResponse {
  try {
    const page = parseKeepingNumbers(normal.body) as { data?: unknown[]; pagination?: { pageNumber?: unknown } };
    const one = first && first.status === 200 ? (parseKeepingNumbers(first.body) as { data?: unknown[] }) : undefined;
    if (normal.status !== 200 || !Array.isArray(page.data) || !Array.isArray(one?.data)) {
      return normal;
    }
    if (String(page.pagination?.pageNumber) === '1') {
      return normal;
    }
    return { ...normal, body: JSON.stringify({ ...page, data: one.data.slice(0, page.data.length) }) };
  } catch {
    return normal;
  }
}

/**
 * A balances answer with its first balance changed: its closing ledger amount null (`null-ledger`), or the balance
 * given twice (`repeated-balance`, identical); or with the descriptive fields of its first account odd (`odd-account`:
 * the name false, the bank name `{}`, no branch, the currency's description null and no `currencySequence`; the
 * money facts, account id, currency code and decimal location, as they were); or with the currency of the rule's account
 * (else the first with balances) unusable (`odd-currency`: its code in lower case) or another (`other-currency`: EUR, or
 * USD for EUR, with 3 decimal places, the amounts' text unchanged). Amounts keep their exact text (`JsonNumber`).
 */
function oddBalance(
  normal: BankResponse,
  kind:
    | 'null-ledger'
    | 'repeated-balance'
    | 'odd-account'
    | 'odd-currency'
    | 'other-currency'
    | 'odd-timestamp'
    | 'account-unavailable',
  accountId?: string,
): BankResponse {
  try {
    const answer = parseKeepingNumbers(normal.body) as {
      accountList?: { balanceList?: Record<string, unknown>[]; [key: string]: unknown }[];
    };
    const withBalances = (answer.accountList ?? []).filter(
      (a) => Array.isArray(a.balanceList) && a.balanceList.length > 0,
    );
    const account =
      (accountId !== undefined ? withBalances.find((a) => a.accountId === accountId) : undefined) ?? withBalances[0];
    const list = account?.balanceList;
    if (normal.status !== 200 || !account || !list) {
      return normal;
    }
    if (kind === 'odd-account') {
      const { currencySequence: _sequence, ...currency } = account.currency as Record<string, unknown>;
      delete account.branchId;
      Object.assign(account, { accountName: false, bankName: {}, currency: { ...currency, description: null } });
      return { ...normal, body: JSON.stringify(answer) };
    }
    if (kind === 'account-unavailable') {
      const { balanceList: _balances, ...header } = account;
      answer.accountList = (answer.accountList ?? []).map((a) =>
        a === account ? { ...header, errorCode: GCA.unavailable, errorMsg: 'System is Unavailable' } : a,
      );
      return { ...normal, body: JSON.stringify(answer) };
    }
    if (kind === 'odd-currency' || kind === 'other-currency') {
      const currency = account.currency as Record<string, unknown>;
      const code = String(currency.code);
      account.currency =
        kind === 'odd-currency'
          ? { ...currency, code: code.toLowerCase() }
          : { ...currency, code: code === 'EUR' ? 'USD' : 'EUR', decimalLocation: new JsonNumber('3') };
      return { ...normal, body: JSON.stringify(answer) };
    }
    const first = list[0] as Record<string, unknown>;
    if (kind === 'odd-timestamp') {
      list.splice(0, 1, { ...first, recordTimestamp: '2026-02-30T14:60:00+25:00' });
      return { ...normal, body: JSON.stringify(answer) };
    }
    list.splice(0, 1, ...(kind === 'null-ledger' ? [{ ...first, endingLedgerAmount: null }] : [first, { ...first }]));
    return { ...normal, body: JSON.stringify(answer) };
  } catch {
    return normal;
  }
}

/**
 * A balance answer as a serializer that writes every member would send it: an account with balances also carries
 * `errorCode` and `errorMsg` as null, a per-account error entry `balanceList` as null.
 */
function nullMembers(normal: BankResponse): BankResponse {
  try {
    const answer = parseKeepingNumbers(normal.body) as { accountList?: Record<string, unknown>[] };
    if (normal.status !== 200 || !Array.isArray(answer.accountList)) {
      return normal;
    }
    answer.accountList = answer.accountList.map((entry) =>
      'balanceList' in entry ? { ...entry, errorCode: null, errorMsg: null } : { ...entry, balanceList: null },
    );
    return { ...normal, body: JSON.stringify(answer) };
  } catch {
    return normal;
  }
}

/** The integer counts of the bank's answers, and how the `fractional-integers` fault writes each (`n` its text). */
const FRACTIONAL: Readonly<Record<string, (n: string) => string>> = {
  decimalLocation: (n) => `${n}.0`,
  currencySequence: (n) => `${n}.000`,
  pageNumber: (n) => `${n}.0`,
  totalPages: (n) => `${n}0e-1`,
  totalRecords: (n) => `${n}.0`,
};

/**
 * An answer with every integer count written as the same JSON number with a fraction of zero or an exponent
 * (`decimalLocation: 2.0`, `totalPages: 30e-1`), and a v3 page's `pageSize` as null, as a serializer holding every
 * number as a double (or knowing no page size) writes them. Amounts and every other number keep their exact text.
 */
function fractionalIntegers(normal: BankResponse): BankResponse {
  return respellNumbers(
    normal,
    (text, key) => {
      const spell = key === undefined ? undefined : FRACTIONAL[key];
      return spell && /^\d+$/.test(text) ? spell(text) : undefined;
    },
    new Set(['pageSize']),
  );
}

/**
 * An answer with some of its JSON numbers written another way: `spell(text, key)` gives a number's new text (`key`:
 * the member holding it, undefined inside an array), or undefined to keep it; members named in `nulled` become null
 * wherever they are. Every other value keeps its exact text; an answer that is not a 200 of JSON is sent as it is.
 */
function respellNumbers(
  normal: BankResponse,
  spell: (text: string, key: string | undefined) => string | undefined,
  nulled: ReadonlySet<string> = new Set(),
): BankResponse {
  const rewrite = (value: unknown, key: string | undefined): unknown => {
    if (Array.isArray(value)) {
      return value.map((v) => rewrite(v, undefined));
    }
    if (value instanceof JsonNumber) {
      const text = spell(value.text, key);
      return text === undefined ? value : new JsonNumber(text);
    }
    if (typeof value === 'object' && value !== null) {
      return Object.fromEntries(
        Object.entries(value).map(([k, v]) => [k, nulled.has(k) ? null : rewrite(v, k)] as const),
      );
    }
    return value;
  };
  try {
    return normal.status === 200
      ? { ...normal, body: JSON.stringify(rewrite(parseKeepingNumbers(normal.body), undefined)) }
      : normal;
  } catch {
    return normal;
  }
}

/**
 * A reference made strange, the same for the same reference: a no-break space, an emoji family (ZWJ sequence), a
 * combining accent, Hebrew under a right-to-left override, and 2,000 astral characters (4,000 UTF-16 units, 8,000
 * bytes of UTF-8, past what a B-tree index entry holds).
 */
export function strangeReference(reference: string): string {
  return `${reference}\u00A0👨‍👩‍👧‍👦 e\u0301 \u202Eשלום\u202C ${'🀄'.repeat(2000)} ${reference}`;
}

/** A v3 page whose records' bank and customer references are made strange (`strangeReference`). */
function strangeReferences(normal: BankResponse): BankResponse {
  try {
    const page = parseKeepingNumbers(normal.body) as { data?: unknown[] };
    if (normal.status !== 200 || !Array.isArray(page.data)) {
      return normal;
    }
    const strange = (searchable: unknown) => {
      const s = searchable as { standardValue?: unknown; searchValue?: unknown } | null;
      return typeof s === 'object' && s !== null && typeof s.standardValue === 'string'
        ? { ...s, standardValue: strangeReference(s.standardValue), searchValue: strangeReference(s.standardValue) }
        : searchable;
    };
    const data = page.data.map((r) => {
      const rec = r as { bankReferenceSearchable?: unknown; customerReferenceSearchable?: unknown };
      return typeof r === 'object' && r !== null
        ? {
            ...rec,
            bankReferenceSearchable: strange(rec.bankReferenceSearchable),
            customerReferenceSearchable: strange(rec.customerReferenceSearchable),
          }
        : r;
    });
    return { ...normal, body: JSON.stringify({ ...page, data }) };
  } catch {
    return normal;
  }
}

/** The amounts of the bank's answers: a transaction's and its availability, a balance's opening and closing. */
const AMOUNT_KEYS = new Set([
  'amount',
  'immediateAvailable',
  'day1Available',
  'day2Available',
  'day2PlusAvailable',
  'day3PlusAvailable',
  'openingAvailableAmount',
  'openingLedgerAmount',
  'endingAvailableAmount',
  'endingLedgerAmount',
]);

/**
 * Another JSON spelling of the same number: a decimal with 18 more zeros (`0.1` → `0.100000000000000000000`), a whole
 * number with an exponent (`375` → `3.75e2`, `0` → `0e7`, `-12` → `-1.2e1`). Exact: only the text moves.
 */
function respellNumber(text: string): string {
  const m = /^(-?)(\d+)(\.\d+)?$/.exec(text);
  if (m === null) {
    return text;
  }
  const [, sign, int, frac] = m;
  if (frac !== undefined) {
    return `${text}${'0'.repeat(18)}`;
  }
  if (/^0+$/.test(int!)) {
    return `${sign}0e7`;
  }
  const digits = int!.replace(/^0+/, '');
  const rest = digits.slice(1).replace(/0+$/, '');
  return `${sign}${digits[0]}${rest === '' ? '' : `.${rest}`}e${digits.length - 1}`;
}

/** An answer with every amount written as another spelling of the same number (`respellNumber`). */
function amountSpellings(normal: BankResponse): BankResponse {
  return respellNumbers(normal, (text, key) =>
    key !== undefined && AMOUNT_KEYS.has(key) ? respellNumber(text) : undefined,
  );
}

function checkClock(clock: Clock): Clock {
  assertIsoDate(clock.today, 'today');
  for (const [name, value] of [
    ['progress', clock.progress],
    ['withdrawalsAt', clock.withdrawalsAt ?? 0],
  ] as const) {
    if (!Number.isFinite(value) || value < 0 || value > 1) {
      throw new Error(`${name} must be between 0 and 1, got ${value}`);
    }
  }
  return clock;
}

/**
 * Starts the J.P. Morgan Access simulator: HTTPS that demands a client certificate from the dev CA
 * (`requestCert` + `rejectUnauthorized`, so no certificate, or one from another CA, fails the TLS
 * handshake). Resolves once listening. `stop()` closes the listener and destroys every open
 * connection, hung fault responses included. No signal handlers are registered here.
 */
export async function startSimulator(options: SimulatorOptions): Promise<RunningSimulator> {
  const pki = await ensureDevPki(options.pkiDir);
  const seed = String(options.seed ?? 'jpm-sync');
  let clock = checkClock({ today: options.today, progress: options.progress ?? 0.5 });
  let shifts = 0;
  const ledger = new Ledger({
    seed,
    accounts: buildAccounts(seed, options.accounts),
    firstDate: addDays(options.today, -(options.historyDays ?? 30)),
    txPerDay: options.txPerDay ?? 40,
    quirks: resolveQuirks(options.quirks),
    calendar: new BankCalendar(options.holidays ?? []),
  });
  const replay: Replay | undefined = options.replayFile ? await loadReplay(options.replayFile) : undefined;
  const faults = new FaultInjector();
  const memo = new RecordsMemo();
  const revoked = new Set<string>();
  const stats = new SimStats();
  const cache = options.prerender ? new ResponseCache(options.prerenderMaxBytes ?? 256 * 1024 * 1024) : undefined;
  const latencyMs = options.latencyMs ?? 0;
  if (!Number.isInteger(latencyMs) || latencyMs < 0) {
    throw new Error(`latencyMs must be a whole number of milliseconds ≥ 0, got ${latencyMs}`);
  }
  const requestLog: SimRequestRecord[] = [];

  const setClock = (next: Partial<Clock>): Clock => {
    // A clock set anew decides withdrawals at its own progress unless told otherwise.
    const { withdrawalsAt: _decided, ...current } = clock;
    clock = checkClock({ ...current, ...next });
    shifts = 0;
    return clock;
  };
  const injectFaults = (plan: FaultPlan | FaultRule[]) => faults.inject(Array.isArray(plan) ? { rules: plan } : plan);
  const revokeCertificate = (certPem: string) => {
    const fingerprint = new X509Certificate(certPem).fingerprint256;
    revoked.add(fingerprint);
    return fingerprint;
  };
  const control = {
    clock: () => ({ ...clock }),
    setClock,
    injectFaults,
    clearFaults: () => faults.clear(),
    activeFaults: () => faults.activeRules,
    groundTruth: () => groundTruth(ledger, clock),
    stats: () => stats.snapshot(faults.firedCount, cache),
    revokeCertificate,
  };

  /** The normal answer of a bank endpoint, or undefined for an unknown route. */
  function bankAnswer(
    method: string,
    path: string,
    params: URLSearchParams,
    rawBody: string,
    failAccountId?: string,
  ): BankResponse | undefined {
    if (path === '/accessapi/balance' && method === 'POST') {
      return replay
        ? replay.kind === 'balances'
          ? { status: 200, body: replay.raw.toString('utf8') }
          : undefined
        : handleBalance(ledger, clock, rawBody, failAccountId);
    }
    const version = path === '/tsapi/v3/transactions' ? 'v3' : path === '/tsapi/v2/transactions' ? 'v2' : undefined;
    if (!version || method !== 'GET') {
      return undefined;
    }
    if (replay) {
      return replay.kind === 'transactions'
        ? { status: 200, body: version === 'v2' ? replay.raw.toString('utf8') : (replay.v3Body ?? '') }
        : undefined;
    }
    const result = handleTransactions(ledger, clock, params, version, memo, options.defaultPageSize);
    // The intraday feed keeps growing while a client pages through it (bounded, so a restarting client converges).
    if (
      version === 'v3' &&
      result.coversCurrentDay &&
      result.totalPages > 1 &&
      ledger.quirks.shiftingPages &&
      ledger.quirks.growingSnapshot &&
      clock.progress < 1 &&
      shifts < MAX_SHIFTS
    ) {
      shifts++;
      // Only growth moves: withdrawals stay decided at the progress the clock was set to.
      clock = {
        ...clock,
        progress: Math.min(1, clock.progress + SHIFT_STEP),
        withdrawalsAt: clock.withdrawalsAt ?? clock.progress,
      };
    }
    return result.response;
  }

  function applyFault(
    res: ServerResponse,
    fault: FaultMatch,
    normal: () => BankResponse | undefined,
    firstPage: () => BankResponse | undefined = () => undefined,
    previousPage: () => BankResponse | undefined = () => undefined,
  ): number | undefined {
    const retryAfter: Record<string, string> =
      fault.rule.retryAfter !== undefined
        ? { 'retry-after': fault.rule.retryAfter }
        : fault.rule.retryAfterSeconds === null
          ? {}
          : { 'retry-after': String(fault.rule.retryAfterSeconds ?? 1) };
    switch (fault.rule.kind) {
      case 'rate-limit':
        return send(res, {
          status: 429,
          headers: retryAfter,
          body: gatewayFault('Spike arrest violation. Allowed rate : 10ps', 'policies.ratelimit.SpikeArrestViolation'),
        });
      case 'server-error':
        return send(res, { status: 500, body: errorsBody(GCA.unavailable, 'System is Unavailable') });
      case 'terse-error':
        return send(res, {
          status: fault.rule.status ?? 200,
          body: JSON.stringify({ errors: [{ errorCode: GCA.unavailable, errorMsg: null }] }),
        });
      case 'unavailable':
        return send(res, {
          status: 503,
          headers: retryAfter,
          body: gatewayFault(
            'The Service is temporarily unavailable',
            'messaging.adaptors.http.flow.ServiceUnavailable',
          ),
        });
      case 'gateway-fault':
        return send(res, {
          status: fault.rule.status ?? 502,
          body: gatewayFault('Unexpected EOF at target', 'messaging.adaptors.http.flow.UnexpectedEOFAtTarget'),
        });
      case 'not-entitled':
        return send(res, {
          status: 403,
          body: errorsBody(GCA.notEntitled, `Not entitled to account(s): ${fault.accountId ?? 'requested'}`),
        });
      case 'hang':
        return undefined; // never answered; stop() or the client's timeout ends it
      case 'closed-keep-alive':
      case 'refused-resumption':
        // As a gateway closing a connection it kept idle just as the next request arrives, or a server that takes no
        // resumed TLS session: nothing is answered.
        res.socket?.destroy();
        return 0;
      case 'reset':
      case 'malformed-json': {
        const body = Buffer.from(safeNormal(normal).body);
        const half = body.subarray(0, Math.max(1, Math.floor(body.length / 2)));
        if (fault.rule.kind === 'malformed-json') {
          return send(res, { status: 200, body: half });
        }
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
        res.write(half, () => res.socket?.destroy());
        return half.length;
      }
      case 'stalled-body': {
        const body = Buffer.from(safeNormal(normal).body);
        const half = body.subarray(0, Math.max(1, Math.floor(body.length / 2)));
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
        res.write(half);
        return half.length; // the rest never comes; the client's body timeout or stop() ends it
      }
      case 'empty-object':
        return send(res, { status: 200, body: Buffer.from('{}') });
      case 'empty-array':
        return send(res, { status: 200, body: Buffer.from('[]') });
      case 'compressed': {
        const answer = safeNormal(normal);
        return send(res, {
          ...answer,
          headers: { ...answer.headers, 'content-encoding': 'gzip' },
          body: gzipSync(answer.body),
        });
      }
      case 'compressed-latin1': {
        const answer = safeNormal(normal);
        return send(res, {
          ...answer,
          headers: {
            ...answer.headers,
            'content-type': 'application/json; charset=iso-8859-1',
            'content-encoding': 'gzip',
          },
          // eslint-disable-next-line no-control-regex -- every character ISO-8859-1 cannot hold
          body: gzipSync(Buffer.from(answer.body.replace(/[^\x00-\xff]/gu, '?'), 'latin1')),
        });
      }
      case 'latin1':
      case 'undeclared-latin1': {
        const answer = safeNormal(normal);
        const declared = fault.rule.kind === 'latin1' ? '; charset=iso-8859-1' : '';
        return send(res, {
          ...answer,
          headers: { ...answer.headers, 'content-type': `application/json${declared}` },
          // eslint-disable-next-line no-control-regex -- every character ISO-8859-1 cannot hold
          body: Buffer.from(answer.body.replace(/[^\x00-\xff]/gu, '?'), 'latin1'),
        });
      }
      case 'short-page':
        return send(res, shortPage(safeNormal(normal)));
      case 'empty-pages':
        return send(res, endlessPages(safeNormal(normal)));
      case 'repeated-page':
        return send(res, repeatedPage(safeNormal(normal), firstPage()));
      case 'blank-page':
        return send(res, blankPage(safeNormal(normal)));
      case 'first-page-again':
        return send(res, firstPage() ?? safeNormal(normal));
      case 'shifted-page':
        return send(res, shiftedPage(safeNormal(normal), previousPage()));
      case 'overlapping-page':
        return send(res, overlappingPage(safeNormal(normal), previousPage()));
      case 'null-data':
        return send(res, nullData(safeNormal(normal)));
      case 'repeated-record':
      case 'repeated-record-uncounted':
        return send(res, repeatedRecord(safeNormal(normal), fault.rule.kind === 'repeated-record'));
      case 'blank-ids':
        return send(res, blankIds(safeNormal(normal)));
      case 'lower-case-direction':
        return send(res, lowerCaseDirection(safeNormal(normal)));
      case 'raw-controls':
        return send(res, rawControls(safeNormal(normal)));
      case 'repeated-name': {
        const page = safeNormal(normal);
        return send(res, { ...page, body: repeatFirstArrayName(page.body) });
      }
      case 'account-error':
        return send(res, normal() ?? { status: 404, body: errorsBody(GCA.notFound, 'Resource not found') });
      case 'null-ledger':
      case 'repeated-balance':
      case 'odd-account':
      case 'odd-currency':
      case 'other-currency':
      case 'odd-timestamp':
      case 'account-unavailable':
        return send(res, oddBalance(safeNormal(normal), fault.rule.kind, fault.rule.accountId));
      case 'null-members':
        return send(res, nullMembers(safeNormal(normal)));
      case 'fractional-integers':
        return send(res, fractionalIntegers(safeNormal(normal)));
      case 'amount-spellings':
        return send(res, amountSpellings(safeNormal(normal)));
      case 'strange-references':
        return send(res, strangeReferences(safeNormal(normal)));
    }
  }

  function safeNormal(normal: () => BankResponse | undefined): BankResponse {
    try {
      return normal() ?? { status: 200, body: '{"data":[{"transactionId":"TXN-C-0-0"}]}' };
    } catch {
      return { status: 200, body: '{"accountList":[{"accountId":"000000000000000"}]}' };
    }
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'https://simulator.local');
    const method = req.method ?? 'GET';
    const path = url.pathname;
    const at = Date.now();
    const rawBody = await readBody(req);
    const bankCall = !path.startsWith('/_sim/');
    if (bankCall && latencyMs > 0) {
      await new Promise((resolve) => setTimeout(resolve, latencyMs));
    }
    const cpuStart = process.cpuUsage();
    let bytes: number | undefined = 0;
    let status = 200;
    const client = clientOf(req.socket as TLSSocket);
    try {
      if (revoked.has(client)) {
        status = 401;
        bytes = send(res, {
          status,
          headers: { connection: 'close' },
          body: errorsBody(GCA.unauthorized, 'Client certificate has been revoked'),
        });
        return;
      }
      if (path.startsWith('/_sim/')) {
        const answer = handleControl(control, method, path, rawBody);
        status = answer.status;
        bytes = send(res, answer);
        return;
      }
      const fault = faults.match(
        path,
        requestedAccountIds(url.searchParams, rawBody),
        Number(url.searchParams.get('pageNumber') ?? '1'),
        { reused: (answered.get(req.socket) ?? 0) > 0, resumed: (req.socket as TLSSocket).isSessionReused() },
      );
      // An account-error rule without an account hits the first one named, or the first entitled one (empty body).
      const failAccountId =
        fault?.rule.kind === 'account-error' ? (fault.accountId ?? ledger.accounts[0]?.accountId) : undefined;
      const normal = () => bankAnswer(method, path, url.searchParams, rawBody, failAccountId);
      if (fault) {
        const firstPage = () => {
          const params = new URLSearchParams(url.searchParams);
          params.set('pageNumber', '1');
          return bankAnswer(method, path, params, rawBody, failAccountId);
        };
        const previousPage = () => {
          const params = new URLSearchParams(url.searchParams);
          params.set('pageNumber', String(Number(url.searchParams.get('pageNumber') ?? '1') - 1));
          return bankAnswer(method, path, params, rawBody, failAccountId);
        };
        bytes = applyFault(res, fault, normal, firstPage, previousPage);
        status = ['hang', 'closed-keep-alive', 'refused-resumption'].includes(fault.rule.kind) ? 0 : res.statusCode;
        return;
      }
      const key = cache
        ? `${method} ${path}?${[...url.searchParams].sort().join('&')}|${rawBody}|${clock.today}|${clock.progress}|${clock.withdrawalsAt ?? ''}`
        : '';
      const hit = cache?.get(key);
      if (hit) {
        bytes = send(res, { status: 200, body: hit });
        return;
      }
      const answer = normal() ?? {
        status: 404,
        body: errorsBody(GCA.notFound, `Resource not found: ${method} ${path}`),
      };
      status = answer.status;
      if (cache && answer.status === 200) {
        cache.set(key, Buffer.from(answer.body));
      }
      bytes = send(res, answer);
    } catch (err) {
      const e = err instanceof SimRequestError ? err : undefined;
      if (!e) {
        log.error({ err, path }, 'simulator request failed');
      }
      status = e?.status ?? 500;
      bytes = send(res, {
        status,
        body: errorsBody(e?.errorCode ?? GCA.unavailable, e?.message ?? 'System is Unavailable'),
      });
    } finally {
      answered.set(req.socket, (answered.get(req.socket) ?? 0) + 1);
      stats.record(path, status, bytes ?? 0, process.cpuUsage(cpuStart));
      if (options.recordRequests && bankCall) {
        requestLog.push({
          at,
          method,
          path,
          query: url.search,
          body: rawBody,
          client,
          accountIds: requestedAccountIds(url.searchParams, rawBody),
          status,
        });
      }
    }
  }

  // A connection's client certificate, read once the handshake is done: a client that goes away before its call is
  // handled (a killed worker) still has its call counted against its own certificate.
  const clients = new WeakMap<TLSSocket, string>();
  // Requests each connection has been asked (a kept-alive connection has had one before: `closed-keep-alive`).
  const answered = new WeakMap<object, number>();
  function fingerprintOf(socket: TLSSocket): string {
    const peer = (socket.getPeerCertificate() as Partial<PeerCertificate> | null) ?? {};
    return peer.fingerprint256 ?? '';
  }
  function clientOf(socket: TLSSocket): string {
    return clients.get(socket) || fingerprintOf(socket);
  }

  const server: Server = createServer(
    { key: pki.serverKeyPem, cert: pki.serverCertPem, ca: pki.caCertPem, requestCert: true, rejectUnauthorized: true },
    (req, res) => {
      handle(req, res).catch((err: unknown) => {
        log.error({ err }, 'simulator handler crashed');
        res.destroy();
      });
    },
  );
  server.on('secureConnection', (socket: TLSSocket) => clients.set(socket, fingerprintOf(socket)));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
  });
  const { port, address } = server.address() as AddressInfo;
  const host =
    address === '0.0.0.0' || address === '::' ? '127.0.0.1' : address.includes(':') ? `[${address}]` : address;
  log.info({ port, accounts: ledger.accounts.length, replay: replay?.file }, 'simulator listening');

  return {
    url: `https://${host}:${port}`,
    port,
    caCertPem: pki.caCertPem,
    pki,
    accounts: ledger.accounts,
    ledger,
    calendar: ledger.calendar,
    clock: control.clock,
    setClock,
    injectFaults,
    clearFaults: control.clearFaults,
    activeFaults: control.activeFaults,
    revokeCertificate,
    groundTruth: control.groundTruth,
    view: (accountId, date) => accountDayView(ledger, clock, accountId, date),
    stats: control.stats,
    requestLog: () => requestLog,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
