import { estimateBusinessDay } from '../domain/business-day.ts';
import { addDays, assertIsoDate, diffDays, type IsoDate } from '../shared/time.ts';
import { listBankCalendarFacts } from '../storage/accounts.repo.ts';
import { getAccountDay, lastAccountDay, listAccountDays, type AccountDayRow } from '../storage/account-days.repo.ts';
import type { AccountDayState } from '../validation/index.ts';
import { calendarSvg, legendSvg } from '../validation/calendar-svg.ts';
import { explainDay, type DayEvidence } from '../validation/day-reasons.ts';
import { formatAmount } from '../validation/html-escape.ts';
import type { CallContext } from './api-client.ts';
import type { PageDeps } from './board.ts';
import { html, raw, type Html } from './html.ts';
import { BASE, when } from './layout.ts';
import { mapLimited } from '../shared/concurrency.ts';

/**
 * The data of one account: the validation calendar (the report's own SVG, each day a link to its
 * page) and a day's proof (opening, credits, debits, closing; the bank's own tallies), its
 * transactions, the decisions about them and their former versions. Reads the stored proof: looking
 * never recomputes it (the validation sweep and reports do).
 */
/** An account as `GET /v1/accounts` and `/v1/accounts/{id}` answer it (the fields the console reads). */
export interface AccountDto {
  id: string;
  integrationId: string;
  jpmAccountMasked: string;
  accountName: string;
  currency: string;
  decimalLocation: number;
  timeZone: string;
  status: string;
  statusReason: string | null;
  lastSyncedAt: string | null;
}
interface TxDto {
  id: string;
  status: string;
  direction: string;
  amount: string;
  currency: string;
  bookingDate: string;
  bankReference: string;
  description: string;
  jpmTransactionId: string | null;
  supersededBy: string | null;
  supersedes: string | null;
  version: number;
  firstSeenAt: string;
}
interface VersionDto {
  version: number;
  replacedAt: string;
  reason: string;
  changedFields: string[];
}
interface DecisionDto {
  transactionId: string;
  relatedTransactionId: string | null;
  decision: string;
  rule: string;
  evidence: Record<string, unknown>;
  decidedAt: string;
}
interface TxDetailDto extends TxDto {
  history: VersionDto[];
  decisions: DecisionDto[];
}
interface SuspicionDto {
  id: string;
  accountId: string;
  bookingDate: string;
  direction: string;
  amountMinor: string;
  transactionIds: string[];
  liveCount: number;
  bankCount: number;
  status: string;
}

/** Pages of suspicions read for one account and period (500 each): far beyond any real account's. */
const MAX_SUSPICION_PAGES = 20;

/**
 * The account's open duplicate suspicions in a period (through the API, so the key's scope applies), read a page at a
 * time; `complete` is false when there were more than `MAX_SUSPICION_PAGES` pages (the page then says "at least").
 */
async function openSuspicions(
  deps: PageDeps,
  ctx: CallContext,
  a: AccountDto,
  from: string,
  to: string,
): Promise<{ open: SuspicionDto[]; complete: boolean }> {
  const open: SuspicionDto[] = [];
  let cursor: string | null = null;
  for (let i = 0; i < MAX_SUSPICION_PAGES; i++) {
    const page: { data: SuspicionDto[]; nextCursor: string | null } = await deps.api.call(
      ctx,
      'get',
      '/v1/integrations/{id}/duplicate-suspicions',
      {
        params: { id: a.integrationId },
        query: { from, to, accountId: a.id, limit: '500', ...(cursor ? { cursor } : {}) },
      },
    );
    open.push(...page.data.filter((s) => s.accountId === a.id && s.status === 'open'));
    cursor = page.nextCursor;
    if (cursor === null) {
      return { open, complete: true };
    }
  }
  return { open, complete: false };
}

function countByDay(suspicions: readonly SuspicionDto[]): Map<string, number> {
  const byDay = new Map<string, number>();
  for (const s of suspicions) {
    byDay.set(s.bookingDate, (byDay.get(s.bookingDate) ?? 0) + 1);
  }
  return byDay;
}

const PERIOD_DAYS = 92;

function dayHref(accountId: string, day: string): string {
  return `${BASE}/accounts/${accountId}/days/${day}`;
}

/** Wraps every day square of the calendar in a link to its page (keyboard: Tab through the days). */
function linkDays(svg: string, accountId: string): string {
  // With links inside, the drawing is a group of controls rather than one image.
  return svg
    .replace('<svg class="calendar" role="img"', '<svg class="calendar" role="group"')
    .replace(
      /<g class="day [a-z]+" data-day="(\d{4}-\d{2}-\d{2})" data-state="([a-z]+)"><title>([^<]*)<\/title>([\s\S]*?)<\/g>/g,
      (whole, day: string, state: string, title: string) =>
        state === 'none' ? whole : `<a href="${dayHref(accountId, day)}" aria-label="${title}">${whole}</a>`,
    );
}

function calendarOf(
  a: AccountDto,
  rows: AccountDayRow[],
  from: string,
  to: string,
  suspectedOn: ReadonlyMap<string, number>,
): string {
  return calendarSvg({
    accountId: a.id,
    accountMasked: a.jpmAccountMasked,
    accountName: a.accountName,
    currency: a.currency,
    decimalLocation: a.decimalLocation,
    timeZone: a.timeZone,
    from,
    to,
    days: { proved: 0, broken: 0, unproved: 0 },
    totals: { creditsMinor: '0', debitsMinor: '0', creditCount: 0, debitCount: 0 },
    calendar: rows.map((r) => {
      const differenceMinor = r.difference_minor === null ? null : String(r.difference_minor);
      const why = explainDay({
        state: r.state as AccountDayState,
        reason: r.reason,
        differenceMinor,
        evidence: r.evidence as DayEvidence | null,
        healAttempts: r.heal_attempts,
        openSuspicions: suspectedOn.get(r.day) ?? 0,
        decimalLocation: r.decimal_location,
        currency: r.currency,
      });
      return { day: r.day, state: r.state as AccountDayState, differenceMinor, ...why };
    }),
    openSuspicions: [...suspectedOn.values()].reduce((n, c) => n + c, 0),
  });
}

/**
 * The account's current business day as the bank last said it, moved on by our clock (`estimateBusinessDay`): never
 * the machine's UTC date, which is a day ahead of a New York account every evening.
 */
async function businessDayOf(deps: PageDeps, a: AccountDto): Promise<IsoDate> {
  const [facts] = await listBankCalendarFacts(deps.db, [a.id]);
  return estimateBusinessDay(
    facts ?? { time_zone: a.timeZone, bank_business_day: null, bank_calendar_at: null },
    deps.now(),
  );
}

export async function accountPage(
  deps: PageDeps,
  ctx: CallContext,
  id: string,
): Promise<{ title: string; body: Html }> {
  const a: AccountDto = await deps.api.call(ctx, 'get', '/v1/accounts/{id}', { params: { id } });
  const to = (await lastAccountDay(deps.db, a.id)) ?? (await businessDayOf(deps, a));
  const from = addDays(to, -(PERIOD_DAYS - 1));
  const [rows, { open: suspicions, complete }] = await Promise.all([
    listAccountDays(deps.db, a.id, from, to),
    openSuspicions(deps, ctx, a, from, to),
  ]);
  const suspectedOn = countByDay(suspicions);
  const attention = rows.filter((r) => r.state !== 'proved' || suspectedOn.has(r.day));
  const count = (s: string) => rows.filter((r) => r.state === s).length;
  const body = html`<p><a href="${BASE}/integrations/${a.integrationId}">← Integration</a></p>
    <h1>Account ${a.jpmAccountMasked}${a.accountName ? html` · ${a.accountName}` : ''}</h1>
    <p class="meta">${a.currency} · ${a.timeZone} · ${a.status} · last sync ${when(a.lastSyncedAt)}</p>
    <section aria-labelledby="h-cal"><h2 id="h-cal">Balance proof, ${from} to ${to}</h2>
      <p>${count('proved')} proved, ${count('broken')} broken, ${count('unproved')} unproved day(s), ${complete ? '' : 'at least '}${suspicions.length} open duplicate suspicion(s). Choose a day for its proof and transactions.</p>
      <div class="calendar-wrap">${raw(linkDays(calendarOf(a, rows, from, to, suspectedOn), a.id))}</div>
      <div class="calendar-wrap">${raw(legendSvg())}</div>
      ${attention.length > 0 ? html`<h3>Days that need attention</h3><ul>${attention.map((r) => html`<li><a href="${dayHref(a.id, r.day)}">${r.day}</a>: ${r.state}${r.reason ? html` (${r.reason.replaceAll('_', ' ')})` : ''}${suspectedOn.has(r.day) ? html`, ${suspectedOn.get(r.day)} open duplicate suspicion(s)` : ''}</li>`)}</ul>` : ''}
    </section>`;
  return { title: `Account ${a.jpmAccountMasked}`, body };
}

function money(minor: string | null | undefined, a: AccountDto): string {
  return minor === null || minor === undefined
    ? '—'
    : `${formatAmount(String(minor), a.decimalLocation)} ${a.currency}`;
}

function proofTable(a: AccountDto, r: AccountDayRow): Html {
  const e = (r.evidence ?? {}) as DayEvidence & {
    bankFetch?: { recordCount?: number; creditsMinor?: string | null; debitsMinor?: string | null; fetchedAt?: string };
    expectedClosingMinor?: string;
  };
  const bank = e.bankFetch;
  return html`<div class="table-wrap" tabindex="0" role="region" aria-label="Proof of the day"><table><caption class="skip">Proof of the day</caption>
    <thead><tr><th scope="col">Figure</th><th scope="col" class="num">Ours</th><th scope="col" class="num">The bank's</th></tr></thead>
    <tbody>
      <tr><th scope="row">Opening ledger</th><td class="num">—</td><td class="num">${money(r.opening_ledger_minor, a)}</td></tr>
      <tr><th scope="row">Credits (posted)</th><td class="num">${money(r.credits_minor, a)} (${r.credit_count})</td><td class="num">${bank ? money(bank.creditsMinor, a) : '—'}</td></tr>
      <tr><th scope="row">Debits (posted)</th><td class="num">${money(r.debits_minor, a)} (${r.debit_count})</td><td class="num">${bank ? money(bank.debitsMinor, a) : '—'}</td></tr>
      <tr><th scope="row">Closing ledger</th><td class="num">${money(e.expectedClosingMinor, a)}</td><td class="num">${money(r.closing_ledger_minor, a)}</td></tr>
      ${r.difference_minor !== null ? html`<tr><th scope="row">Difference</th><td class="num" colspan="2">${money(r.difference_minor, a)}</td></tr>` : ''}
      ${bank ? html`<tr><th scope="row">Records the bank reported</th><td class="num" colspan="2">${bank.recordCount ?? '—'}${bank.fetchedAt ? html` (fetched ${when(bank.fetchedAt)})` : ''}</td></tr>` : ''}
    </tbody></table></div>`;
}

function txRow(t: TxDto, detail: TxDetailDto | undefined): Html {
  return html`<tr data-transaction-id="${t.id}"><td>${t.status}</td><td>${t.direction}</td><td class="num">${t.amount} ${t.currency}</td>
    <td class="mono">${t.bankReference || '—'}</td><td>${t.description}
    ${
      detail && (detail.decisions.length > 0 || detail.history.length > 0)
        ? html`<details><summary>Decisions (${detail.decisions.length}) and versions (${detail.history.length})</summary>
      ${detail.decisions.length > 0 ? html`<ul>${detail.decisions.map((d) => html`<li>${when(d.decidedAt)}: <strong>${d.decision.replaceAll('_', ' ')}</strong> by rule <code>${d.rule}</code>${d.relatedTransactionId ? html` (related: <code>${d.relatedTransactionId.slice(-8)}</code>)` : ''}</li>`)}</ul>` : ''}
      ${detail.history.length > 0 ? html`<ul>${detail.history.map((v) => html`<li>version ${v.version} replaced ${when(v.replacedAt)} (${v.reason.replaceAll('_', ' ')}): ${v.changedFields.join(', ')}</li>`)}</ul>` : ''}
    </details>`
        : ''
    }</td></tr>`;
}

/** Transactions per page of a day (the API's largest page); a busier day pages on with the API's cursor. */
const DAY_PAGE_SIZE = 500;

export async function dayPage(
  deps: PageDeps,
  ctx: CallContext,
  id: string,
  dayParam: string,
  cursor?: string,
): Promise<{ title: string; body: Html }> {
  const a: AccountDto = await deps.api.call(ctx, 'get', '/v1/accounts/{id}', { params: { id } });
  const day = assertIsoDate(dayParam, 'day');
  const [row, { open: suspicions }] = await Promise.all([
    getAccountDay(deps.db, a.id, day),
    openSuspicions(deps, ctx, a, day, day),
  ]);
  const page: { data: TxDto[]; nextCursor: string | null } = await deps.api.call(ctx, 'get', '/v1/transactions', {
    query: {
      accountId: a.id,
      bookingDateFrom: day,
      bookingDateTo: day,
      sort: 'bookingDate',
      limit: String(DAY_PAGE_SIZE),
      ...(cursor ? { cursor } : {}),
    },
  });
  // Part of the day is never counted as all of it: a page that is not the whole day says so and links on.
  const whole = !cursor && page.nextCursor === null;
  const txCount = whole
    ? html`(${page.data.length})`
    : html`(${page.data.length} on this page${page.nextCursor ? ', more on the next' : ''})`;
  const pager = whole
    ? ''
    : html`<nav aria-label="Pages of transactions"><a href="${dayHref(a.id, day)}">First page</a>${page.nextCursor ? html` · <a rel="next" href="${dayHref(a.id, day)}?cursor=${encodeURIComponent(page.nextCursor)}">Next page →</a>` : ''}</nav>`;
  // Decisions and versions exist for rows the sync changed, replaced or linked.
  const changed = page.data.filter(
    (x) =>
      x.version > 1 ||
      x.status === 'superseded' ||
      x.status === 'removed' ||
      x.supersedes !== null ||
      x.supersededBy !== null,
  );
  const details = new Map(
    await mapLimited(
      changed,
      4,
      async (t) =>
        [
          t.id,
          await deps.api.call<TxDetailDto>(ctx, 'get', '/v1/transactions/{id}', { params: { id: t.id } }),
        ] as const,
    ),
  );
  const why = row
    ? explainDay({
        state: row.state as AccountDayState,
        reason: row.reason,
        differenceMinor: row.difference_minor === null ? null : String(row.difference_minor),
        evidence: row.evidence as DayEvidence | null,
        healAttempts: row.heal_attempts,
        openSuspicions: suspicions.length,
        decimalLocation: row.decimal_location,
        currency: row.currency,
      })
    : undefined;
  const prev = addDays(day, -1);
  const next = addDays(day, 1);
  const today = await businessDayOf(deps, a);
  const body = html`<p><a href="${BASE}/accounts/${a.id}">← Account ${a.jpmAccountMasked}</a></p>
    <h1>${day} · account ${a.jpmAccountMasked}</h1>
    <nav aria-label="Days"><a href="${dayHref(a.id, prev)}">← ${prev}</a>${diffDays(next, today) >= 0 ? html` · <a href="${dayHref(a.id, next)}">${next} →</a>` : ''}</nav>
    <section aria-labelledby="h-proof"><h2 id="h-proof">Proof</h2>
      ${
        row
          ? html`<p class="day-state" data-state="${row.state}"><span class="badge ${row.state === 'proved' ? 'ok' : row.state === 'broken' ? 'bad' : 'warn'}">${row.state}</span>
          ${why?.explanation ? html` ${why.explanation}` : ''}</p>${proofTable(a, row)}<p class="meta">Computed ${when(row.computed_at.toISOString())}.</p>`
          : diffDays(today, day) >= 0
            ? html`<p>No proof yet: the bank has not closed this day (${day === today ? html`it is the account's current business day, ${today}` : html`the account's current business day is ${today}`}).</p>`
            : html`<p>No proof stored for this day (not a business day, or not validated yet).</p>`
      }
    </section>
    ${
      suspicions.length > 0
        ? html`<section aria-labelledby="h-dup"><h2 id="h-dup">Open duplicate suspicions (${suspicions.length})</h2>
      <p class="meta">We hold more identical transactions than the bank reported. Nothing is merged or deleted: a person reviews each
        (<code>POST /v1/duplicate-suspicions/{id}/review</code>).</p>
      <ul>${suspicions.map((s) => html`<li data-suspicion="${s.id}">${s.direction.toLowerCase()} ${money(s.amountMinor, a)}: we hold ${s.liveCount}, the bank reported ${s.bankCount}; transactions ${s.transactionIds.map((id, i) => html`${i > 0 ? ', ' : ''}<code>${id.slice(-8)}</code>`)}</li>`)}</ul>
    </section>`
        : ''
    }
    <section aria-labelledby="h-tx"><h2 id="h-tx">Transactions booked on ${day} ${txCount}</h2>
      ${
        page.data.length === 0
          ? html`<p class="meta">None.</p>`
          : html`<div class="table-wrap" tabindex="0" role="region" aria-label="Transactions"><table><caption class="skip">Transactions</caption>
        <thead><tr><th scope="col">Status</th><th scope="col">Direction</th><th scope="col" class="num">Amount</th><th scope="col">Bank reference</th><th scope="col">Description</th></tr></thead>
        <tbody>${page.data.map((t) => txRow(t, details.get(t.id)))}</tbody></table></div>`
      }
      ${pager}
    </section>`;
  return { title: `${day} · ${a.jpmAccountMasked}`, body };
}
