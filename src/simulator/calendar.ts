import { addDays, isWeekend, type IsoDate } from '../shared/time.ts';

/**
 * Business days of the simulated bank: Monday to Friday, no holidays. Weekends carry no postings and
 * no balances, as on a real DDA account.
 */
export function isBusinessDay(date: IsoDate): boolean {
  return !isWeekend(date);
}

export function addBusinessDays(date: IsoDate, count: number): IsoDate {
  let d = date;
  const step = count < 0 ? -1 : 1;
  for (let left = Math.abs(count); left > 0; ) {
    d = addDays(d, step);
    if (isBusinessDay(d)) {
      left--;
    }
  }
  return d;
}

/** The business day before `date` (PRIOR_DAY when `date` is today). */
export function previousBusinessDay(date: IsoDate): IsoDate {
  return addBusinessDays(date, -1);
}

export function nextBusinessDay(date: IsoDate): IsoDate {
  return addBusinessDays(date, 1);
}

/** `YYYY-MM-DD` → `MM/DD/YYYY`, the format of the narrative `VAL DATE` tag. */
export function usDate(date: IsoDate): string {
  return `${date.slice(5, 7)}/${date.slice(8, 10)}/${date.slice(0, 4)}`;
}

/** Seconds since midnight → `HH:MM:SS`. */
export function clockTime(seconds: number): string {
  const s = Math.max(0, Math.min(86_399, Math.floor(seconds)));
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${pad(Math.floor(s / 3600))}:${pad(Math.floor((s % 3600) / 60))}:${pad(s % 60)}`;
}
