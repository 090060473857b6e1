import { calendarSvg, legendSvg } from './calendar-svg.ts';
import { closeBidi, escapeHtml as esc, formatAmount } from './html-escape.ts';
import type { AccountReport, ValidationReportDocument } from './report-types.ts';

/**
 * The validation report as one self-contained HTML page (inline CSS and SVG, no scripts, no external
 * requests) that a person can save or mail to the customer. Every value is escaped.
 */
const CSS = `
*{box-sizing:border-box}
body{margin:0;padding:24px;font:14px/1.45 -apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:#1f2328;background:#fff}
main{max-width:1100px;margin:0 auto}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:0 0 8px}h3{font-size:14px;margin:14px 0 6px}
.muted{color:#59636e}
.verdict{display:inline-block;padding:4px 12px;border-radius:14px;font-weight:700;color:#fff;margin:10px 0}
.verdict.pass{background:#1a7f37}.verdict.fail{background:#cf222e}
.cards{display:flex;flex-wrap:wrap;gap:12px;margin:14px 0}
.card{flex:1 1 140px;border:1px solid #d1d9e0;border-radius:8px;padding:10px 14px}
.card b{display:block;font-size:22px}
section{border:1px solid #d1d9e0;border-radius:8px;padding:16px;margin:16px 0}
.scroll{overflow-x:auto}
.cal{overflow-x:auto;padding:4px 0}
svg{display:block;max-width:100%;height:auto}
svg text{font:11px -apple-system,"Segoe UI",Roboto,Arial,sans-serif;fill:#59636e}
svg text.k{font-weight:700;fill:#fff;text-anchor:middle}
.legend{margin:8px 0}
table{border-collapse:collapse;width:100%;margin:6px 0}
th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #e6e9ed;vertical-align:top}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
ul.reasons{margin:6px 0 0;padding-left:20px}
code{font-size:12px}
footer{margin-top:24px;font-size:12px}
@media print{body{padding:0}section{break-inside:avoid}}
`;

function money(minor: string, decimalLocation: number, currency: string): string {
  return `${esc(formatAmount(minor, decimalLocation))} ${esc(currency)}`;
}

/** An account listed but not yet reportable (since approval, its first business day not closed by the bank yet). */
export function notYetReportableText(n: NonNullable<AccountReport['notYetReportable']>): string {
  return `Not yet reportable: its first business day since the approval, ${n.firstDay}, is not closed by the bank yet; nothing is owed for it in this report.`;
}

function accountSection(a: AccountReport): string {
  const issues = a.calendar.filter((d) => d.state !== 'proved');
  const rows = issues
    .map(
      (d) =>
        `<tr><td>${esc(d.day)}</td><td>${esc(d.state)}</td>` +
        `<td class="num">${d.differenceMinor === null ? '' : money(d.differenceMinor, a.decimalLocation, a.currency)}</td>` +
        `<td>${esc(d.explanation ?? (d.reason ?? '').replaceAll('_', ' '))}</td></tr>`,
    )
    .join('');
  const heading = `<h2>Account ${esc(a.accountMasked)}${a.accountName ? ` · ${esc(a.accountName)}` : ''} <span class="muted">(${esc(a.currency)}${a.notYetReportable ? '' : `, ${esc(a.from)} to ${esc(a.to)}`})</span></h2>`;
  if (a.notYetReportable) {
    return `<section class="account" data-account-id="${esc(a.accountId)}">
${heading}
<p>${esc(notYetReportableText(a.notYetReportable))}</p>
</section>`;
  }
  return `<section class="account" data-account-id="${esc(a.accountId)}">
${heading}
<p class="muted">${a.days.proved} proved · ${a.days.broken} broken · ${a.days.unproved} unproved day(s) · ${a.openSuspicions} open duplicate suspicion(s)</p>
<div class="cal">${calendarSvg(a)}</div>
<div class="scroll"><table class="totals"><thead><tr><th></th><th class="num">Amount</th><th class="num">Items</th></tr></thead><tbody>
<tr><td>Credits (posted)</td><td class="num">${money(a.totals.creditsMinor, a.decimalLocation, a.currency)}</td><td class="num">${a.totals.creditCount}</td></tr>
<tr><td>Debits (posted)</td><td class="num">${money(a.totals.debitsMinor, a.decimalLocation, a.currency)}</td><td class="num">${a.totals.debitCount}</td></tr>
</tbody></table></div>
${issues.length === 0 ? '' : `<h3>Days not proved</h3><div class="scroll"><table class="issues"><thead><tr><th>Day</th><th>State</th><th class="num">Difference</th><th>Reason</th></tr></thead><tbody>${rows}</tbody></table></div>`}
</section>`;
}

function suspicionsSection(doc: ValidationReportDocument): string {
  if (doc.suspicions.length === 0) {
    return '<section class="suspicions"><h2>Duplicate suspicions</h2><p>None: no day holds more identical transactions than the bank reported.</p></section>';
  }
  const rows = doc.suspicions
    .map(
      (s) =>
        `<tr><td>${esc(s.accountMasked)}</td><td>${esc(s.bookingDate)}</td><td>${esc(s.direction)}</td>` +
        `<td class="num">${money(s.amountMinor, s.decimalLocation, s.currency)}</td><td class="num">${s.liveCount}</td><td class="num">${s.bankCount}</td>` +
        `<td>${esc(s.status.replaceAll('_', ' '))}</td><td><code>${esc(s.id)}</code></td></tr>`,
    )
    .join('');
  return `<section class="suspicions"><h2>Duplicate suspicions</h2>
<p class="muted">Transactions that look the same (account, date, amount, direction, references) where we hold more than the bank reported. Nothing is merged automatically; each needs a person's review.</p>
<div class="scroll"><table><thead><tr><th>Account</th><th>Day</th><th>Direction</th><th class="num">Amount</th><th class="num">Held</th><th class="num">Bank</th><th>Status</th><th>Id</th></tr></thead><tbody>${rows}</tbody></table></div></section>`;
}

function coverageSection(doc: ValidationReportDocument): string {
  const mask = new Map(doc.accounts.map((a) => [a.accountId, a.accountMasked]));
  const c = doc.coverage;
  const items: string[] = [];
  for (const d of c.daysNotFetched) {
    items.push(`<li>Account ${esc(mask.get(d.accountId) ?? d.accountId)}: no successful fetch of ${esc(d.day)}</li>`);
  }
  for (const w of c.failedWindows) {
    items.push(
      `<li>${esc(w.mode)} sync ${esc(w.status)} for ${esc(w.windowFrom ?? '')}–${esc(w.windowTo ?? '')} at ${esc(w.at)}${w.errorCode ? ` (${esc(w.errorCode)})` : ''}: ${w.recovered ? 'covered again later' : 'not yet covered again'}</li>`,
    );
  }
  for (const s of c.staleAccounts) {
    items.push(
      `<li>Account ${esc(mask.get(s.accountId) ?? s.accountId)}: not synced in ${c.staleHours} weekday hours (last ${esc(s.lastSyncedAt ?? 'never')})</li>`,
    );
  }
  for (const d of c.daysFetchedNothing ?? []) {
    items.push(
      `<li>Account ${esc(mask.get(d.accountId) ?? d.accountId)}: the bank reported no transaction on business day ${esc(d.day)}, although the account normally has activity</li>`,
    );
  }
  for (const d of c.bankHolidays ?? []) {
    items.push(
      `<li>Account ${esc(mask.get(d.accountId) ?? d.accountId)}: ${esc(d.day)} is no business day at the bank (nothing owed)</li>`,
    );
  }
  return `<section class="coverage"><h2>Coverage</h2>${items.length === 0 ? '<p>No gaps: every day was fetched and every account synced recently.</p>' : `<ul>${items.join('')}</ul>`}</section>`;
}

export function renderValidationReportHtml(doc: ValidationReportDocument): string {
  // The name ends its own bidirectional controls: escaping the whole title would close them after the period.
  const title = `Validation report · ${closeBidi(doc.integration.name)} · ${doc.period.from} to ${doc.period.to}`;
  const totals = doc.totalsByCurrency
    .map(
      (t) =>
        `<tr><td>${esc(t.currency)}</td><td class="num">${money(t.creditsMinor, t.decimalLocation, t.currency)}</td>` +
        `<td class="num">${t.creditCount}</td><td class="num">${money(t.debitsMinor, t.decimalLocation, t.currency)}</td><td class="num">${t.debitCount}</td></tr>`,
    )
    .join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title><style>${CSS}</style></head>
<body><main>
<header><h1>${esc(doc.integration.name)}: data validation report</h1>
<div class="muted">Period ${esc(doc.period.from)} to ${esc(doc.period.to)} (${esc(doc.period.basis.replaceAll('_', ' '))}) · generated ${esc(doc.generatedAt)} · report <code>${esc(doc.id)}</code></div>
<div class="verdict ${doc.passed ? 'pass' : 'fail'}" data-passed="${doc.passed ? 'true' : 'false'}">${doc.passed ? 'PASSED' : 'FAILED'}</div>
${doc.reasons.length === 0 ? '<p>Every business day of every account is proved by J.P. Morgan&#39;s own balances, and no duplicate is suspected.</p>' : `<ul class="reasons">${doc.reasons.map((r) => `<li>${esc(r)}</li>`).join('')}</ul>`}
</header>
<div class="cards">
<div class="card"><b>${doc.summary.accounts}</b>accounts</div>
<div class="card"><b>${doc.summary.proved}</b>days proved</div>
<div class="card"><b>${doc.summary.broken}</b>days broken</div>
<div class="card"><b>${doc.summary.unproved}</b>days unproved</div>
<div class="card"><b>${doc.summary.openSuspicions}</b>open suspicions</div>
</div>
<section class="how"><h2>How each day is proved</h2>
<p>For every account and business day we take J.P. Morgan&#39;s final balances and check <b>opening ledger + credits − debits = closing ledger</b> over the posted transactions we imported for that day. A day is <b>proved</b> when this holds to the last minor unit, <b>broken</b> when it does not (the difference is shown), and <b>unproved</b> when the bank&#39;s final balance or a complete fetch of the day&#39;s transactions is missing.</p>
${legendSvg()}
${totals ? `<div class="scroll"><table class="currency-totals"><thead><tr><th>Currency</th><th class="num">Credits</th><th class="num">Items</th><th class="num">Debits</th><th class="num">Items</th></tr></thead><tbody>${totals}</tbody></table></div>` : ''}
</section>
${doc.accounts.map(accountSection).join('\n')}
${suspicionsSection(doc)}
${coverageSection(doc)}
<footer class="muted">Amounts are exact (integer minor units); account numbers are shown by their last four digits.</footer>
</main></body></html>
`;
}
