import { Prng } from './prng.ts';

/**
 * Fault injection: the failure modes a client of J.P. Morgan's gateway meets in production. Gateway-
 * level failures (429, 503, routing errors) come as Apigee-style `{"fault":{…}}` bodies (J.P. Morgan's
 * gateway is Apigee; the official sample proxy treats `fault` bodies as failures), application-level
 * ones as the `{"errors":[…]}` envelope.
 */
export type FaultKind =
  | 'rate-limit' // 429 + Retry-After, gateway fault body
  | 'server-error' // 500 {"errors":[{"errorCode":"GCA-099","errorMsg":"System is Unavailable"}]}
  | 'terse-error' // 200 (or `status`) {"errors":[{"errorCode":"GCA-099","errorMsg":null}]}: the envelope without a message
  | 'unavailable' // 503 + Retry-After, gateway fault body
  | 'gateway-fault' // 502 (or `status`) with a gateway {"fault":{…}} body
  | 'hang' // headers never sent; the socket stays open until the client gives up
  | 'refused-resumption' // a request on a connection whose TLS session was resumed (no full handshake) is not answered: the connection is closed, as a server demanding a full handshake for mutual TLS does
  | 'closed-keep-alive' // a request on a kept-alive connection (one that already answered) is not answered: the connection is closed as it arrives
  | 'reset' // status and half the body, then the TCP connection is destroyed
  | 'stalled-body' // status, headers and half the body, then nothing more; the connection stays open until the client gives up
  | 'malformed-json' // 200 whose body is cut off mid-JSON
  | 'empty-object' // 200 whose body is `{}` (a gateway answering for a back end that sent nothing)
  | 'empty-array' // 200 whose body is `[]`
  | 'compressed' // the answer as it would be, gzip-compressed with `content-encoding: gzip` (the request named no encoding)
  | 'compressed-latin1' // both at once: the answer as 'latin1' sends it (charset declared), then gzip-compressed as 'compressed' sends it
  | 'latin1' // the answer as it would be, in ISO-8859-1 with `content-type: application/json; charset=iso-8859-1` (a character beyond it as '?')
  | 'undeclared-latin1' // the answer as 'latin1' sends it, but its content-type names no charset (bytes that are not UTF-8)
  | 'short-page' // 200, well-formed JSON, but a v3 page carries only the first half of its records (pagination unchanged)
  | 'empty-pages' // 200, a v3 page as it would be but claiming 1,000,000 pages (the pages past its real end come empty)
  | 'repeated-page' // 200, a v3 page from page 2 on carries page 1's records (as many as the real page has), pagination unchanged; waits for page 2
  | 'shifted-page' // 200, a v3 page past the first shifted back by one record (the last of the page before it first, its own last gone), pagination unchanged: an item inserted on a page already read, the bank's counts not updated; waits for page 2
  | 'overlapping-page' // 200, a v3 page past the first begins with the last record of the page before it again (identical), then all its own records, pagination unchanged: page boundaries overlapping by one record, nothing missing; waits for page 2
  | 'first-page-again' // 200, a v3 page past the first answered with page 1 as it is (pageNumber 1, its records): the bank went back; waits for page 2
  | 'blank-ids' // 200, every record of a v3 page has its transactionId written as 12 spaces (a fixed-width field holding no id)
  | 'lower-case-direction' // 200, every record of a v3 page writes its debitCreditCode in lower case (`credit`, `debit`)
  | 'raw-controls' // 200, a v3 page or balance answer with every control character in its strings written raw (TAB, LF, NUL… unescaped); one without gets some (a narrative tag, the first account's name)
  | 'null-data' // 200, a v3 page without records writes `"data":null` (pagination unchanged: totalRecords 0)
  | 'repeated-record' // 200, page 1 of a v3 walk gives its first record twice in a row (identical), and every page counts it in totalRecords
  | 'repeated-record-uncounted' // the same, but totalRecords counts the transaction once (the copy is not in the bank's count)
  | 'blank-page' // 200, a v3 page past the first with no records, pagination unchanged (records missing behind an empty page); waits for page 2
  | 'repeated-name' // 200, well-formed JSON, but the body's first array member comes twice: `"\u0064ata":[],"data":[…]` (escaped name, empty first)
  | 'account-error' // balances: a per-account GCA-024 entry inside the 200
  | 'null-ledger' // balances: 200, but the first balance of the answer has `endingLedgerAmount: null`
  | 'repeated-balance' // balances: 200, but the first balance of the answer comes twice, identical
  | 'odd-account' // balances: 200, but the first account's descriptive fields are odd (name false, bank name {}, no branch, currency description null, no currencySequence)
  | 'odd-currency' // balances: 200, but the rule's account (else the first with balances) has an unusable currency code, lower case ("usd")
  | 'other-currency' // balances: 200, but the rule's account (else the first with balances) is reported in another currency (EUR, or USD for EUR) with 3 decimal places, amounts unchanged
  | 'account-unavailable' // balances: 200, but the rule's account (else the first with balances) is a per-account GCA-099 "System is Unavailable" entry (no balanceList)
  | 'odd-timestamp' // balances: 200, but the first balance of the rule's account (else the first with balances) has a recordTimestamp of its form that names no instant (`2026-02-30T14:60:00+25:00`)
  | 'null-members' // balances: 200, every account entry writes the other kind's members as null (an account with balances `"errorCode":null,"errorMsg":null`, a GCA-024 entry `"balanceList":null`)
  | 'not-entitled' // 403 GCA-004 for the account (or every request)
  | 'strange-references' // 200, every record's bank and customer reference made strange: emoji with ZWJ, a combining mark, RTL override, NBSP, 2,000+ astral characters
  | 'amount-spellings' // 200, every amount written as another spelling of the same number (`375.5` as `3.755e2`, `0.1` as `0.100000000000000000000`, `-12.50` as `-1.250e1`)
  | 'fractional-integers'; // 200, every integer count written with a fraction of zero or an exponent (`decimalLocation: 2.0`, `pageNumber: 1.0`, `totalPages: 30e-1`), `pageSize` null

export const FAULT_KINDS: readonly FaultKind[] = [
  'rate-limit',
  'server-error',
  'terse-error',
  'unavailable',
  'gateway-fault',
  'hang',
  'closed-keep-alive',
  'refused-resumption',
  'reset',
  'stalled-body',
  'malformed-json',
  'empty-object',
  'empty-array',
  'compressed',
  'compressed-latin1',
  'latin1',
  'undeclared-latin1',
  'short-page',
  'empty-pages',
  'repeated-page',
  'blank-page',
  'first-page-again',
  'shifted-page',
  'overlapping-page',
  'null-data',
  'repeated-record',
  'repeated-record-uncounted',
  'blank-ids',
  'lower-case-direction',
  'raw-controls',
  'repeated-name',
  'account-error',
  'null-ledger',
  'repeated-balance',
  'odd-account',
  'odd-currency',
  'other-currency',
  'account-unavailable',
  'odd-timestamp',
  'null-members',
  'not-entitled',
  'fractional-integers',
  'amount-spellings',
  'strange-references',
];

/** Faults of a v3 transaction page's records or pagination: only transaction requests meet them. */
const PAGING = new Set<FaultKind>([
  'short-page',
  'empty-pages',
  'repeated-page',
  'blank-page',
  'first-page-again',
  'shifted-page',
  'overlapping-page',
  'null-data',
  'repeated-record',
  'repeated-record-uncounted',
  'blank-ids',
  'lower-case-direction',
  'repeated-record',
  'repeated-record-uncounted',
  'strange-references',
]);
/** Faults that answer a page past the first with something else: they wait for such a page. */
const LATER_PAGE = new Set<FaultKind>([
  'repeated-page',
  'blank-page',
  'first-page-again',
  'shifted-page',
  'overlapping-page',
]);

/** Faults of a connection kept alive after an answer: only a request on such a connection meets them. */
const REUSED_CONNECTION = new Set<FaultKind>(['closed-keep-alive']);

const BALANCE_ONLY = new Set<FaultKind>([
  'account-error',
  'null-ledger',
  'repeated-balance',
  'odd-account',
  'odd-currency',
  'other-currency',
  'account-unavailable',
  'odd-timestamp',
  'null-members',
]);

export interface FaultRule {
  kind: FaultKind;
  /** Path prefix this rule applies to, e.g. `/tsapi/v3/transactions` (default: every bank endpoint). */
  path?: string;
  /** Fire for this many matching requests, then retire (default: no limit). */
  count?: number;
  /** Let this many matching requests through before firing. */
  after?: number;
  /** Fire with this probability (0..1), drawn from the plan's seed, so random plans are reproducible. */
  probability?: number;
  /** Only requests naming this account (and, for account-error / not-entitled, the account affected). */
  accountId?: string;
  /** `Retry-After` seconds for rate-limit / unavailable (default 1); `null` sends no `Retry-After` at all. */
  retryAfterSeconds?: number | null;
  /**
   * The `Retry-After` header's text exactly, instead of `retryAfterSeconds`: an HTTP date, seconds written as `30.0`,
   * anything a gateway may write.
   */
  retryAfter?: string;
  /** HTTP status for gateway-fault (default 502) and terse-error (default 200). */
  status?: number;
}

export interface FaultPlan {
  rules: FaultRule[];
  /** Seed for probabilistic rules (default `faults`). */
  seed?: string;
}

interface ActiveRule {
  rule: FaultRule;
  seen: number;
  fired: number;
  rng: Prng;
}

export interface FaultMatch {
  rule: FaultRule;
  /** The account the fault concerns (account-error / not-entitled), if any. */
  accountId: string | undefined;
}

export function validateFaultPlan(plan: unknown): FaultPlan {
  const p = plan as Partial<FaultPlan> | null;
  if (typeof p !== 'object' || p === null || !Array.isArray(p.rules)) {
    throw new Error('a fault plan is { rules: FaultRule[], seed? }');
  }
  for (const rule of p.rules) {
    if (!FAULT_KINDS.includes((rule as FaultRule | null)?.kind as FaultKind)) {
      throw new Error(
        `unknown fault kind ${JSON.stringify((rule as FaultRule | null)?.kind)}; use one of ${FAULT_KINDS.join(', ')}`,
      );
    }
  }
  return { rules: p.rules, ...(typeof p.seed === 'string' ? { seed: p.seed } : {}) };
}

/** Holds the injected rules and decides, per request, which one (if any) fires. */
export class FaultInjector {
  #rules: ActiveRule[] = [];
  #fired = 0;

  /** Adds the plan's rules after any already active (first matching rule wins). */
  inject(plan: FaultPlan): void {
    const seed = plan.seed ?? 'faults';
    const base = this.#rules.length;
    this.#rules.push(
      ...plan.rules.map((rule, i) => ({ rule, seen: 0, fired: 0, rng: new Prng(seed, 'rule', base + i) })),
    );
  }

  clear(): void {
    this.#rules = [];
  }

  get firedCount(): number {
    return this.#fired;
  }

  get activeRules(): FaultRule[] {
    return this.#rules.filter((r) => r.rule.count === undefined || r.fired < r.rule.count).map((r) => r.rule);
  }

  /**
   * The fault to apply to a bank request on `path` naming `accountIds` (asking for page `pageNumber`), consuming the
   * rule's budget. A `repeated-page`, `blank-page` or `first-page-again` rule waits for a page past the first (page 1 has nothing earlier to
   * repeat, and an empty page 1 is a true answer when the range has no records). A `closed-keep-alive` rule waits for a
   * request on a connection that already answered one (`connection.reused`), a `refused-resumption` rule for the first
   * request on a connection whose TLS session was resumed (`connection.resumed`).
   */
  match(
    path: string,
    accountIds: readonly string[],
    pageNumber = 1,
    connection: { reused: boolean; resumed: boolean } = { reused: false, resumed: false },
  ): FaultMatch | undefined {
    for (const active of this.#rules) {
      const { rule } = active;
      if (rule.count !== undefined && active.fired >= rule.count) {
        continue;
      }
      if (rule.path !== undefined && !path.startsWith(rule.path)) {
        continue;
      }
      if (rule.accountId !== undefined && !accountIds.includes(rule.accountId)) {
        continue;
      }
      if (BALANCE_ONLY.has(rule.kind) && !path.startsWith('/accessapi/balance')) {
        continue;
      }
      if (PAGING.has(rule.kind) && !path.startsWith('/tsapi/v3/transactions')) {
        continue;
      }
      if (LATER_PAGE.has(rule.kind) && !(pageNumber > 1)) {
        continue;
      }
      if (REUSED_CONNECTION.has(rule.kind) && !connection.reused) {
        continue;
      }
      if (rule.kind === 'refused-resumption' && !(connection.resumed && !connection.reused)) {
        continue;
      }
      active.seen++;
      if (active.seen <= (rule.after ?? 0)) {
        continue;
      }
      if (rule.probability !== undefined && !active.rng.chance(rule.probability)) {
        continue;
      }
      active.fired++;
      this.#fired++;
      return { rule, accountId: rule.accountId ?? accountIds[0] };
    }
    return undefined;
  }
}

/** Account ids a raw bank request names (query `accountIds`, or the balance body's `accountList`). */
export function requestedAccountIds(params: URLSearchParams, rawBody: string): string[] {
  const fromQuery = params
    .getAll('accountIds')
    .join(',')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (fromQuery.length > 0 || rawBody.trim() === '') {
    return fromQuery;
  }
  try {
    const body = JSON.parse(rawBody) as { accountList?: { accountId?: unknown; accountID?: unknown }[] };
    return (Array.isArray(body.accountList) ? body.accountList : [])
      .map((a) => a.accountId ?? a.accountID)
      .filter((id): id is string => typeof id === 'string');
  } catch {
    return [];
  }
}

/**
 * The body with its first member whose value is an array (`data`, `accountList`) given twice: first
 * with its name's first letter escaped and an empty array, then as sent. Well-formed JSON that a
 * parser keeping the first value reads as an empty page.
 */
export function repeatFirstArrayName(body: string): string {
  const first = /"([A-Za-z][A-Za-z0-9]*)":\[/.exec(body);
  if (first === null) {
    return body.replace('{', '{"note":null,"\\u006eote":null,');
  }
  const name = first[1]!;
  const escaped = `\\u${name.charCodeAt(0).toString(16).padStart(4, '0')}${name.slice(1)}`;
  return `${body.slice(0, first.index)}"${escaped}":[],${body.slice(first.index)}`;
}

export function gatewayFault(faultstring: string, errorcode: string): string {
  return JSON.stringify({ fault: { faultstring, detail: { errorcode } } });
}
