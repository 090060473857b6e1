import { html, type Html } from './html.ts';
import { randomToken, type Flash, type Session } from './session.ts';

/** The page shell shared by every console page: skip link, header, flash message, main content. */
export const BASE = '/console';

// htmx reads its settings from this meta tag: no inline style it would inject (the CSP forbids
// inline styles), no eval, requests to our own origin only.
const HTMX_CONFIG =
  '{"includeIndicatorStyles":false,"allowEval":false,"allowScriptTags":false,"selfRequestsOnly":true,"historyCacheSize":0}';

/**
 * The hidden fields every console form carries: the session's CSRF token, and a one-time token of this rendering of
 * the form, by which a second sending of it (a double click, a browser sending the POST again) is answered with the
 * first one's outcome instead of being carried out twice (index.ts).
 */
export function csrfField(session: Session): Html {
  return html`<input type="hidden" name="_csrf" value="${session.csrf}"><input type="hidden" name="_once" value="${randomToken()}">`;
}

export function flashBox(flash: Flash | undefined): Html {
  if (!flash) {
    return html``;
  }
  return html`<div class="flash ${flash.kind}" role="${flash.kind === 'error' ? 'alert' : 'status'}">
    <p>${flash.kind === 'error' && !flash.outcome ? 'Not done: ' : ''}${flash.text}</p>
    ${flash.link ? html`<p><a href="${flash.link.href}" download>${flash.link.text}</a></p>` : ''}
    ${flash.fields && flash.fields.length > 0 ? html`<ul>${flash.fields.map((f) => html`<li><code>${f.path}</code>: ${f.message}</li>`)}</ul>` : ''}
  </div>`;
}

export function page(opts: {
  title: string;
  session?: Session | undefined;
  flash?: Flash | undefined;
  body: Html;
}): string {
  const s = opts.session;
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="htmx-config" content="${HTMX_CONFIG}">
<title>${opts.title} · jpm-sync console</title>
<link rel="stylesheet" href="${BASE}/static/console.css">
<script src="${BASE}/static/htmx.min.js" defer></script>
<script src="${BASE}/static/console.js" defer></script>
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header class="top">
  <a class="brand" href="${BASE}/">jpm-sync console</a>
  ${
    s
      ? html`<nav aria-label="Main"><ul><li><a href="${BASE}/">Onboarding board</a></li></ul></nav>
  <div class="who"><span>Signed in as <strong>${s.principal.name}</strong> (${s.principal.role}${s.principal.organizationId ? ', one organization' : ', all organizations'})</span>
    <form method="post" action="${BASE}/sign-out">${csrfField(s)}<button type="submit">Sign out</button></form></div>`
      : ''
  }
</header>
<main id="main" tabindex="-1">
${flashBox(opts.flash)}
${opts.body}
</main>
</body>
</html>`.text;
}

const DAY_MS = 86_400_000;

export function daysSince(iso: string, now: Date): number {
  return Math.max(0, Math.floor((now.getTime() - Date.parse(iso)) / DAY_MS));
}

/** An instant as people read it in operations (UTC, minutes). */
export function when(iso: string | null | undefined): string {
  return iso ? `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC` : '—';
}

export function stageLabel(stage: string): string {
  return stage.replaceAll('_', ' ');
}

/**
 * How a list read a page at a time with the API's cursor says what it shows: nothing more than its count when the page
 * is the whole list, else `note` (" on this page", and whether more follow) to put after the count, with links to the
 * first and the next page. Part of a list is never counted as all of it. `href` builds the page's own address for a
 * cursor (none: the first page).
 */
export function listPaging(opts: {
  cursor: string | undefined;
  nextCursor: string | null;
  href: (cursor?: string) => string;
  label: string;
}): { note: Html; pager: Html } {
  const { cursor, nextCursor, href, label } = opts;
  if (!cursor && nextCursor === null) {
    return { note: html``, pager: html`` };
  }
  return {
    note: html` on this page${nextCursor ? ', more on the next' : ''}`,
    pager: html`<nav aria-label="${label}"><a href="${href()}">First page</a>${nextCursor ? html` · <a rel="next" href="${href(nextCursor)}">Next page →</a>` : ''}</nav>`,
  };
}
