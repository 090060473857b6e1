import type { SyncCounts } from '../domain/types.ts';
import type { Logger } from '../shared/logger.ts';
import type { IsoDate } from '../shared/time.ts';
import { recordBankCalendar, type AccountRow } from '../storage/accounts.repo.ts';
import type { Database } from '../storage/db.ts';
import { databaseClock } from '../storage/intraday.repo.ts';
import type { BankClient } from './bank-client.ts';
import type { RunNotes } from './sync-run.ts';
import { askBankDay, warningOf } from './business-calendar.ts';
import { CurrentDaySnapshot } from './day-tally.ts';
import type { AccountRef } from './ingest.ts';
import { reconcileIntraday } from './supersede.ts';

/** The current-day walk of an intraday window, and the database clock when each of its walks began. */
export interface IntradayWalk {
  walk: CurrentDaySnapshot;
  firstClock: string;
  walkClock: Map<number, string>;
}

/** Starts collecting an intraday walk; the database clock is noted before the first request. */
export async function startIntradayWalk(db: Database): Promise<IntradayWalk> {
  return { walk: new CurrentDaySnapshot(), firstClock: await databaseClock(db), walkClock: new Map() };
}

/**
 * After an intraday window: the bank's current business day is the `asOfDate` of its CURRENT_DAY
 * balance answer (asked AFTER the walk, so a day that rolled over during the walk is never taken for
 * the walk's day), or, when it named none, the one booking date of the walk's records. A complete
 * walk then reconciles that day's pending rows (supersede.ts `reconcileIntraday`).
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
  },
  snapshot: IntradayWalk | undefined,
  balanceDays: ReadonlySet<IsoDate> | undefined,
  notes: RunNotes,
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
  if (!complete || !snapshot) {
    // Restarted to the limit, failed or not walked: such a walk removes nothing.
    return {};
  }
  const sameDay = complete.dates.every((d) => d === day);
  if (!sameDay) {
    log.warn({ day, dates: complete.dates }, 'intraday walk held records of another business day; nothing removed');
  }
  const r = await reconcileIntraday(
    ctx.db,
    ctx.account,
    {
      day,
      ids: complete.ids,
      provesAbsence: complete.provesAbsence && sameDay,
      walkStartedAt: snapshot.walkClock.get(complete.walk) ?? snapshot.firstClock,
      evidence: { totalRecords: complete.totalRecords, totalPages: complete.totalPages, businessDaySource: source },
    },
    ctx.runId,
  );
  return { removed: r.removed, updated: r.restored };
}
