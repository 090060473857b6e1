import { html, type Html } from './html.ts';
import { BASE } from './layout.ts';

/** A sync run as the API shows it (the fields the console reads). */
export interface RunDto {
  id: string;
  accountId: string | null;
  mode: string;
  status: string;
  window: { from: string | null; to: string | null };
  progress: { windowsTotal: number; windowsDone: number };
  error: { code: string; message: string | null } | null;
  createdAt: string;
  finishedAt: string | null;
}

const POLL = 'every 1s';

/**
 * A run's progress bar. While the run is unfinished the element asks for itself again every second
 * (htmx swaps the fresh one in), so a backfill's bar advances without reloading the page; a finished
 * run's element has no trigger, which ends the polling. Without script the page shows the state it
 * was loaded with.
 */
export function runProgress(r: RunDto): Html {
  const done = r.finishedAt !== null;
  const total = Math.max(r.progress.windowsTotal, 1);
  const label = `${r.progress.windowsDone} of ${r.progress.windowsTotal} window(s), ${r.status}`;
  return html`<div class="run-progress" data-status="${r.status}" id="run-${r.id}"
    ${done ? '' : html`hx-get="${BASE}/runs/${r.id}/progress" hx-trigger="${POLL}" hx-swap="outerHTML"`}>
    <progress max="${total}" value="${Math.min(r.progress.windowsDone, total)}" aria-label="Progress of run ${r.id.slice(-6)}">${label}</progress>
    <span role="status">${label}</span>${r.error ? html` <span class="meta">(${r.error.code}${r.error.message ? html`: ${r.error.message}` : ''})</span>` : ''}
  </div>`;
}
