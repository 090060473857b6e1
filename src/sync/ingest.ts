import type { SyncCounts } from '../domain/types.ts';
import { ZERO_COUNTS } from '../domain/types.ts';
import { contentHash, isIdentityId } from '../normalization/identity.ts';
import {
  contentMeaning,
  recordMeaning,
  sameRecordContent,
  TRANSACTION_NUMBERS,
  type NormalizedTransaction,
  type NormalizationReject,
  type RequestedView,
} from '../normalization/transactions.ts';
import { hasBankId, uuidv7 } from '../shared/ids.ts';
import { isIsoDate } from '../shared/time.ts';
import type { Database, Executor } from '../storage/db.ts';
import type { TransactionQuery } from './bank-client.ts';
import { countOnRun } from './sync-run.ts';
import { withRespelledRejectHashes } from './reject-respellings.ts';
import {
  compareFields,
  LOOSE_FIELDS,
  LOOSE_MATCH_CLASS,
  LOOSE_MATCH_RULE,
  looseMatches,
  recordGroup,
  recordValue,
  rowGroup,
  type LooseField,
  type LooseMatch,
  type MissingField,
} from './loose-match.ts';
import {
  findAliasedRows,
  insertAliases,
  type LookAlikes,
  type TransactionAlias,
} from '../storage/transaction-aliases.repo.ts';
import {
  accountWriteState,
  decidedChannelPairs,
  findFingerprintGroups,
  findForMatching,
  findLooseCandidates,
  findStoredContent,
  insertChangeEvents,
  insertDecisions,
  insertRejects,
  insertTransactions,
  lockAccountForWrite,
  resolveRejectsNotSentAgain,
  resolveRejectsStored,
  rekeyTransactions,
  updateTransactions,
  type AccountWriteState,
  type DecisionRow,
  type ExistingTransaction,
  type LooseCandidate,
  type MatchingTransaction,
  type RejectRow,
  type TransactionRow,
  type TransactionUpdate,
} from '../storage/transactions.repo.ts';
import type { DataQualityNote } from '../jpm/records.ts';

export interface AccountRef {
  id: string;
  organizationId: string;
}

type Column = Omit<TransactionRow, 'id' | 'organization_id' | 'account_id' | 'status'>;

function columns(t: NormalizedTransaction): Column {
  return {
    direction: t.direction,
    amount_minor: t.amountMinor.toString(),
    currency: t.currency,
    decimal_location: t.decimalLocation,
    booking_date: t.bookingDate,
    value_date: t.valueDate,
    bai_type_code: t.baiTypeCode,
    bai_summary_code: t.baiSummaryCode,
    bank_reference: t.bankReference,
    customer_reference: t.customerReference,
    description: t.description,
    jpm_transaction_id: t.jpmTransactionId,
    post_code: t.recordClass,
    fingerprint_key: t.fingerprintKey,
    content_hash: t.contentHash,
    raw: t.raw,
    ...(t.rawJson === undefined ? {} : { raw_json: t.rawJson }),
    narrative: t.narrative,
    data_quality: t.dataQuality,
    source: t.source,
  };
}

/**
 * The row inserting a record: `{ id, organization_id, account_id, status, ...columns(t) }` (the same keys in the same
 * order, hence the same insert document), built as one object literal: no intermediate object per record. A record
 * without `rawJson` has `raw_json: undefined`, which the insert document leaves out as `columns` does (rowsJsonText).
 */
function insertRow(account: AccountRef, id: string, t: NormalizedTransaction): TransactionRow {
  return {
    id,
    organization_id: account.organizationId,
    account_id: account.id,
    status: t.status,
    direction: t.direction,
    amount_minor: t.amountMinor.toString(),
    currency: t.currency,
    decimal_location: t.decimalLocation,
    booking_date: t.bookingDate,
    value_date: t.valueDate,
    bai_type_code: t.baiTypeCode,
    bai_summary_code: t.baiSummaryCode,
    bank_reference: t.bankReference,
    customer_reference: t.customerReference,
    description: t.description,
    jpm_transaction_id: t.jpmTransactionId,
    post_code: t.recordClass,
    fingerprint_key: t.fingerprintKey,
    content_hash: t.contentHash,
    raw: t.raw,
    raw_json: t.rawJson,
    narrative: t.narrative,
    data_quality: t.dataQuality,
    source: t.source,
  };
}

/**
 * Rows that hold a record's content although their content hash is not the record's: the hash is over the bank's exact
 * text, and the bank sent the stored record again with a number spelled another way, its members in another order, a
 * null member left out or added, or other white space between tokens. By record, the ids of such rows
 * (`findRespellings`, read before `planPage`).
 */
export type Respellings = ReadonlyMap<NormalizedTransaction, ReadonlySet<string>>;

const NO_RESPELLINGS: Respellings = new Map();

/** Whether a stored row holds the record's content: the same hash (the same text), or the same meaning (`Respellings`). */
function sameContent(row: ExistingTransaction, t: NormalizedTransaction, respelled: Respellings): boolean {
  return row.content_hash === t.contentHash || (respelled.get(t)?.has(row.id) ?? false);
}

/** The id key of a record or row for matching, or undefined when its id is no key (`isIdentityId`). */
function idKey(postCode: string, jpmTransactionId: string): string | undefined {
  return isIdentityId(jpmTransactionId) ? `${postCode}|${jpmTransactionId}` : undefined;
}

function member(value: unknown, key: string): unknown {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
    ? (value as Record<string, unknown>)[key]
    : undefined;
}

/**
 * A reject as stored: named by what can be read of it (transactionId, booking date, record class) and
 * identified by a hash of the record, so the same bad record fetched again is the same open reject.
 */
export function rejectRow(account: AccountRef, r: NormalizationReject, runId: string | null): RejectRow {
  const id = member(r.raw, 'transactionId');
  const date = member(r.raw, 'asOfDate');
  const postCode = member(r.raw, 'postCode');
  return {
    organization_id: account.organizationId,
    account_id: account.id,
    sync_run_id: runId,
    record_type: 'transaction',
    reason: r.reason,
    raw: r.raw,
    record_hash: contentHash(['transaction', r.raw ?? null]),
    record_index: r.index,
    jpm_transaction_id: typeof id === 'string' && id !== '' ? id : null,
    // Index -1: a record of another account in this account's response (sync-account.ts); it names no day
    // of this account, so it blocks none of this account's proofs.
    booking_date: r.index >= 0 && typeof date === 'string' && isIsoDate(date) ? date : null,
    record_class: postCode === 'I' || postCode === 'P' ? postCode : null,
    fields: r.fields ?? fieldsOf(r.reason),
  };
}

/** The paths a reason names (`path: problem; path: problem`, as jpm/records.ts writes them). */
function fieldsOf(reason: string): string[] {
  return reason.split('; ').flatMap((part) => {
    const at = part.indexOf(': ');
    return at > 0 ? [part.slice(0, at)] : [];
  });
}

/** What a query asked the bank for: it decides the class of a record whose postCode is missing or odd. */
export function requestedView(query: Exclude<TransactionQuery, { empty: true }>): RequestedView {
  if ('relativeDateType' in query) {
    return query.relativeDateType === 'CURRENT_DAY' ? 'current_day' : 'prior_day';
  }
  return 'history';
}

/**
 * Called after a complete walk of the bank's posted data for `dates` (the walk ended without error):
 * open rejects of those dates that this run did not see again are resolved, since the bank no longer
 * sends them. Bad records seen again stay open (their row now names this run). Without a run id (a
 * direct call), nothing can tell "seen again" apart, so nothing is resolved. Under the account's write lock, with
 * the window's `beforeWrite` (its fence): a window that lost its account lock resolves nothing, since the lock's new
 * holder may have walked the days since and found a bad record the bank still sends (another run's reject).
 */
export async function resolveRejectsOfCompleteWalk(
  db: Database,
  account: AccountRef,
  dates: readonly string[],
  runId: string | null,
  beforeWrite?: (trx: Executor) => Promise<void>,
): Promise<number> {
  if (runId === null || dates.length === 0) {
    return 0;
  }
  return db.transaction().execute(async (trx) => {
    await lockAccountForWrite(trx, account.id);
    await beforeWrite?.(trx);
    return resolveRejectsNotSentAgain(trx, account.id, dates, runId);
  });
}

interface Plan {
  inserts: TransactionRow[];
  updates: TransactionUpdate[];
  /**
   * Rows matched by their id whose content is the record's but whose occurrence key is another (`rekeyTransactions`):
   * a walk stopped part way (a short page, data that shifted) numbered a day's look-alikes from a partial view.
   */
  rekeys: { id: string; fingerprint_key: string }[];
  decisions: DecisionRow[];
  unchanged: number;
  /** The rows this page's records took: matched, or inserted (by their new ids). */
  claimed: Set<string>;
  /** The record of each insert, by position (`looseMatches` may turn an insert into a match). */
  insertRecords: NormalizedTransaction[];
  /** Records whose re-identification waits for the walk's later pages (`HeldRecords`). */
  held: NormalizedTransaction[];
  /** Records whose id a record before them in the walk had, with other content: rejects (`conflictReject`). */
  conflicts: NormalizationReject[];
}

/** The reason of a record whose id an earlier record of the walk had, with other content. */
const ID_CONFLICT_REASON = 'transactionId: sent again in the same walk with other content; the first copy is stored';

/**
 * A record whose `transactionId` an earlier record of the same walk (this page or an earlier one) had, with other
 * content: one id is one row, so the first copy is stored and this one is a reject, named, never dropped in silence
 * (an identical copy is the same record, the bank's pages shifted under the walk: unchanged). `index`: the record's
 * position among the page's records.
 */
function conflictReject(t: NormalizedTransaction, index: number): NormalizationReject {
  return { index, reason: ID_CONFLICT_REASON, raw: t.raw, fields: ['transactionId'] };
}

/**
 * The rows that earlier pages of one walk (an API walk, or a statement file stored page by page) took,
 * matched or inserted. A page cuts a day anywhere, so three identical id-less fees of a day may be two on
 * one page and one on the next: the third must not take the row the first one took (it is a fee of its
 * own, occurrence 3), nor, on a re-import, the first one's row instead of its own. Start a new one with
 * each walk (when the occurrence numbers start again); never share one between accounts.
 */
export type WalkClaims = Set<string>;

/**
 * Records of a walk that would re-identify a row (take over a row of the same fingerprint key whose id is not on their
 * page): that row's own id may still come on a later page of the walk, and then the record is a new look-alike of the
 * day, not the row's new id. Held until the walk's pages are all stored (`storeHeldRecords`), when every row a record
 * of the walk matched by id is among the walk's claims. Start one with each walk, as `WalkClaims`.
 */
export type HeldRecords = NormalizedTransaction[];

/** Held records beyond which a walk stores them with the ids it has seen so far, so a walk's memory stays bounded. */
const MAX_HELD = 5000;
/** Held records are stored in pages no larger than the bank's. */
const HELD_PAGE = 1000;

/** A fingerprint key without its occurrence number: the record class and fingerprint of a look-alike group. */
function lookAlikeGroup(key: string): string {
  return key.slice(0, key.lastIndexOf(':'));
}

function occurrenceOf(key: string): number {
  return Number(key.slice(key.lastIndexOf(':') + 1));
}

/**
 * Decides, for each record, insert / update / nothing. Match order: the bank's id for this account,
 * then the fingerprint key (same content, same occurrence) when the bank re-issued ids for a day.
 * Records without an id key (`identityById` false) come last and match rows without one of their
 * fingerprint group: first a row with the same content, then the same occurrence, then any; so the
 * bank listing id-less look-alikes in another order never makes a duplicate. `held`: the walk's records held so far
 * (`HeldRecords`), when the walk holds records: a record with an id that would take a row with an id by fingerprint
 * waits in the plan's `held` instead, and a held record is the first copy of its id (a later one is the same record
 * again, or a conflict), as a record stored by an earlier page is. A record holds a row's content when their content
 * hashes are equal, or it is one of the row's `respelled` records (`findRespellings`: the same meaning, another text);
 * two copies of one id in the walk, when their `sameRecordContent`.
 */
export function planPage(
  account: AccountRef,
  records: readonly NormalizedTransaction[],
  existing: readonly (ExistingTransaction & Partial<NotedColumns>)[],
  runId: string | null,
  earlier: ReadonlySet<string> = new Set(),
  held?: readonly NormalizedTransaction[],
  respelled: Respellings = NO_RESPELLINGS,
): Plan {
  // Ids are matched within a record class: an intraday item never becomes its posted successor by id.
  const byId = new Map(
    existing.flatMap((e) => {
      const k = idKey(e.post_code, e.jpm_transaction_id);
      return k === undefined ? [] : [[k, e] as const];
    }),
  );
  // Rows by look-alike group (record class and fingerprint, any occurrence), lowest occurrence first.
  const byGroup = Map.groupBy(
    existing.toSorted((a, b) => occurrenceOf(a.fingerprint_key) - occurrenceOf(b.fingerprint_key)),
    (e) => lookAlikeGroup(e.fingerprint_key),
  );
  const claimed = new Set<string>();
  const plan: Plan = {
    inserts: [],
    updates: [],
    rekeys: [],
    decisions: [],
    unchanged: 0,
    claimed,
    insertRecords: [],
    held: [],
    conflicts: [],
  };
  // The first record of each id on this page or held by an earlier page of the walk (not yet stored), by id key.
  const seenIds = new Map<string, NormalizedTransaction>(
    (held ?? []).map((t) => [`${t.recordClass}|${t.jpmTransactionId}`, t]),
  );
  const pageIds = new Set(records.flatMap((r) => idKey(r.recordClass, r.jpmTransactionId) ?? []));
  const apply = (t: NormalizedTransaction, match: ExistingTransaction | undefined, reason: string) => {
    if (!match) {
      const id = uuidv7();
      claimed.add(id);
      plan.inserts.push(insertRow(account, id, t));
      plan.insertRecords.push(t);
      return;
    }
    claimed.add(match.id);
    // Another channel's report of an item whose row holds the bank's id, without that id (a statement
    // file read after the API): it confirms the row; a report that says less never overwrites one that says more.
    const confirms = !t.identityById && isIdentityId(match.jpm_transaction_id) && match.source !== t.source;
    if (sameContent(match, t, respelled) || confirms) {
      plan.unchanged++;
      if (
        !confirms &&
        t.identityById &&
        match.jpm_transaction_id === t.jpmTransactionId &&
        match.fingerprint_key !== t.fingerprintKey
      ) {
        // The same record, numbered by a walk that saw the day whole: its key follows, so two look-alikes never share
        // one (a file's or an id-less record's match by fingerprint and occurrence finds one row, the right one).
        plan.rekeys.push({ id: match.id, fingerprint_key: t.fingerprintKey });
      }
      return;
    }
    plan.updates.push({ id: match.id, ...carryingNotKeptNotes(t, match), reason, sync_run_id: runId });
    if (reason === 're_identified') {
      // Across channels (a file's line, then the API's record) the evidence names what matched.
      const across = match.source !== t.source;
      // A look-alike of another occurrence number (`reIdentify`): the row's key is named too.
      const otherOccurrence = match.fingerprint_key !== t.fingerprintKey;
      plan.decisions.push({
        organization_id: account.organizationId,
        account_id: account.id,
        transaction_id: match.id,
        related_transaction_id: null,
        decision: 're_identified',
        rule: across
          ? 'same_fingerprint_across_channels'
          : otherOccurrence
            ? 'same_fingerprint_look_alike'
            : 'same_fingerprint_and_occurrence',
        sync_run_id: runId,
        source: t.source,
        evidence: {
          previousJpmTransactionId: match.jpm_transaction_id,
          newJpmTransactionId: t.jpmTransactionId,
          fingerprintKey: t.fingerprintKey,
          ...(otherOccurrence ? { rowFingerprintKey: match.fingerprint_key } : {}),
          ...(across
            ? {
                previousSource: match.source,
                source: t.source,
                bankReference: t.bankReference,
                customerReference: t.customerReference,
                amountMinor: t.amountMinor.toString(),
                direction: t.direction,
                bookingDate: t.bookingDate,
                baiTypeCode: t.baiTypeCode,
              }
            : {}),
        },
      });
    }
  };
  /**
   * Whether a row may be re-identified by a record of this page: its own id is absent from this page (else that record
   * claims it by id) and no record of this page or an earlier page of the walk took it (a look-alike of a day cut by
   * the pages).
   */
  const isFree = (e: ExistingTransaction) => {
    const k = idKey(e.post_code, e.jpm_transaction_id);
    return !claimed.has(e.id) && !earlier.has(e.id) && (k === undefined || !pageIds.has(k));
  };
  /** The free rows of a record's look-alike group, lowest occurrence first. */
  const freeLookAlikes = (t: NormalizedTransaction) =>
    (byGroup.get(lookAlikeGroup(t.fingerprintKey)) ?? []).filter(isFree);
  /** The free row of the record's exact fingerprint key (same content, same occurrence). */
  const byFingerprintKey = (t: NormalizedTransaction) =>
    freeLookAlikes(t).find((e) => e.fingerprint_key === t.fingerprintKey);
  const hasId = (e: ExistingTransaction) => idKey(e.post_code, e.jpm_transaction_id) !== undefined;
  // Records with an id that no row of their class has: the bank may have re-issued the day's ids.
  const unknownIds: NormalizedTransaction[] = [];
  /**
   * A record whose id is unknown re-identifies a free row of its look-alike group: the row of its exact fingerprint key
   * first (all of the page's records), then any (lowest occurrence first). The occurrence number of a row matched by
   * id stays what it was when the row was written (it is not part of the content hash), so after a look-alike came
   * earlier in the day's order two rows may share a key and a key have no row; any look-alike is the same money
   * movement. `hold`: a record that would take a row with an id waits (`HeldRecords`): that row's own id may be on a
   * later page of the walk.
   */
  const reIdentify = (unknown: readonly NormalizedTransaction[], hold: boolean) => {
    const other: NormalizedTransaction[] = [];
    for (const t of unknown) {
      const exact = byFingerprintKey(t);
      if (!exact) {
        other.push(t);
      } else if (hold && hasId(exact)) {
        plan.held.push(t);
      } else {
        apply(t, exact, 're_identified');
      }
    }
    for (const t of other) {
      // Any occurrence only among posted rows: the bank re-issues the ids of a closed day's posted items. An intraday
      // item keeps its id through the day (a withdrawn one comes back under it), so a new intraday look-alike never
      // takes a withdrawn or superseded row of another occurrence.
      const rows = freeLookAlikes(t).filter((e) => e.status === 'posted');
      if (hold && rows.some(hasId)) {
        plan.held.push(t);
      } else {
        apply(t, rows[0], 're_identified');
      }
    }
  };
  for (const [index, t] of records.entries()) {
    if (!t.identityById) {
      continue;
    }
    const key = `${t.recordClass}|${t.jpmTransactionId}`;
    const first = seenIds.get(key);
    if (first) {
      // The same id twice on one page, or held by an earlier one: the same record again (pages shifted under us), or a
      // conflict.
      if (sameRecordContent(first, t)) {
        plan.unchanged++;
      } else {
        plan.conflicts.push(conflictReject(t, index));
      }
      continue;
    }
    seenIds.set(key, t);
    const match = byId.get(key);
    if (match && earlier.has(match.id) && !sameContent(match, t, respelled)) {
      // An earlier page of the walk sent this id (its row took it then) with other content: the first copy stands.
      plan.conflicts.push(conflictReject(t, index));
    } else if (match && !claimed.has(match.id)) {
      apply(t, match, 'bank_changed_record');
    } else {
      unknownIds.push(t);
    }
  }
  reIdentify(unknownIds, held !== undefined);
  const idless = records.filter((t) => !t.identityById);
  if (idless.length === 0) {
    return plan;
  }
  const candidates = Map.groupBy(
    existing.filter((e) => !isIdentityId(e.jpm_transaction_id)),
    (e) => lookAlikeGroup(e.fingerprint_key),
  );
  // Rows an earlier page of the walk took are not free either: the group's records may span two pages.
  const free = (t: NormalizedTransaction) =>
    (candidates.get(lookAlikeGroup(t.fingerprintKey)) ?? []).filter((e) => !claimed.has(e.id) && !earlier.has(e.id));
  const rest: NormalizedTransaction[] = [];
  for (const t of idless) {
    const same = free(t).find((e) => sameContent(e, t, respelled));
    if (same) {
      apply(t, same, 'bank_changed_record');
    } else {
      rest.push(t);
    }
  }
  const noIdlessRow: NormalizedTransaction[] = [];
  for (const t of rest) {
    const rows = free(t);
    const idlessRow = rows.find((e) => e.fingerprint_key === t.fingerprintKey) ?? rows[0];
    if (idlessRow) {
      apply(t, idlessRow, 'bank_changed_record');
    } else {
      noIdlessRow.push(t);
    }
  }
  // A row that had an id the bank no longer sends (it dropped the id): the same item, re-identified.
  reIdentify(noIdlessRow, false);
  return plan;
}

/**
 * The `Respellings` of a page: for the records whose hash differs from a row `planPage` compares them with, that row's
 * stored columns and raw record are read (only those rows) and compared with the record by meaning (`contentMeaning`).
 * Those rows are a record's row by its id, and, for a record without an id key (`identityById` false) whose exact hash
 * fewer free rows of its look-alike group hold than records of the page have, every idless row of its group not taken
 * by an earlier page of the walk (`earlier`). A page sent again as it was reads nothing and makes no meaning; a
 * statement file's line is compared by its hash alone (`recordMeaning`).
 */
async function findRespellings(
  trx: Executor,
  records: readonly NormalizedTransaction[],
  existing: readonly ExistingTransaction[],
  earlier: ReadonlySet<string>,
): Promise<Respellings> {
  const pairs = new Map<NormalizedTransaction, ExistingTransaction[]>();
  const byId = new Map(
    existing.flatMap((e) => {
      const k = idKey(e.post_code, e.jpm_transaction_id);
      return k === undefined ? [] : [[k, e] as const];
    }),
  );
  const idless: NormalizedTransaction[] = [];
  for (const t of records) {
    if (!t.identityById) {
      idless.push(t);
      continue;
    }
    const row = byId.get(`${t.recordClass}|${t.jpmTransactionId}`);
    if (row && row.content_hash !== t.contentHash && t.rawJson !== undefined) {
      pairs.set(t, [row]);
    }
  }
  if (idless.length > 0) {
    const groups = Map.groupBy(
      existing.filter((e) => !isIdentityId(e.jpm_transaction_id) && !earlier.has(e.id)),
      (e) => lookAlikeGroup(e.fingerprint_key),
    );
    const tally = (m: Map<string, number>, key: string) => m.set(key, (m.get(key) ?? 0) + 1);
    const recordsWith = new Map<string, number>();
    for (const t of idless) {
      tally(recordsWith, `${lookAlikeGroup(t.fingerprintKey)} ${t.contentHash}`);
    }
    const rowsWith = new Map<string, number>();
    for (const [group, rows] of groups) {
      for (const e of rows) {
        tally(rowsWith, `${group} ${e.content_hash}`);
      }
    }
    for (const t of idless) {
      const group = lookAlikeGroup(t.fingerprintKey);
      const key = `${group} ${t.contentHash}`;
      if (t.rawJson === undefined || (recordsWith.get(key) ?? 0) <= (rowsWith.get(key) ?? 0)) {
        continue;
      }
      const other = (groups.get(group) ?? []).filter((e) => e.content_hash !== t.contentHash);
      if (other.length > 0) {
        pairs.set(t, other);
      }
    }
  }
  if (pairs.size === 0) {
    return NO_RESPELLINGS;
  }
  const ids = [...new Set([...pairs.values()].flatMap((rows) => rows.map((e) => e.id)))];
  const stored = new Map(
    (await findStoredContent(trx, ids)).map((r) => [
      r.id,
      contentMeaning(
        {
          amountMinor: r.amount_minor,
          direction: r.direction,
          bookingDate: r.booking_date,
          valueDate: r.value_date,
          baiTypeCode: r.bai_type_code,
          baiSummaryCode: r.bai_summary_code,
          bankReference: r.bank_reference,
          customerReference: r.customer_reference,
        },
        r.raw,
      ),
    ]),
  );
  const respelled = new Map<NormalizedTransaction, ReadonlySet<string>>();
  for (const [t, rows] of pairs) {
    const meaning = recordMeaning(t);
    const same = rows.filter((e) => meaning !== undefined && stored.get(e.id) === meaning);
    if (same.length > 0) {
      respelled.set(t, new Set(same.map((e) => e.id)));
    }
  }
  return respelled;
}

/**
 * Records that confirmed a row of another fingerprint (`looseMatches`: a field one channel left out), with
 * that row's fingerprint key: what the day's tally of the walk counts them as, so the bank's reported
 * look-alikes (bank_day_fetches) are those of the rows stored.
 */
export type LandedOn = Map<NormalizedTransaction, string>;

/**
 * Turns the plan's inserts that are the same item as a row of another channel with a field left out on one
 * side into matches. First by alias (`transaction_aliases`): a channel's fingerprint key that an earlier page,
 * of any walk, matched to a row, looked up by exact key, so a file imported again or a sync run again writes
 * no data row whatever way its pages cut a look-alike group; the row must still be posted, of the record's
 * look-alike group, and taken by no other record of this page or an earlier page of the walk. Then by the rule
 * (`looseMatches`, src/sync/loose-match.ts), each match recording the record's key and the row's as aliases of
 * the row, with the match's look-alike group as it was then. A record with the bank's id takes the row over
 * (re-identified, the previous version kept; the fields it left out stay empty, each noted in data_quality as not
 * kept from the other channel: `takeOverColumns`), any other confirms it and writes
 * nothing to it. A `re_identified` decision (rule `missing_field_across_channels`) names the matched facts and the
 * missing field: for every takeover, and for a rule match's confirmation once per row and pair of channels. Runs under
 * the account's write lock, so a concurrent import of the same day sees this one's rows and aliases, or this one sees
 * its.
 * `state`: what the account held when the page took the lock (`accountWriteState`): without aliases none is looked up,
 * without rows of another channel no candidate of API records.
 */
async function matchLoosely(
  trx: Executor,
  account: AccountRef,
  plan: Plan,
  runId: string | null,
  earlier: ReadonlySet<string>,
  landed: LandedOn | undefined,
  state: AccountWriteState,
): Promise<void> {
  const insertedIds = new Set(plan.inserts.map((r) => r.id));
  const taken = new Set([...plan.claimed].filter((id) => !insertedIds.has(id)));
  const aliased = state.aliases
    ? await findAliasedRows(
        trx,
        account.id,
        plan.insertRecords.map((t) => ({ source: t.source, fingerprintKey: t.fingerprintKey })),
      )
    : [];
  const byAlias = new Map(aliased.map((r) => [r.alias_key, r]));
  const aliasMatches: LooseMatch[] = [];
  for (const t of plan.insertRecords) {
    const row = byAlias.get(`${t.source}|${t.fingerprintKey}`);
    // The row must still be the live posted item of the record's look-alike group, and free: neither this page's
    // nor an earlier page's of the walk (that row is another item the bank reports, matched first).
    const free =
      row && row.status === 'posted' && !taken.has(row.id) && !earlier.has(row.id) && recordGroup(t) === rowGroup(row);
    const fit =
      row && free && !(t.identityById && isIdentityId(row.jpm_transaction_id)) ? compareFields(t, row) : undefined;
    if (row && fit) {
      taken.add(row.id);
      // The group as it was when the alias was made: this page may see only part of it, or rows taken over since.
      aliasMatches.push({ record: t, row, ...fit, group: { records: 1, rows: 1 }, lookAlikes: row.look_alikes });
    }
  }
  const byAliasRecord = new Set(aliasMatches.map((m) => m.record));
  const rest = plan.insertRecords.filter((t) => !byAliasRecord.has(t));
  const loose = rest.filter((t) => t.recordClass === LOOSE_MATCH_CLASS);
  const onlyApiRecords = loose.every((t) => t.source === 'jpm_api');
  const candidates =
    loose.length === 0 || (onlyApiRecords && !state.otherChannels)
      ? []
      : await findLooseCandidates(
          trx,
          account.id,
          loose.map((t) => t.bookingDate),
          loose.map((t) => t.amountMinor.toString()),
          onlyApiRecords,
        );
  const ruleMatches = candidates.length === 0 ? [] : looseMatches(rest, candidates, taken, earlier);
  const matches = [...aliasMatches, ...ruleMatches];
  if (matches.length === 0) {
    return;
  }
  const decided = await decidedChannelPairs(
    trx,
    ruleMatches.map((m) => m.row.id),
    LOOSE_MATCH_RULE,
  );
  const matched = new Set(matches.map((m) => m.record));
  plan.inserts.forEach((r, i) => {
    if (matched.has(plan.insertRecords[i]!)) {
      plan.claimed.delete(r.id);
    }
  });
  plan.inserts = plan.inserts.filter((_, i) => !matched.has(plan.insertRecords[i]!));
  plan.insertRecords = plan.insertRecords.filter((t) => !matched.has(t));
  const aliases: TransactionAlias[] = [];
  for (const { record: t, row, missing, matched: same, group, lookAlikes } of matches) {
    plan.claimed.add(row.id);
    aliases.push(
      {
        account_id: account.id,
        source: t.source,
        fingerprint_key: t.fingerprintKey,
        transaction_id: row.id,
        look_alikes: lookAlikes,
      },
      {
        account_id: account.id,
        source: row.source,
        fingerprint_key: row.fingerprint_key,
        transaction_id: row.id,
        look_alikes: lookAlikes,
      },
    );
    // Only a record with the bank's id takes a row over (a row of another channel without one: the query and
    // looseMatches never pair two ids); a report without it never overwrites another channel's row.
    const takesOver = t.identityById;
    if (takesOver) {
      plan.updates.push({
        id: row.id,
        ...takeOverColumns(t, row, missing, lookAlikes),
        reason: 're_identified',
        sync_run_id: runId,
      });
    } else {
      plan.unchanged++;
      landed?.set(t, row.fingerprint_key);
    }
    // A confirmation is decided once per row and pair of channels (an alias's was decided when the alias was
    // made); a takeover, which changes the row's identity and channel, happens once per row and is always decided.
    if (!takesOver && (byAliasRecord.has(t) || decided.has(`${row.id}|${[t.source, row.source].sort().join('|')}`))) {
      continue;
    }
    plan.decisions.push({
      organization_id: account.organizationId,
      account_id: account.id,
      transaction_id: row.id,
      related_transaction_id: null,
      decision: 're_identified',
      rule: LOOSE_MATCH_RULE,
      sync_run_id: runId,
      source: t.source,
      evidence: {
        previousJpmTransactionId: row.jpm_transaction_id,
        newJpmTransactionId: takesOver ? t.jpmTransactionId : row.jpm_transaction_id,
        fingerprintKey: t.fingerprintKey,
        rowFingerprintKey: row.fingerprint_key,
        previousSource: row.source,
        source: t.source,
        rowTakenOver: takesOver,
        bookingDate: t.bookingDate,
        direction: t.direction,
        amountMinor: t.amountMinor.toString(),
        currency: t.currency,
        recordClass: t.recordClass,
        baiTypeCode: t.baiTypeCode,
        bankReference: t.bankReference,
        customerReference: t.customerReference,
        matched: ['bookingDate', 'direction', 'amountMinor', 'currency', ...same],
        missing,
        group,
        byAlias: byAliasRecord.has(t),
      },
    });
  }
  await insertAliases(trx, aliases);
}

/** What a row's not-kept notes are read from (`carryingNotKeptNotes`). */
type NotedColumns = Pick<MatchingTransaction, 'data_quality'>;

/**
 * The note of a field a channel's record left out that the row it took over (or a row of its look-alike group)
 * carries: the value is never kept from the other channel, since which of several look-alikes is this item may be
 * arbitrary (and a day may gain a look-alike later); the other channel's value stays in the row's versions and the
 * match's decision. Short whatever the group (notes are for people: at most 200 characters).
 */
function notKeptNote(field: LooseField, leftOutBy: string, from: readonly string[]): DataQualityNote {
  const problem = `left out by ${leftOutBy}; not kept from ${from.join(' / ')}`;
  return { field, problem: problem.length > 200 ? `${problem.slice(0, 199)}…` : problem };
}

/** A note `notKeptNote` wrote: the channel that left the field out. */
const NOT_KEPT_NOTE = /^left out by (.+?); not kept from .+$/;

/**
 * The columns of a record taking another channel's row over: the record's own, the fields it left out staying
 * empty; the fingerprint key stays the record's, so its channel keeps matching the row by id and fingerprint.
 * Every field the record left out that the row, or another row of its look-alike group, carried is noted in
 * data_quality (`notKeptNote`), alike on every row of the group.
 */
export function takeOverColumns(
  t: NormalizedTransaction,
  row: LooseCandidate,
  missing: readonly MissingField[],
  lookAlikes: LookAlikes,
): Column {
  const out = columns(t);
  const notes = [...(t.dataQuality ?? [])];
  const from = [...new Set([row.source, ...lookAlikes.sources])].sort();
  const carried = (f: LooseField) => lookAlikes.fields.includes(f) || missing.some((m) => m.field === f);
  for (const f of LOOSE_FIELDS.filter((field) => recordValue(t, field) === '' && carried(field))) {
    notes.push(notKeptNote(f, t.source, from));
  }
  out.data_quality = notes.length > 0 ? notes : null;
  return out;
}

/**
 * The columns of a record updating its row (matched by id or fingerprint). A row taken over from another channel
 * carries the not-kept notes of the fields that channel gave (`takeOverColumns`) while this record's channel
 * still leaves them out: the record's own columns would drop them on the channel's next change of the item.
 * The content hash stays the record's, so the same record again is unchanged and nothing flips back and forth.
 */
function carryingNotKeptNotes(t: NormalizedTransaction, match: ExistingTransaction & Partial<NotedColumns>): Column {
  const out = columns(t);
  if (!Array.isArray(match.data_quality)) {
    return out;
  }
  const carriedNotes: DataQualityNote[] = [];
  for (const note of match.data_quality as unknown[]) {
    const field = member(note, 'field');
    const by = NOT_KEPT_NOTE.exec(String(member(note, 'problem')));
    if (
      !by ||
      by[1] !== t.source ||
      typeof field !== 'string' ||
      !(LOOSE_FIELDS as readonly string[]).includes(field)
    ) {
      continue;
    }
    const f = field as LooseField;
    if (recordValue(t, f) === '' && !carriedNotes.some((n) => n.field === f)) {
      carriedNotes.push({ field: f, problem: String(member(note, 'problem')) });
    }
  }
  if (carriedNotes.length > 0) {
    out.data_quality = [...(t.dataQuality ?? []), ...carriedNotes];
  }
  return out;
}

/**
 * Writes one page of normalized records and the run's progress in ONE database transaction, under
 * the account's write lock; nothing is written for unchanged records (no row versions, no WAL).
 * Never called with a bank request in flight inside the transaction. `walk`: the rows earlier pages of
 * the same walk took (`WalkClaims`); this page's are added to it once the page has committed. `held`: the walk's
 * records that wait for its later pages (`HeldRecords`), this page's added to it; without it, the page is decided
 * as if it were the walk's last. Past `MAX_HELD` records they are stored at once (counted in this page's counts).
 * `beforeWrite`: runs in the page's transaction once the lock is had, before anything is read or written (a check
 * that throws refuses the page, nothing written, and no other writer of the account can act between it and the page).
 */
export async function ingestTransactionPage(
  db: Database,
  account: AccountRef,
  page: { records: readonly NormalizedTransaction[]; rejects: readonly NormalizationReject[]; fetched: number },
  runId: string | null,
  walk?: WalkClaims,
  landed?: LandedOn,
  held?: HeldRecords,
  beforeWrite?: (trx: Executor) => Promise<void>,
): Promise<SyncCounts> {
  let claimed: ReadonlySet<string> = new Set();
  let heldHere: readonly NormalizedTransaction[] = [];
  const result = await db.transaction().execute(async (trx) => {
    await lockAccountForWrite(trx, account.id);
    await beforeWrite?.(trx);
    const state = await accountWriteState(trx, account.id);
    const existing: MatchingTransaction[] = await findForMatching(
      trx,
      account.id,
      page.records.flatMap((r) => (r.identityById ? [r.jpmTransactionId] : [])),
      page.records.map((r) => r.fingerprintKey),
      page.records.map((r) => r.recordClass),
    );
    // Records without an id key, and records whose id no row of their class has (the bank may have re-issued the
    // day's ids): they match rows of their fingerprint group, whatever their occurrence number (see planPage).
    const knownIds = new Set(existing.flatMap((e) => idKey(e.post_code, e.jpm_transaction_id) ?? []));
    const byGroup = page.records.filter(
      (r) => !r.identityById || !knownIds.has(idKey(r.recordClass, r.jpmTransactionId) ?? ''),
    );
    if (byGroup.length > 0) {
      const known = new Set(existing.map((e) => e.id));
      const group = await findFingerprintGroups(
        trx,
        account.id,
        byGroup.map((r) => r.bookingDate),
        byGroup.map((r) => r.fingerprintKey.split(':')[1] ?? ''),
      );
      existing.push(...group.filter((e) => !known.has(e.id)));
    }
    const respelled = await findRespellings(trx, page.records, existing, walk ?? new Set());
    const plan = planPage(account, page.records, existing, runId, walk, held, respelled);
    heldHere = plan.held;
    if (plan.insertRecords.length > 0) {
      await matchLoosely(trx, account, plan, runId, walk ?? new Set(), landed, state);
    }
    claimed = plan.claimed;
    const insertedIds = await insertTransactions(trx, plan.inserts);
    const updated = await updateTransactions(trx, plan.updates, runId);
    await rekeyTransactions(trx, plan.rekeys);
    await insertDecisions(trx, plan.decisions);
    // The inserted rows' `added` events were written with them (insertTransactions), before these.
    await insertChangeEvents(
      trx,
      plan.updates.map((u) => ({
        organization_id: account.organizationId,
        account_id: account.id,
        entity_id: u.id,
        kind: 'modified' as const,
      })),
    );
    const rejects = await withRespelledRejectHashes(
      trx,
      account.id,
      'transaction',
      [...page.rejects, ...plan.conflicts].map((r) => rejectRow(account, r, runId)),
      TRANSACTION_NUMBERS,
    );
    // A bad record of an earlier sync that the bank now sends usable is resolved by this page; only when the account
    // had an open one (pages open them only under this lock, and this page's own come after).
    if (state.openRejects) {
      // A held record's id is stored at the walk's end (a later copy of it waits with it).
      const waiting = new Set([...(held ?? []), ...plan.held].map((r) => r.jpmTransactionId));
      await resolveRejectsStored(
        trx,
        account.id,
        page.records.flatMap((r) =>
          !hasBankId(r.jpmTransactionId) || waiting.has(r.jpmTransactionId) ? [] : [r.jpmTransactionId],
        ),
        rejects.flatMap((r) => r.record_hash ?? []),
        // Storing a record with the id of a conflict's reject is storing its first copy: that resolves nothing.
        [ID_CONFLICT_REASON],
      );
    }
    await insertRejects(trx, rejects);
    const counts: SyncCounts = {
      fetched: page.fetched,
      inserted: insertedIds.length,
      updated,
      // An insert skipped by the unique index means another writer stored it first: unchanged for us.
      unchanged: plan.unchanged + (plan.inserts.length - insertedIds.length) + (plan.updates.length - updated),
      superseded: 0,
      removed: 0,
      rejected: page.rejects.length + plan.conflicts.length,
      balances: 0,
    };
    if (runId) {
      await countOnRun(trx, runId, counts);
    }
    return counts;
  });
  for (const id of claimed) {
    walk?.add(id);
  }
  if (held) {
    held.push(...heldHere);
    if (held.length > MAX_HELD) {
      addCounts(result, await storeHeldRecords(db, account, held, runId, walk, landed));
    }
  }
  return result;
}

/**
 * Stores a walk's held records (`HeldRecords`) once its pages are all stored (never when the client restarts the walk:
 * the stopped walk's held records are dropped, the new walk sends them again), decided against every row the walk's
 * pages took, so a record re-identifies only a row whose id the walk did not send and no other record took. Empties
 * `held`; its counts fetch nothing (their pages counted them as fetched).
 */
export async function storeHeldRecords(
  db: Database,
  account: AccountRef,
  held: HeldRecords,
  runId: string | null,
  walk?: WalkClaims,
  landed?: LandedOn,
  beforeWrite?: (trx: Executor) => Promise<void>,
): Promise<SyncCounts> {
  const total: SyncCounts = { ...ZERO_COUNTS };
  while (held.length > 0) {
    const records = held.splice(0, HELD_PAGE);
    addCounts(
      total,
      await ingestTransactionPage(
        db,
        account,
        { records, rejects: [], fetched: 0 },
        runId,
        walk,
        landed,
        undefined,
        beforeWrite,
      ),
    );
  }
  return total;
}

function addCounts(total: SyncCounts, c: SyncCounts): void {
  for (const k of Object.keys(c) as (keyof SyncCounts)[]) {
    total[k] += c[k];
  }
}
