import { calendarSvg, legendSvg } from '../validation/calendar-svg.ts';
import { escapeHtml as esc, formatAmount } from '../validation/html-escape.ts';
import { notYetReportableText } from '../validation/report-html.ts';
import type { ReviewPageData } from './service.ts';
import { MAX_LISTED, MAX_NOTE } from './service.ts';

/**
 * The customer's review page: self-contained (no script, nothing from another origin: inline CSS
 * and SVG only), readable on a phone (420 px: tables become stacked rows, calendars scroll inside
 * their own box). Every value from the database or the bank is escaped.
 */
const STYLE = `
*{box-sizing:border-box}
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1f2328;background:#f6f8fa;line-height:1.45}
main{max-width:64rem;margin:0 auto;padding:1rem}
h1{font-size:1.4rem;margin:.2rem 0}
h2{font-size:1.1rem;margin:1.6rem 0 .5rem}
section,.card{background:#fff;border:1px solid #d0d7de;border-radius:6px;padding:1rem;margin:1rem 0}
.muted{color:#57606a;font-size:.9rem}
.notice{padding:.75rem 1rem;border-radius:6px;margin:1rem 0}
.ok{background:#dafbe1;border:1px solid #2da44e}
.error{background:#ffebe9;border:1px solid #cf222e}
.scroll{overflow-x:auto;max-width:100%}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:.4rem .5rem;border-bottom:1px solid #d8dee4;vertical-align:top}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
form.search{display:flex;gap:.5rem;flex-wrap:wrap;margin:.5rem 0}
input[type=search]{flex:1 1 12rem;min-width:0;padding:.5rem;font:inherit;border:1px solid #8c959f;border-radius:6px}
textarea{width:100%;min-height:6rem;padding:.5rem;font:inherit;border:1px solid #8c959f;border-radius:6px}
button{font:inherit;padding:.6rem 1rem;border-radius:6px;border:1px solid #1f2328;background:#fff;cursor:pointer;min-height:2.75rem}
button.primary{background:#1a7f37;border-color:#1a7f37;color:#fff}
button.warn{background:#cf222e;border-color:#cf222e;color:#fff}
.actions{display:grid;grid-template-columns:1fr 1fr;gap:1rem}
label{font-weight:600;display:block;margin:.5rem 0 .25rem}
.legend svg,.calendar svg{display:block}
@media (max-width:40rem){
  .actions{grid-template-columns:1fr}
  table.stack thead{display:none}
  table.stack tr{display:block;border-bottom:1px solid #d8dee4;padding:.4rem 0}
  table.stack td{display:flex;justify-content:space-between;gap:1rem;border:0;padding:.15rem 0;text-align:right}
  table.stack td::before{content:attr(data-label);font-weight:600;text-align:left}
  table.stack td.desc{display:block;text-align:left}
  table.stack td.desc::before{content:none}
}`;

function dateText(iso: string): string {
  return new Date(`${iso}T12:00:00Z`).toLocaleDateString('en-GB', {
    day: 'numeric',
    month: 'long',
    year: 'numeric',
    timeZone: 'UTC',
  });
}

function accountsTable(d: ReviewPageData): string {
  const rows = d.report.accounts
    .map(
      (a) => `<tr>
    <td data-label="Account">${esc(a.accountName)} <span class="muted">${esc(a.accountMasked)}</span></td>
    <td data-label="Currency">${esc(a.currency)}</td>
    <td class="num" data-label="Credits">${esc(formatAmount(a.totals.creditsMinor, a.decimalLocation))} <span class="muted">(${a.totals.creditCount})</span></td>
    <td class="num" data-label="Debits">${esc(formatAmount(a.totals.debitsMinor, a.decimalLocation))} <span class="muted">(${a.totals.debitCount})</span></td>
    <td class="num" data-label="Days checked">${a.notYetReportable ? 'not yet reportable' : `${a.days.proved} of ${a.days.proved + a.days.broken + a.days.unproved}`}</td></tr>`,
    )
    .join('');
  return `<table class="stack" id="totals"><thead><tr><th>Account</th><th>Currency</th><th class="num">Credits (count)</th><th class="num">Debits (count)</th><th class="num">Days that add up</th></tr></thead><tbody>${rows}</tbody></table>`;
}

function calendars(d: ReviewPageData): string {
  const each = d.report.accounts
    .map(
      (a) =>
        `<figure class="calendar"><figcaption>${esc(a.accountName)} <span class="muted">${esc(a.accountMasked)}</span></figcaption>${
          a.notYetReportable
            ? `<p>${esc(notYetReportableText(a.notYetReportable))}</p>`
            : `<div class="scroll" tabindex="0" role="region" aria-label="Calendar of ${esc(a.accountMasked)}">${calendarSvg(a)}</div>`
        }</figure>`,
    )
    .join('');
  return `<div class="legend scroll" tabindex="0" role="region" aria-label="Legend">${legendSvg()}</div>${each}`;
}

function transactionsTable(d: ReviewPageData): string {
  if (d.transactions.length === 0) {
    return `<p id="no-transactions">${d.query ? 'No transaction matches your search.' : 'No transactions in this period.'}</p>`;
  }
  const rows = d.transactions
    .map(
      (t) => `<tr data-transaction-id="${esc(t.id)}">
    <td data-label="Mark"><input type="checkbox" form="problem-form" name="transactionIds" value="${esc(t.id)}" aria-label="Mark the transaction of ${esc(t.bookingDate)}, ${esc(formatAmount(t.amountMinor, t.decimalLocation))} ${esc(t.currency)}"></td>
    <td data-label="Date">${esc(t.bookingDate)}${t.status === 'pending' ? ' <span class="muted">(pending)</span>' : ''}</td>
    <td data-label="Account">${esc(`****${t.accountLast4}`)}</td>
    <td class="num" data-label="Amount">${t.direction === 'debit' ? '-' : ''}${esc(formatAmount(t.amountMinor, t.decimalLocation))} ${esc(t.currency)}</td>
    <td class="desc" data-label="Description">${esc(t.description)}${t.reference ? ` <span class="muted">${esc(t.reference)}</span>` : ''}</td></tr>`,
    )
    .join('');
  const more = d.truncated ? `<p class="muted">Showing the latest ${MAX_LISTED}; search to narrow the list.</p>` : '';
  return `<table class="stack" id="transactions"><thead><tr><th>Mark</th><th>Date</th><th>Account</th><th class="num">Amount</th><th>Description</th></tr></thead><tbody>${rows}</tbody></table>${more}`;
}

export interface PageState {
  csrf: string;
  /** Path of this page (the token included), for forms and the search. */
  path: string;
  done?: 'accurate' | 'problem' | undefined;
  error?: string | undefined;
  note?: string | undefined;
}

export function renderReviewPage(d: ReviewPageData, s: PageState): string {
  const r = d.report;
  const done =
    s.done === 'accurate'
      ? '<div class="notice ok" role="status" id="done">Thank you: we recorded that the data is complete and accurate.</div>'
      : s.done === 'problem'
        ? '<div class="notice ok" role="status" id="done">Thank you: we recorded your note and your account manager will be in touch.</div>'
        : '';
  const error = s.error ? `<div class="notice error" role="alert" id="error">${esc(s.error)}</div>` : '';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex"><meta name="referrer" content="no-referrer">
<title>Review your data: ${esc(d.link.integration_name)}</title><style>${STYLE}</style></head>
<body><main>
<p class="muted">${esc(d.link.organization_name)}</p>
<h1>Review your data: ${esc(d.link.integration_name)}</h1>
<p>Hello ${esc(d.link.contact_name)}. These are the transactions we imported from J.P. Morgan for ${esc(dateText(r.period.from))} to ${esc(dateText(r.period.to))}. Every business day was checked against the closing balance J.P. Morgan reported.</p>
<p class="muted">Report ${esc(r.id)}, made ${esc(new Date(r.generatedAt).toUTCString())}.</p>
${done}${error}
<section aria-labelledby="h-totals"><h2 id="h-totals">Totals per account</h2><div class="scroll" tabindex="0" role="region" aria-label="Totals per account">${accountsTable(d)}</div></section>
<section aria-labelledby="h-calendar"><h2 id="h-calendar">Day by day</h2>${calendars(d)}</section>
<section aria-labelledby="h-tx"><h2 id="h-tx">Transactions</h2>
<form class="search" method="get" action="${esc(s.path)}" role="search"><label for="q" class="muted" style="flex-basis:100%;margin:0">Search description or reference</label>
<input type="search" id="q" name="q" value="${esc(d.query)}" maxlength="200"><button type="submit">Search</button></form>
${transactionsTable(d)}</section>
<section aria-labelledby="h-answer"><h2 id="h-answer">Your answer</h2>
<div class="actions">
<form method="post" action="${esc(s.path)}/accurate" id="accurate-form" class="card">
<input type="hidden" name="csrf" value="${esc(s.csrf)}">
<p>Everything you expected is here and the amounts are right.</p>
<button type="submit" class="primary">The data is complete and accurate</button></form>
<form method="post" action="${esc(s.path)}/problem" id="problem-form" class="card">
<input type="hidden" name="csrf" value="${esc(s.csrf)}">
<label for="note">What is wrong?</label>
<textarea id="note" name="note" maxlength="${MAX_NOTE}" required>${esc(s.note ?? '')}</textarea>
<p class="muted">You can also tick the transactions in question in the list above.</p>
<button type="submit" class="warn">Something is wrong</button></form>
</div></section>
</main></body></html>`;
}

/** The page for a refused link: no detail on why a forged link failed. */
export function renderRefusedPage(kind: 'invalid' | 'expired'): string {
  const text =
    kind === 'expired'
      ? 'This review link has expired. Ask your account manager for a new one.'
      : 'This review link is not valid. Please use the link from your email exactly as it was sent, or ask your account manager for a new one.';
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex"><title>Review link</title><style>${STYLE}</style></head>
<body><main><h1>Review link</h1><p id="refused">${esc(text)}</p></main></body></html>`;
}
