import { z } from 'zod';
import type { SyncMode, SyncRequest } from '../domain/types.ts';
import { ValidationError } from '../shared/errors.ts';
import { addDays, diffDays, ISO_DATE_EXPECTED, isIsoDate, splitRange, type IsoDate } from '../shared/time.ts';
import type { SYNC_KINDS } from './jobs.ts';

/** J.P. Morgan allows ≤ 5 days per transaction request and ≤ 31 days per balance request. */
export const TRANSACTION_WINDOW_DAYS = 5;
export const BALANCE_WINDOW_DAYS = 31;
/** Longest range one run may cover (a longer backfill is several runs; each run is one BullMQ flow). */
export const MAX_RANGE_DAYS = 731;

export type WindowKind = (typeof SYNC_KINDS)[number];

export interface PlannedWindow {
  kinds: WindowKind[];
  /** Absent for intraday and prior-day windows: `sync` derives their dates in the account's zone. */
  from?: IsoDate;
  to?: IsoDate;
  /** The dates this window covers, for the run row (display and joins). */
  shownFrom: IsoDate;
  shownTo: IsoDate;
}

export interface RunPlan {
  mode: SyncMode;
  from: IsoDate;
  to: IsoDate;
  windows: PlannedWindow[];
}

const isoDate = z.string().refine(isIsoDate, ISO_DATE_EXPECTED);

/** The issue 5 request contract: `{"mode":"intraday"}`, `{"mode":"prior_day"}`, `{"mode":"range","from","to"}`. */
export const syncRequestSchema = z.discriminatedUnion('mode', [
  z.object({ mode: z.literal('intraday') }).strict(),
  z.object({ mode: z.literal('prior_day') }).strict(),
  z.object({ mode: z.literal('range'), from: isoDate, to: isoDate }).strict(),
]);

export function parseSyncRequest(input: unknown): SyncRequest {
  const r = syncRequestSchema.safeParse(input);
  if (!r.success) {
    throw new ValidationError(
      'invalid sync request',
      r.error.issues.map((i) => ({ path: i.path.join('.') || '(root)', message: i.message })),
    );
  }
  return r.data;
}

/** A range that ends before it starts is refused (400 naming `from`), whatever business day any account has. */
export function assertRangeOrder(request: SyncRequest): void {
  if (request.mode === 'range' && diffDays(request.from, request.to) < 0) {
    throw new ValidationError(`range start ${request.from} is after its end ${request.to}`, [
      { path: 'from', message: 'must not be after to' },
    ]);
  }
}

/**
 * Splits a request into the windows of one run, given the account's current business day `today` as
 * the bank last reported it (`estimateBusinessDay`: the clock only moves it on; never the clock's
 * own date when the bank has answered before).
 * - intraday: the current day, transactions and balances, one window.
 * - prior_day: the prior day plus `lookbackDays` days before it (late postings, corrections), one
 *   window; the client splits it into ≤ 5-day requests. Its dates are fixed when the window runs,
 *   from the bank's PRIOR_DAY answer (a Monday's prior day is the Friday, a holiday is skipped).
 * - range: ≤ 5-day transaction windows and ≤ 31-day balance windows, oldest first. Only completed
 *   business days have final data, so the range ends before the current business day (that day is
 *   intraday's); the windows near its end ask the bank for its current day again before fetching.
 */
export function planRun(request: SyncRequest, today: IsoDate, lookbackDays: number): RunPlan {
  const yesterday = addDays(today, -1);
  if (request.mode === 'intraday') {
    return {
      mode: 'intraday',
      from: today,
      to: today,
      windows: [{ kinds: ['transactions', 'balances'], shownFrom: today, shownTo: today }],
    };
  }
  if (request.mode === 'prior_day') {
    const from = addDays(yesterday, -lookbackDays);
    return {
      mode: 'prior_day',
      from,
      to: yesterday,
      windows: [{ kinds: ['transactions', 'balances'], shownFrom: from, shownTo: yesterday }],
    };
  }
  assertRangeOrder(request);
  // diffDays(a, b) = b − a: negative when the request ends after yesterday.
  const to = diffDays(request.to, yesterday) < 0 ? yesterday : request.to;
  if (diffDays(request.from, to) < 0) {
    throw new ValidationError(
      `range ${request.from}..${request.to} holds no completed business day (today is ${today}); use intraday for today`,
      [{ path: 'from', message: 'must be before today' }],
    );
  }
  if (diffDays(request.from, to) + 1 > MAX_RANGE_DAYS) {
    throw new ValidationError(
      `range ${request.from}..${to} is longer than ${MAX_RANGE_DAYS} days; split it into several runs`,
      [{ path: 'to', message: `at most ${MAX_RANGE_DAYS} days after from` }],
    );
  }
  const windows: PlannedWindow[] = [
    ...splitRange(request.from, to, TRANSACTION_WINDOW_DAYS).map((w) => ({
      kinds: ['transactions'] as WindowKind[],
      ...w,
      shownFrom: w.from,
      shownTo: w.to,
    })),
    ...splitRange(request.from, to, BALANCE_WINDOW_DAYS).map((w) => ({
      kinds: ['balances'] as WindowKind[],
      ...w,
      shownFrom: w.from,
      shownTo: w.to,
    })),
  ];
  return { mode: 'range', from: request.from, to, windows };
}
