import type { SyncCounts } from '../domain/types.ts';
import { isIdentityId, matchingReference } from '../normalization/identity.ts';
import { isIsoDate } from '../shared/time.ts';
import type { Database, Executor } from '../storage/db.ts';
import {
  hasPendingRows,
  intradayCandidates,
  noteIntradayWalk,
  setIntradayStatus,
  unlinkSuperseded,
  type IntradayCandidate,
} from '../storage/intraday.repo.ts';
import {
  insertChangeEvents,
  insertDecisions,
  lockAccountForWrite,
  pendingAndUnclaimedPosted,
  removedUnlinked,
  resolvePendingRows,
  type DecisionRow,
  type MatchCandidate,
} from '../storage/transactions.repo.ts';
import type { AccountRef } from './ingest.ts';
import { countOnRun } from './sync-run.ts';

/**
 * Pending → posted. When J.P. Morgan's prior-day data for a date has been stored in full, each
 * pending (current-day) item of that date is linked to the posted item that replaces it, and stops
 * counting as live; pending items with no posted counterpart are marked removed. Nothing is
 * deleted: the pending row stays, with its status, its `superseded_by` link and a decision row
 * naming the rule and the evidence.
 *
 * Rules, tried in order, each one-to-one (a posted item replaces at most one pending item):
 *  1. `exact`: same direction, amount, BAI type code, bank and customer reference.
 *  2. `reference_amount_changed`: same direction, BAI type code and non-empty bank reference; the
 *     amount changed on posting (e.g. a fee finalised, an FX rate applied).
 *  3. `customer_reference_amount_changed`: as 2 with the customer reference when the bank one is empty.
 * Unmatched pending items are `removed` by rule `not_in_prior_day`.
 */
interface Rule {
  name: string;
  key: (t: MatchCandidate) => string | null;
}

// References are stored exactly as the bank sent them; matching compares them trimmed and case-folded.
const bankRef = (t: MatchCandidate) => matchingReference(t.bank_reference);
const customerRef = (t: MatchCandidate) => matchingReference(t.customer_reference);

const RULES: readonly Rule[] = [
  {
    name: 'exact',
    key: (t) => [t.direction, t.amount_minor, t.bai_type_code ?? '', bankRef(t), customerRef(t)].join('|'),
  },
  {
    name: 'reference_amount_changed',
    key: (t) => (bankRef(t) ? [t.direction, t.bai_type_code ?? '', bankRef(t)].join('|') : null),
  },
  {
    name: 'customer_reference_amount_changed',
    key: (t) => (!bankRef(t) && customerRef(t) ? [t.direction, t.bai_type_code ?? '', customerRef(t)].join('|') : null),
  },
];

export interface Resolution {
  superseded: { pending: MatchCandidate; posted: MatchCandidate; rule: string }[];
  removed: MatchCandidate[];
}

/** Pure matching of one date's pending items to its posted items. */
export function matchPending(pending: readonly MatchCandidate[], posted: readonly MatchCandidate[]): Resolution {
  const resolution: Resolution = { superseded: [], removed: [] };
  let open = [...pending];
  const available = [...posted];
  for (const rule of RULES) {
    const pool = new Map<string, MatchCandidate[]>();
    for (const p of available) {
      const k = rule.key(p);
      if (k !== null) {
        pool.set(`${p.booking_date}|${k}`, [...(pool.get(`${p.booking_date}|${k}`) ?? []), p]);
      }
    }
    const stillOpen: MatchCandidate[] = [];
    for (const item of open) {
      const k = rule.key(item);
      const candidates = k === null ? undefined : pool.get(`${item.booking_date}|${k}`);
      const hit = candidates?.shift();
      if (!hit) {
        stillOpen.push(item);
        continue;
      }
      available.splice(available.indexOf(hit), 1);
      resolution.superseded.push({ pending: item, posted: hit, rule: rule.name });
    }
    open = stillOpen;
  }
  resolution.removed = open;
  return resolution;
}

/**
 * What the walk (or file) could not read on the dates it covered: transaction records whose money facts were
 * unusable, by booking date, and whether one of them named no readable date. Such a record may be the posted
 * counterpart of a pending item, so its day proves no pending item absent.
 */
interface UnreadableRecords {
  dates: ReadonlySet<string>;
  undated: boolean;
  /**
   * Filled with the dates whose pending items stayed pending only because of such a record (the operator is warned:
   * `pending_held_unreadable`, business-calendar.ts): the item may be that record's posting, or money the bank posts
   * under a later day, counted there too until the record is read.
   */
  held?: Set<string>;
}

const NO_UNREADABLE_RECORDS: UnreadableRecords = { dates: new Set(), undated: false };

/** Notes the booking dates (`asOfDate`) of the account's unusable records into `into`. */
export function noteUnreadable(into: { dates: Set<string>; undated: boolean }, raws: readonly unknown[]): void {
  for (const raw of raws) {
    const date = typeof raw === 'object' && raw !== null ? (raw as { asOfDate?: unknown }).asOfDate : undefined;
    if (typeof date === 'string' && isIsoDate(date)) {
      into.dates.add(date);
    } else {
      into.undated = true;
    }
  }
}

/**
 * Resolves pending items of `dates` (dates whose prior-day data is now complete) in one
 * transaction under the account's write lock. Idempotent: resolved items are no longer pending.
 *
 * A pending item without a counterpart is removed only when its date's walk read every record: while the
 * bank's answer for that date holds a record we could not read (`unreadable`), the item stays pending, and the
 * next walk that reads it links them. An item removed here (`not_in_prior_day`), or withdrawn from the current-day
 * view during its day (`withdrawn_intraday`), is still linked, removed → superseded, when a posted record of its date
 * stored now or later matches it (the bank took it out of its intraday view but posted it, or a late posting): a live
 * pending item of the date comes first under each rule.
 */
export async function resolvePending(
  db: Database,
  account: AccountRef,
  dates: readonly string[],
  runId: string | null,
  unreadable: UnreadableRecords = NO_UNREADABLE_RECORDS,
  beforeWrite?: (trx: Executor) => Promise<void>,
  /** Added to the evidence of every decision: what made the step run (e.g. a late listing under a closed day). */
  note: Record<string, unknown> = {},
): Promise<Pick<SyncCounts, 'superseded' | 'removed'>> {
  if (dates.length === 0) {
    return { superseded: 0, removed: 0 };
  }
  return db.transaction().execute(async (trx) => {
    await lockAccountForWrite(trx, account.id);
    await beforeWrite?.(trx);
    const removedBefore = await removedUnlinked(trx, account.id, dates);
    const removedRule = new Map(removedBefore.map((p) => [p.id, p.removed_rule]));
    // Most dates have no pending row left (every backfill's): then their posted rows, all of them unclaimed, are not
    // read and sent only to be dropped.
    const anyPending = await hasPendingRows(trx, account.id, dates);
    if (!anyPending && removedBefore.length === 0) {
      return { superseded: 0, removed: 0 };
    }
    const { pending, posted } = await pendingAndUnclaimedPosted(
      trx,
      account.id,
      anyPending ? dates : [...new Set(removedBefore.map((p) => p.booking_date))],
    );
    if (pending.length === 0 && removedBefore.length === 0) {
      return { superseded: 0, removed: 0 };
    }
    const r = matchPending([...pending, ...removedBefore], posted);
    // Only a live pending item can be removed, and only on a date whose every record was read.
    r.removed = r.removed.filter((p) => {
      if (p.status !== 'pending') {
        return false;
      }
      const held = unreadable.undated || unreadable.dates.has(p.booking_date);
      if (held) {
        unreadable.held?.add(p.booking_date);
      }
      return !held;
    });
    const from = (p: MatchCandidate) => (p.status === 'removed' ? ('removed' as const) : ('pending' as const));
    const linkedPosted = await resolvePendingRows(trx, [
      ...r.superseded.map((s) => ({
        id: s.pending.id,
        from: from(s.pending),
        status: 'superseded' as const,
        superseded_by: s.posted.id,
      })),
      ...r.removed.map((p) => ({
        id: p.id,
        from: 'pending' as const,
        status: 'removed' as const,
        superseded_by: null,
      })),
    ]);
    const base = { organization_id: account.organizationId, account_id: account.id, sync_run_id: runId };
    const decisions: DecisionRow[] = [
      ...r.superseded.map((s) => ({
        ...base,
        transaction_id: s.pending.id,
        related_transaction_id: s.posted.id,
        decision: 'superseded' as const,
        rule: s.rule,
        evidence: {
          bookingDate: s.pending.booking_date,
          pending: {
            jpmTransactionId: s.pending.jpm_transaction_id,
            amountMinor: s.pending.amount_minor,
            bankReference: s.pending.bank_reference,
            customerReference: s.pending.customer_reference,
          },
          posted: {
            jpmTransactionId: s.posted.jpm_transaction_id,
            amountMinor: s.posted.amount_minor,
            bankReference: s.posted.bank_reference,
            customerReference: s.posted.customer_reference,
          },
          amountChanged: s.pending.amount_minor !== s.posted.amount_minor,
          ...(s.pending.status === 'removed'
            ? { previousStatus: 'removed', previousRule: removedRule.get(s.pending.id) ?? null }
            : {}),
          ...note,
        },
      })),
      ...r.removed.map((p) => ({
        ...base,
        transaction_id: p.id,
        related_transaction_id: null,
        decision: 'removed' as const,
        rule: 'not_in_prior_day',
        evidence: {
          bookingDate: p.booking_date,
          jpmTransactionId: p.jpm_transaction_id,
          amountMinor: p.amount_minor,
          postedItemsOnDate: posted.filter((x) => x.booking_date === p.booking_date).length,
          ...note,
        },
      })),
    ];
    await insertDecisions(trx, decisions);
    await insertChangeEvents(
      trx,
      [...r.superseded.map((s) => s.pending), ...r.removed].map((p) => ({
        organization_id: account.organizationId,
        account_id: account.id,
        entity_id: p.id,
        // A row that had left the live set already only gains its link.
        kind: p.status === 'removed' ? ('modified' as const) : ('removed' as const),
      })),
    );
    // Each posted row that replaced one of them now shows it (`supersedes`): a consumer applying the feed as upserts
    // by id learns it from this event; without it the posted row's copy kept `supersedes: null` for good.
    await insertChangeEvents(
      trx,
      linkedPosted.map((id) => ({
        organization_id: account.organizationId,
        account_id: account.id,
        entity_id: id,
        kind: 'modified' as const,
      })),
    );
    const counts = { superseded: r.superseded.length, removed: r.removed.length };
    if (runId) {
      await countOnRun(trx, runId, counts);
    }
    return counts;
  });
}

/** What one complete current-day walk showed, and the facts a decision names as its evidence. */
export interface IntradaySnapshot {
  /** The account's business day the snapshot belongs to (the bank's `asOfDate`, never our clock). */
  day: string;
  /** J.P. Morgan ids of the account's intraday items in the walk. */
  ids: ReadonlySet<string>;
  /**
   * False when the walk could not prove absence (an unidentifiable record, a count that does not add up, no
   * second walk showing the same items): restore only.
   */
  provesAbsence: boolean;
  /** The database clock before the walk's first page: rows written after it are left alone. */
  walkStartedAt: string;
  /**
   * When the latest walk of the evidence began (`walkStartedAt` for a single walk): a walk of the account that began
   * later and reconciled already read the bank after this one, so this one withdraws nothing; a removal decided on
   * walks older than this one's is undone when this walk shows the item.
   */
  latestWalkStartedAt?: string;
  evidence: { totalRecords: number; totalPages: number; businessDaySource: string; walksAgreeing?: number };
}

/**
 * The pending rows of the day that a walk showing `snap.ids` no longer shows. A row without an id key (the bank
 * sent none, or one too long) cannot be told apart by id: it is never withdrawn intraday; the prior-day step
 * resolves it (not_in_prior_day).
 */
function withdrawable(rows: readonly IntradayCandidate[], snap: Pick<IntradaySnapshot, 'ids'>): IntradayCandidate[] {
  return rows.filter(
    (r) =>
      r.status === 'pending' &&
      r.quiet_since &&
      isIdentityId(r.jpm_transaction_id) &&
      !snap.ids.has(r.jpm_transaction_id),
  );
}

/**
 * Whether a walk would withdraw anything (read without the lock: `reconcileIntraday` decides under it). Only
 * then does the current-day step spend a second walk confirming the snapshot held still (intraday.ts).
 */
export async function wouldWithdraw(
  db: Database,
  account: AccountRef,
  snap: Pick<IntradaySnapshot, 'day' | 'ids' | 'walkStartedAt'>,
): Promise<boolean> {
  const rows = await intradayCandidates(db, account.organizationId, account.id, snap.day, snap.walkStartedAt);
  return withdrawable(rows, snap).length > 0;
}

/**
 * Whether a current-day snapshot showing a removed row undoes its removal: a withdrawal during the day does; so does a
 * removal as never posted (`not_in_prior_day`) of an item the bank shows again on a LATER business day under its id
 * (one id is one row: ingest moved the row to the day the bank now dates it, and the bank shows it pending there).
 * A snapshot still dating it on its own day, whose final data is in, undoes nothing: that day's resolution stands.
 */
function restorable(r: IntradayCandidate, day: string): boolean {
  return (
    r.last_rule === 'withdrawn_intraday' ||
    (r.last_rule === 'not_in_prior_day' && r.decided_on !== null && r.decided_on < day)
  );
}

/**
 * Intraday reconciliation. The current-day view is a full snapshot: after a COMPLETE walk of it, a
 * stored pending intraday item of that business day that the bank no longer shows was withdrawn,
 * and leaves the live set (`removed`, rule `withdrawn_intraday`); a withdrawn item the bank shows
 * again is restored to `pending` (rule `shown_again_intraday`) in the same row, never duplicated, as is
 * an item removed as never posted that a later day's snapshot shows again (`restorable`).
 * Each change has a decision row with its evidence and a change event (`removed` / `modified`).
 *
 * Race safety: one transaction under the account's write lock; a row written after the walk began
 * (by a newer walk that may know more) is neither removed nor restored by this older evidence; each
 * update re-checks the status it read. Crash safety: all or nothing; the next walk redoes it.
 */
export async function reconcileIntraday(
  db: Database,
  account: AccountRef,
  snap: IntradaySnapshot,
  runId: string | null,
  beforeWrite?: (trx: Executor) => Promise<void>,
): Promise<{ removed: number; restored: number }> {
  return db.transaction().execute(async (trx) => {
    await lockAccountForWrite(trx, account.id);
    // The window's fence: a window that lost its account lock concludes nothing from its walks (the lock's new holder
    // may have read the bank since, and be walking still, its evidence not noted yet).
    await beforeWrite?.(trx);
    const latest = snap.latestWalkStartedAt ?? snap.walkStartedAt;
    // Two syncs of the account may walk at once: the one that read the bank last decides.
    const newest = await noteIntradayWalk(trx, account.id, latest);
    const rows = await intradayCandidates(trx, account.organizationId, account.id, snap.day, snap.walkStartedAt);
    const withdraw = snap.provesAbsence && newest ? withdrawable(rows, snap) : [];
    const restore = rows.filter(
      (r) =>
        r.status === 'removed' &&
        restorable(r, snap.day) &&
        r.last_decision_before === true &&
        snap.ids.has(r.jpm_transaction_id),
    );
    // A row linked to a posted item of an earlier day that the bank shows pending again on this one (ingest moved it
    // here): the link was wrong (a look-alike's posting), or the bank presents the item anew; either way it is live.
    const unlink = rows.filter(
      (r) =>
        r.status === 'superseded' &&
        r.superseded_by !== null &&
        r.decided_on !== null &&
        r.decided_on < snap.day &&
        r.last_decision_before === true &&
        snap.ids.has(r.jpm_transaction_id),
    );
    const unlinked = await unlinkSuperseded(
      trx,
      unlink.map((r) => ({ id: r.id, superseded_by: r.superseded_by ?? '' })),
    );
    const unlinkedIds = new Set(unlinked.unlinked);
    const removedIds = new Set(
      await setIntradayStatus(
        trx,
        withdraw.map((r) => ({ id: r.id, from: 'pending' as const, to: 'removed' as const })),
      ),
    );
    const restoredIds = new Set(
      await setIntradayStatus(
        trx,
        restore.map((r) => ({ id: r.id, from: 'removed' as const, to: 'pending' as const })),
      ),
    );
    const base = {
      organization_id: account.organizationId,
      account_id: account.id,
      sync_run_id: runId,
      related_transaction_id: null,
    };
    const walk = { runId, itemsShown: snap.ids.size, ...snap.evidence, startedAt: latest };
    const item = (r: IntradayCandidate) => ({
      bookingDate: r.booking_date,
      jpmTransactionId: r.jpm_transaction_id,
      direction: r.direction,
      amountMinor: r.amount_minor,
    });
    // What the restore undoes: the rule, and the day the row had then when the bank has dated it anew since.
    const previous = (r: IntradayCandidate) => ({
      previousRule: r.last_rule,
      ...(r.decided_on !== null && r.decided_on !== r.booking_date ? { previousBookingDate: r.decided_on } : {}),
    });
    await insertDecisions(trx, [
      ...withdraw
        .filter((r) => removedIds.has(r.id))
        .map((r) => ({
          ...base,
          transaction_id: r.id,
          decision: 'removed' as const,
          rule: 'withdrawn_intraday',
          evidence: { ...item(r), walk },
        })),
      ...restore
        .filter((r) => restoredIds.has(r.id))
        .map((r) => ({
          ...base,
          transaction_id: r.id,
          decision: 'restored' as const,
          rule: 'shown_again_intraday',
          evidence: { ...item(r), ...previous(r), walk },
        })),
      ...unlink
        .filter((r) => unlinkedIds.has(r.id))
        .map((r) => ({
          ...base,
          transaction_id: r.id,
          related_transaction_id: r.superseded_by,
          decision: 'restored' as const,
          rule: 'shown_again_intraday',
          evidence: { ...item(r), ...previous(r), walk },
        })),
    ]);
    await insertChangeEvents(trx, [
      ...[...removedIds].map((id) => ({
        organization_id: account.organizationId,
        account_id: account.id,
        entity_id: id,
        kind: 'removed' as const,
      })),
      ...[...restoredIds, ...unlinked.unlinked, ...unlinked.posted].map((id) => ({
        organization_id: account.organizationId,
        account_id: account.id,
        entity_id: id,
        kind: 'modified' as const,
      })),
    ]);
    const counts = { removed: removedIds.size, restored: restoredIds.size + unlinkedIds.size };
    if (runId && (counts.removed > 0 || counts.restored > 0)) {
      // A restore is an update of the row (its status), so the run counts it as updated.
      await countOnRun(trx, runId, { removed: counts.removed, updated: counts.restored });
    }
    return counts;
  });
}
