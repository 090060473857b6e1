import type { SyncCounts } from '../domain/types.ts';
import type { Logger } from '../shared/logger.ts';
import type { IsoDate } from '../shared/time.ts';
import { recordBankCalendar, type AccountRow } from '../storage/accounts.repo.ts';
import { daysWithUnreadablePosted, pendingOnClosedDays } from '../storage/intraday.repo.ts';
import type { Database, Executor } from '../storage/db.ts';
import type { BankClient } from './bank-client.ts';
import type { RunNotes } from './sync-run.ts';
import { askBankDay, warningOf } from './business-calendar.ts';
import { CurrentDaySnapshot, sameItems, type CompleteSnapshot } from './day-tally.ts';
import type { AccountRef } from './ingest.ts';
import { reconcileIntraday, resolvePending, wouldWithdraw } from './supersede.ts';

/** The current-day walk of an intraday window, and the database clock when each of its walks began. */
export interface IntradayWalk {
  walk: CurrentDaySnapshot;
  firstClock: string;
  walkClock: Map<number, string>;
}

/** Starts collecting an intraday walk; `firstClock` is the database clock noted before the first request. */
export function startIntradayWalk(firstClock: string): IntradayWalk {
  return { walk: new CurrentDaySnapshot(), firstClock, walkClock: new Map() };
}

/**
 * After an intraday window: the bank's current business day is the `asOfDate` of its CURRENT_DAY
 * balance answer (asked AFTER the walk, so a day that rolled over during the walk is never taken for
 * the walk's day), or, when it named none, the one booking date of the walk's records. A complete
 * walk then reconciles that day's pending rows (supersede.ts `reconcileIntraday`): it restores what it shows
 * again; it removes what it lacks only once `rewalk` (another walk of the current day, stored as any walk)
 * showed the same items.
 */
export async function reconcileCurrentDay(
  ctx: {
    db: Database;
    now: Date;
    client: BankClient;
    row: AccountRow;
    account: AccountRef;
    runId: string | null;
    log: Logger;
    /** The window's write check (`WriteFence`), made in the reconciliation's transaction. */
    beforeWrite?: ((trx: Executor) => Promise<void>) | undefined;
  },
  snapshot: IntradayWalk | undefined,
  balanceDays: ReadonlySet<IsoDate> | undefined,
  notes: RunNotes,
  rewalk: () => Promise<void>,
): Promise<Partial<SyncCounts>> {
  const { client, row, log } = ctx;
  const complete = snapshot?.walk.complete();
  let day: IsoDate | undefined;
  let source = 'current_day_balance';
  if (balanceDays) {
    day = [...balanceDays].sort().at(-1);
  } else if (complete) {
    day = (await askBankDay(client, row, 'CURRENT_DAY')).day;
  }
  if (day) {
    await recordBankCalendar(ctx.db, row.id, { businessDay: day }, ctx.now);
    notes.bankBusinessDay = day;
    notes.window = { from: day, to: day };
  } else if (complete && complete.dates.length === 1) {
    day = complete.dates[0];
    source = 'intraday_records';
  }
  if (!day) {
    if (complete && complete.ids.size === 0) {
      notes.warnings.push(warningOf('no_current_business_day', []));
    }
    return {};
  }
  const late = await resolveListedAfterClose(ctx, day, notes);
  if (!complete || !snapshot) {
    // Restarted to the limit, failed or not walked: such a walk removes nothing.
    return late;
  }
  if (complete.dates.length > 0 && !ofDay(complete.dates, day)) {
    log.warn({ day, dates: complete.dates }, 'intraday walk held records of another business day; nothing removed');
  }
  const clockOf = (w: CompleteSnapshot) => snapshot.walkClock.get(w.walk) ?? snapshot.firstClock;
  let evidenceWalk = complete;
  let proved: { walkStartedAt: string; walksAgreeing: number } | undefined;
  const proves = (w: CompleteSnapshot) => w.provesAbsence && ofDay(w.dates, day);
  if (
    proves(complete) &&
    (await wouldWithdraw(ctx.db, ctx.account, { day, ids: complete.ids, walkStartedAt: clockOf(complete) }))
  ) {
    // One walk that lacks an item is no proof that the bank withdrew it: the snapshot may have shifted
    // between two of its pages (`sameItems` in day-tally.ts). Walk again; remove only what two walks in a
    // row, showing the same items, both lack.
    const agreed = await confirmingWalk(snapshot, complete, proves, rewalk);
    evidenceWalk = agreed.latest;
    if (agreed.first) {
      proved = { walkStartedAt: clockOf(agreed.first), walksAgreeing: 2 };
    } else {
      log.info({ day }, 'current-day snapshot kept changing between walks; nothing removed this time');
    }
  }
  const r = await reconcileIntraday(
    ctx.db,
    ctx.account,
    {
      day,
      ids: evidenceWalk.ids,
      provesAbsence: proved !== undefined,
      walkStartedAt: proved?.walkStartedAt ?? clockOf(evidenceWalk),
      latestWalkStartedAt: clockOf(evidenceWalk),
      evidence: {
        totalRecords: evidenceWalk.totalRecords,
        totalPages: evidenceWalk.totalPages,
        businessDaySource: source,
        ...(proved ? { walksAgreeing: proved.walksAgreeing } : {}),
      },
    },
    ctx.runId,
    ctx.beforeWrite,
  );
  return { ...late, removed: r.removed + (late.removed ?? 0), updated: r.restored };
}

/**
 * Intraday items the bank's current-day view lists under an earlier day whose posted data is stored already (a late
 * listing under a closed date): pending, they would put back into that day's live set money its final data does not
 * hold, or holds as a posting already. They are resolved against that day's posted items at once, as its prior-day
 * step would (supersede.ts `resolvePending`): linked to the posting they match, else removed as not in the prior day;
 * one posted later under that day is still linked when the look-back stores it. A day holding an unreadable posted
 * record keeps them pending (it may be their posting), and the run says so (`pending_held_unreadable`): one the bank
 * posts under a later day counts there as well until that record is read. Each decision names the listing
 * (`listedAfterClose`), and the run warns.
 */
async function resolveListedAfterClose(
  ctx: {
    db: Database;
    account: AccountRef;
    runId: string | null;
    beforeWrite?: ((trx: Executor) => Promise<void>) | undefined;
  },
  day: IsoDate,
  notes: RunNotes,
): Promise<Partial<SyncCounts>> {
  const days = await pendingOnClosedDays(ctx.db, ctx.account.id, day);
  if (days.length === 0) {
    return {};
  }
  notes.warnings.push(warningOf('listed_after_close', days));
  const unreadable = {
    dates: await daysWithUnreadablePosted(ctx.db, ctx.account.id, days),
    undated: false,
    held: new Set<IsoDate>(),
  };
  const counts = await resolvePending(ctx.db, ctx.account, days, ctx.runId, unreadable, ctx.beforeWrite, {
    listedAfterClose: { businessDay: day },
  });
  if (unreadable.held.size > 0) {
    notes.warnings.push(warningOf('pending_held_unreadable', [...unreadable.held].sort()));
  }
  return counts;
}

/**
 * Whether a walk whose intraday records carry `dates` is a walk of the business day `day`, so what it lacks of the
 * day's rows may be withdrawn: it holds records of the day, and none dated after it (a day that rolled over while we
 * walked, or answers that disagree). A record dated before the day is an earlier day's item the bank still shows (not
 * posted yet): it belongs to the snapshot, and its own day is resolved by the prior-day step. A walk holding no record
 * of the account has no date of its own: the bank's transaction view may have moved on to the next business day (empty
 * so far) while its balance still names this one, so it withdraws nothing; the prior-day step resolves the day's items.
 */
function ofDay(dates: readonly IsoDate[], day: IsoDate): boolean {
  return dates.includes(day) && dates.every((d) => d <= day);
}

/** Walks of the current day spent confirming that an absence is real, before giving up until the next sync. */
const MAX_CONFIRMING_WALKS = 2;

/**
 * Walks the current day again (storing what it shows, as any walk) until two complete walks in a row show the
 * same items, at most `MAX_CONFIRMING_WALKS` times. `first` is the earlier walk of the agreeing pair (its start
 * bounds the rows the removal may touch), undefined when none agreed; `latest` is the last complete walk.
 */
async function confirmingWalk(
  snapshot: IntradayWalk,
  complete: CompleteSnapshot,
  proves: (w: CompleteSnapshot) => boolean,
  rewalk: () => Promise<void>,
): Promise<{ first?: CompleteSnapshot; latest: CompleteSnapshot }> {
  let previous = complete;
  for (let i = 0; i < MAX_CONFIRMING_WALKS; i++) {
    await rewalk();
    const next = snapshot.walk.complete();
    if (!next || next.walk === previous.walk) {
      return { latest: previous };
    }
    if (proves(previous) && proves(next) && sameItems(previous, next)) {
      return { first: previous, latest: next };
    }
    previous = next;
  }
  return { latest: previous };
}
