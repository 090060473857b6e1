import { addDays, diffDays, localDate, type IsoDate } from '../shared/time.ts';

/**
 * The bank decides an account's business days (src/sync/business-calendar.ts asks it). Between its
 * answers we estimate: the current business day it last reported, moved on by the calendar days our
 * clock has moved since (a bank a day behind our clock stays a day behind); the clock's local date
 * only when the bank never answered for the account. Pure: `now` is passed in.
 */
export interface BankCalendarFacts {
  time_zone: string;
  bank_business_day: string | null;
  bank_calendar_at: Date | string | null;
}

export function estimateBusinessDay(account: BankCalendarFacts, now: Date): IsoDate {
  const clockDay = localDate(now, account.time_zone);
  if (!account.bank_business_day || !account.bank_calendar_at) {
    return clockDay;
  }
  const heardOn = localDate(new Date(account.bank_calendar_at), account.time_zone);
  const moved = diffDays(heardOn, clockDay);
  return moved > 0 ? addDays(account.bank_business_day, moved) : account.bank_business_day;
}

/** The last day whose final (prior-day) data can exist: the day before the estimated current business day. */
export function lastClosedBusinessDay(account: BankCalendarFacts, now: Date): IsoDate {
  return addDays(estimateBusinessDay(account, now), -1);
}

/**
 * The account's business day at a past instant (an approval, say): the instant's date in the account's time zone,
 * moved by as many days as the bank's business day stood from our clock's local date when it last answered (a bank a
 * day behind our clock was a day behind then too); for an instant after that answer, `estimateBusinessDay`. Never the
 * machine clock's UTC date: the bank decides business dates, the clock only places the instant.
 */
export function businessDayAt(account: BankCalendarFacts, instant: Date): IsoDate {
  const clockDay = localDate(instant, account.time_zone);
  if (!account.bank_business_day || !account.bank_calendar_at) {
    return clockDay;
  }
  const heardOn = localDate(new Date(account.bank_calendar_at), account.time_zone);
  if (diffDays(heardOn, clockDay) >= 0) {
    return estimateBusinessDay(account, instant);
  }
  return addDays(clockDay, diffDays(heardOn, account.bank_business_day));
}
