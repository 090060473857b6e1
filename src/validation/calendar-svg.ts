import { addDays, dayOfWeek, diffDays, eachDay, type IsoDate } from '../shared/time.ts';
import type { AccountDayState } from './balance-proof.ts';
import { escapeHtml as esc, formatAmount } from './html-escape.ts';
import type { AccountReport } from './report-types.ts';

/**
 * One account's period as a calendar a person takes in at a glance: a column per week (Monday
 * first), a row per weekday, one square per day coloured by its proof. Colour is never the only
 * signal: broken days carry "!" and unproved days "?", so the page survives grey-scale printing and
 * colour-blind readers; every square has a tooltip with the date, state and difference.
 */
export const STATE_STYLE: Record<AccountDayState | 'none', { fill: string; label: string; mark: string }> = {
  proved: { fill: '#2da44e', label: 'Proved', mark: '' },
  broken: { fill: '#cf222e', label: 'Broken', mark: '!' },
  unproved: { fill: '#bf8700', label: 'Unproved', mark: '?' },
  none: { fill: '#e6e9ed', label: 'No business day', mark: '' },
};

const CELL = 16;
const GAP = 3;
const LEFT = 34;
const TOP = 20;
/** Room a month label needs (three letters at 11px, with a little air): never less than two weeks' columns. */
const LABEL_WIDTH = 2 * (CELL + GAP);
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const WEEKDAYS = ['Mon', '', 'Wed', '', 'Fri', '', 'Sun'];

/** Monday = 0 … Sunday = 6. */
function row(date: IsoDate): number {
  return (dayOfWeek(date) + 6) % 7;
}

function reasonText(reason: string | null): string {
  return reason ? reason.replaceAll('_', ' ') : '';
}

export function calendarSvg(a: AccountReport): string {
  const start = addDays(a.from, -row(a.from));
  const end = diffDays(a.from, a.to) < 0 ? a.from : a.to;
  const weeks = Math.floor(diffDays(start, end) / 7) + 1;
  const width = LEFT + weeks * (CELL + GAP);
  const height = TOP + 7 * (CELL + GAP);
  const byDay = new Map(a.calendar.map((d) => [d.day, d]));
  const closed = new Set(a.noBusinessDays ?? []);
  const parts: string[] = [];
  const months = monthLabels(start, a.from, end, width);
  for (const day of eachDay(start, end)) {
    const col = Math.floor(diffDays(start, day) / 7);
    const x = LEFT + col * (CELL + GAP);
    const y = TOP + row(day) * (CELL + GAP);
    if (diffDays(a.from, day) < 0) {
      continue;
    }
    const d = byDay.get(day);
    const key = d ? d.state : 'none';
    const style = STATE_STYLE[key];
    let tip = `${day}: ${style.label}`;
    if (!d && closed.has(day)) {
      tip += ' (the bank reported it as no business day: nothing owed)';
    }
    if (d?.state === 'broken' && d.differenceMinor !== null) {
      tip += `, off by ${formatAmount(d.differenceMinor, a.decimalLocation)} ${a.currency}`;
    } else if (d?.state === 'unproved' && !d.explanation) {
      tip += ` (${reasonText(d.reason)})`;
    }
    if (d?.explanation) {
      tip += `. ${d.explanation}`;
    }
    parts.push(
      `<g class="day ${esc(key)}" data-day="${esc(day)}" data-state="${esc(key)}"><title>${esc(tip)}</title>` +
        `<rect x="${x}" y="${y}" width="${CELL}" height="${CELL}" rx="3" fill="${style.fill}"/>` +
        (style.mark ? `<text class="k" x="${x + CELL / 2}" y="${y + CELL - 4}">${esc(style.mark)}</text>` : '') +
        '</g>',
    );
  }
  const labels = WEEKDAYS.map((w, i) =>
    w ? `<text class="w" x="0" y="${TOP + i * (CELL + GAP) + CELL - 4}">${esc(w)}</text>` : '',
  ).join('');
  return (
    `<svg class="calendar" role="img" aria-label="${esc(`Balance proof calendar of account ${a.accountMasked}, ${a.from} to ${a.to}`)}" ` +
    `xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">${labels}${months}${parts.join('')}</svg>`
  );
}

/**
 * A month's name over the first week column that starts in it (the period's first month over the
 * first column). Two labels never share room: when a month starts less than LABEL_WIDTH after the
 * previous label (a period beginning at a month's end), the earlier, barely shown month gives way;
 * a label that would stick out past the right edge is left out.
 */
function monthLabels(start: IsoDate, from: IsoDate, end: IsoDate, width: number): string {
  const labels: { x: number; month: string }[] = [];
  for (let col = 0; diffDays(addDays(start, col * 7), end) >= 0; col++) {
    const monday = addDays(start, col * 7);
    // The column's month: the month of its Monday; column 0 shows the period's first month.
    const month = (col === 0 ? from : monday).slice(0, 7);
    if (labels.at(-1)?.month === month) {
      continue;
    }
    const x = LEFT + col * (CELL + GAP);
    const last = labels.at(-1);
    if (last && x - last.x < LABEL_WIDTH) {
      labels.pop();
    }
    labels.push({ x, month });
  }
  return labels
    .filter((l) => l.x + LABEL_WIDTH - GAP <= width)
    .map(
      (l) => `<text class="m" x="${l.x}" y="${TOP - 6}">${esc(MONTHS[Number(l.month.slice(5, 7)) - 1] ?? '')}</text>`,
    )
    .join('');
}

export function legendSvg(): string {
  const keys = ['proved', 'broken', 'unproved', 'none'] as const;
  const items = keys.map((k, i) => {
    const s = STATE_STYLE[k];
    const x = i * 150;
    return (
      `<g class="legend-item" data-state="${k}"><rect x="${x}" y="2" width="${CELL}" height="${CELL}" rx="3" fill="${s.fill}"/>` +
      (s.mark ? `<text class="k" x="${x + CELL / 2}" y="${2 + CELL - 4}">${esc(s.mark)}</text>` : '') +
      `<text x="${x + CELL + 6}" y="${2 + CELL - 4}">${esc(s.label)}</text></g>`
    );
  });
  return `<svg class="legend" role="img" aria-label="Legend" xmlns="http://www.w3.org/2000/svg" width="${keys.length * 150}" height="${CELL + 4}" viewBox="0 0 ${keys.length * 150} ${CELL + 4}">${items.join('')}</svg>`;
}
