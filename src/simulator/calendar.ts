import { addDays, diffDays, isIsoDate, isWeekend, type IsoDate } from '../shared/time.ts';

/**
 * The simulated bank's business calendar: Monday to Friday, minus the bank's holidays. Days that are
 * not business days carry no postings and no balances, as on a real DDA account; on such a day the
 * bank is closed: CURRENT_DAY has no data (GCA-024 for balances, no transactions) and PRIOR_DAY is
 * the last business day before it. The calendar is the bank's alone: a client learns it only from
 * what the bank answers (the `asOfDate` of its CURRENT_DAY / PRIOR_DAY balances), never from a table.
 *
 * `new BankCalendar(['2026-12-25'])`, or `startSimulator({ holidays: [...] })`; `WEEKDAYS` is the
 * calendar without holidays (the default).
 */
export class BankCalendar {
  readonly holidays: readonly IsoDate[];
  readonly #holidays: ReadonlySet<IsoDate>;

  constructor(holidays: Iterable<IsoDate> = []) {
    const list = [...new Set(holidays)].sort();
    for (const d of list) {
      if (!isIsoDate(d)) {
        throw new Error(`holiday ${JSON.stringify(d)} is not a YYYY-MM-DD date`);
      }
    }
    this.holidays = list;
    this.#holidays = new Set(list);
  }

  isHoliday(date: IsoDate): boolean {
    return this.#holidays.has(date);
  }

  isBusinessDay(date: IsoDate): boolean {
    return !isWeekend(date) && !this.#holidays.has(date);
  }

  addBusinessDays(date: IsoDate, count: number): IsoDate {
    let d = date;
    const step = count < 0 ? -1 : 1;
    for (let left = Math.abs(count); left > 0;) {
      d = addDays(d, step);
      if (this.isBusinessDay(d)) {
        left--;
      }
    }
    return d;
  }

  /** The business day before `date` (PRIOR_DAY when `date` is the bank's calendar date). */
  previousBusinessDay(date: IsoDate): IsoDate {
    return this.addBusinessDays(date, -1);
  }

  nextBusinessDay(date: IsoDate): IsoDate {
    return this.addBusinessDays(date, 1);
  }

  /** The bank's CURRENT_DAY on calendar date `today`: `today` itself, or null when the bank is closed. */
  currentBusinessDay(today: IsoDate): IsoDate | null {
    return this.isBusinessDay(today) ? today : null;
  }

  /** The bank's PRIOR_DAY on calendar date `today`: the last business day before it. */
  priorBusinessDay(today: IsoDate): IsoDate {
    return this.previousBusinessDay(today);
  }

  /** Business days in `from..to`, both included. */
  businessDays(from: IsoDate, to: IsoDate): IsoDate[] {
    const out: IsoDate[] = [];
    for (let d = from; diffDays(d, to) >= 0; d = addDays(d, 1)) {
      if (this.isBusinessDay(d)) {
        out.push(d);
      }
    }
    return out;
  }
}

/** Monday to Friday, no holidays: the calendar of a simulator started without `holidays`. */
export const WEEKDAYS = new BankCalendar();

export function isBusinessDay(date: IsoDate): boolean {
  return WEEKDAYS.isBusinessDay(date);
}

export function addBusinessDays(date: IsoDate, count: number): IsoDate {
  return WEEKDAYS.addBusinessDays(date, count);
}

export function nextBusinessDay(date: IsoDate): IsoDate {
  return WEEKDAYS.nextBusinessDay(date);
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
