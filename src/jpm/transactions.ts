import { ValidationError } from '../shared/errors.ts';
import { hasBankId } from '../shared/ids.ts';
import { createLogger } from '../shared/logger.ts';
import { assertIsoDate, splitRange, type IsoDate } from '../shared/time.ts';
import { JpmUnavailableError } from './errors.ts';
import { parseEnvelope, parseTransactionRecords, type Reject } from './records.ts';
import type { JpmTransport } from './transport.ts';
import { transactionsV3EnvelopeSchema, type RelativeDateType, type WireTransactionRecord } from './wire.schemas.ts';

/**
 * Transaction Details (`GET /tsapi/v3/transactions`, paged), API-NOTES §5. J.P. Morgan's limits are enforced here: ≤ 10
 * accounts and ≤ 5 days per call, so a request is cut into slices (account chunk × date window) that are fetched one
 * after another.
 */
export const TRANSACTIONS_MAX_RANGE_DAYS = 5;
export const TRANSACTIONS_MAX_ACCOUNTS_PER_CALL = 10;
/** Restarts of one slice's page walk before giving up with a retryable `jpm_unstable_pages`. */
export const DEFAULT_MAX_WALK_RESTARTS = 5;

export type TransactionsWindow = { relativeDateType: RelativeDateType } | { startDate: IsoDate; endDate: IsoDate };
export type TransactionsRequest = TransactionsWindow & { accountIds: readonly string[]; signal?: AbortSignal };

/** One call's worth of a request: ≤ 10 accounts and one ≤ 5-day window (or the relative day). */
export type TransactionSlice = TransactionsWindow & { index: number; accountIds: string[] };

/** A validated v3 page. `walk` identifies the pass over the slice this page belongs to. */
export interface FetchedTransactionPage {
  type: 'page';
  walk: number;
  slice: TransactionSlice;
  pageNumber: number;
  totalPages: number;
  totalRecords: number;
  records: WireTransactionRecord[];
  rejects: Reject[];
  requestId: string;
}

/**
 * `totalRecords` (or `totalPages`) changed mid-walk: the data set shifted under page-number paging
 * (the current day is a growing snapshot), so pages already seen may have skipped or repeated records.
 * The walk starts again from page 1 as walk number `walk`; drop any per-walk state (page counts,
 * "records seen" sets). Records already yielded were real and may be kept (upserts are idempotent).
 */
export interface WalkRestart {
  type: 'restart';
  walk: number;
  slice: TransactionSlice;
  restart: number;
  previousTotalRecords: number;
  totalRecords: number;
}

export type TransactionPageEvent = FetchedTransactionPage | WalkRestart;

const log = createLogger('jpm');

export function slicesOf(req: TransactionsRequest): TransactionSlice[] {
  const accountIds = [...new Set(req.accountIds)];
  if (accountIds.length === 0) {
    throw new ValidationError('accountIds must list at least one account');
  }
  const windows: TransactionsWindow[] =
    'relativeDateType' in req
      ? [{ relativeDateType: req.relativeDateType }]
      : splitRange(
          assertIsoDate(req.startDate, 'startDate'),
          assertIsoDate(req.endDate, 'endDate'),
          TRANSACTIONS_MAX_RANGE_DAYS,
        ).map((w) => ({ startDate: w.from, endDate: w.to }));
  const slices: TransactionSlice[] = [];
  for (let i = 0; i < accountIds.length; i += TRANSACTIONS_MAX_ACCOUNTS_PER_CALL) {
    for (const window of windows) {
      slices.push({
        ...window,
        index: slices.length,
        accountIds: accountIds.slice(i, i + TRANSACTIONS_MAX_ACCOUNTS_PER_CALL),
      });
    }
  }
  return slices;
}

function sliceQuery(slice: TransactionSlice): [string, string][] {
  const query: [string, string][] = [['accountIds', slice.accountIds.join(',')]];
  if ('relativeDateType' in slice) {
    query.push(['relativeDateType', slice.relativeDateType]);
  } else {
    query.push(['startDate', slice.startDate], ['endDate', slice.endDate]);
  }
  return query;
}

async function fetchPage(
  transport: JpmTransport,
  slice: TransactionSlice,
  pageNumber: number,
  signal: AbortSignal | undefined,
) {
  const path = '/tsapi/v3/transactions';
  const result = await transport.call({
    endpoint: 'transactions_v3',
    method: 'GET',
    path,
    query: [...sliceQuery(slice), ['pageNumber', String(pageNumber)]],
    ...(signal ? { signal } : {}),
  });
  const ctx = {
    requestId: result.requestId,
    upstreamStatus: result.status,
    endpoint: `GET ${path}`,
    credentialId: result.credentialId,
  };
  const envelope = parseEnvelope(transactionsV3EnvelopeSchema, result.body, 'transactions page', ctx);
  return { envelope, requestId: result.requestId, rawControls: result.rawControls };
}

/**
 * How many of a page's bank ids (account and `transactionId`) an earlier page of its walk gave, and how many it gives:
 * all of them, the same page served under another page number; some, the pages shifted under the walk (an item
 * inserted on a page already read moves every later record one place on, so one comes on two pages and another on
 * none, whatever the counts say). Adds the page's ids to `ids`. Records without an id (an id of only blanks is none,
 * `hasBankId`) count in neither (identical id-less records are real); an id twice on the same page is one
 * transaction listed twice (`ingest.ts` stores it once): `copies` counts the records past the first of each such id.
 */
function earlierIdsOn(data: readonly unknown[], ids: Set<string>): { again: number; of: number; copies: number } {
  const page = new Set<string>();
  let withId = 0;
  for (const raw of data) {
    const r = (typeof raw === 'object' && raw !== null ? raw : {}) as {
      transactionId?: unknown;
      account?: { accountId?: unknown } | null;
    };
    if (hasBankId(r.transactionId)) {
      withId += 1;
      page.add(`${String(r.account?.accountId)} ${r.transactionId}`);
    }
  }
  const again = [...page].filter((id) => ids.has(id)).length;
  for (const id of page) {
    ids.add(id);
  }
  return { again, of: page.size, copies: withId - page.size };
}

/**
 * Whether a walk's records add up to the bank's `totalRecords`: counted as sent, or with each id the bank listed twice
 * on one page counted once (a bank's count may take the copy or not; either way it is one transaction).
 */
function adds(seen: number, copies: number, totalRecords: number, again = 0): boolean {
  // A record of an earlier page given again on a later one is no proof of completeness unless the distinct records
  // add up exactly: counted as sent, a shifted walk (one record on two pages, another on none) adds up too.
  return again > 0 ? seen - copies - again === totalRecords : seen === totalRecords || seen - copies === totalRecords;
}

/**
 * Walks every page of every slice. Lifecycle: lazy (nothing is fetched until the first `next()`), one
 * call in flight at a time, stops early when the consumer breaks out of its loop; `signal` aborts the
 * call in flight. Throws the typed errors of `errors.ts`; a malformed record is a `Reject` in its
 * page, never a throw.
 */
export async function* transactionPages(
  transport: JpmTransport,
  req: TransactionsRequest,
  maxWalkRestarts = DEFAULT_MAX_WALK_RESTARTS,
): AsyncGenerator<TransactionPageEvent, void, undefined> {
  let walk = 0;
  for (const slice of slicesOf(req)) {
    walk += 1;
    let restarts = 0;
    let expected: { totalRecords: number; totalPages: number } | undefined;
    let seen = 0;
    // Records of the walk that repeat an id earlier on their own page: the bank may count them in totalRecords or not.
    let copies = 0;
    // Records a page gave that an earlier page of the walk gave (pages overlapping, or shifted), and its first page.
    let again = 0;
    let againOn = 0;
    // The bank's ids (account and transactionId) the walk's pages gave: a page of only those is a page served again.
    let ids = new Set<string>();
    for (let pageNumber = 1; ;) {
      const { envelope, requestId, rawControls } = await fetchPage(transport, slice, pageNumber, req.signal);
      const { totalRecords, totalPages } = envelope.pagination;
      if (expected && (expected.totalRecords !== totalRecords || expected.totalPages !== totalPages)) {
        if (restarts >= maxWalkRestarts) {
          throw new JpmUnavailableError(
            `J.P. Morgan's transaction pages kept changing (${restarts} restarts of slice ${slice.index})`,
            'jpm_unstable_pages',
            { requestId, endpoint: 'GET /tsapi/v3/transactions' },
          );
        }
        restarts += 1;
        walk += 1;
        yield {
          type: 'restart',
          walk,
          slice,
          restart: restarts,
          previousTotalRecords: expected.totalRecords,
          totalRecords,
        };
        expected = undefined;
        seen = 0;
        copies = 0;
        again = 0;
        ids = new Set();
        pageNumber = 1;
        continue;
      }
      expected ??= { totalRecords, totalPages };
      // Another page than the one asked for (the bank went back to page 1, or skipped ahead): its records are not
      // this page's, so the walk is no complete answer. Not yielded; walked again below, within the restart budget.
      const misnumbered =
        envelope.pagination.pageNumber === pageNumber
          ? undefined
          : `answered page ${envelope.pagination.pageNumber} when asked for page ${pageNumber}`;
      if (misnumbered === undefined && envelope.data.length === 0 && pageNumber < totalPages) {
        if (adds(seen, copies, totalRecords, again)) {
          // Every record is in and the bank claimed more pages than it has: the walk is done (never 10⁶ empty calls).
          log.warn(
            { slice: slice.index, pageNumber, totalPages },
            'jpm page walk ended at an empty page: all records seen',
          );
          break;
        }
        // An empty page before the records add up: the pagination does not describe the answer.
        throw new JpmUnavailableError(
          `J.P. Morgan's transaction page ${pageNumber} of ${totalPages} is empty with ${seen} of ${totalRecords} records seen (slice ${slice.index})`,
          'jpm_malformed_response',
          { requestId, endpoint: 'GET /tsapi/v3/transactions' },
        );
      }
      let lie = misnumbered;
      if (lie === undefined) {
        const repeated = earlierIdsOn(envelope.data, ids);
        const { records, rejects } = parseTransactionRecords(envelope.data, rawControls);
        seen += envelope.data.length;
        copies += repeated.copies;
        const partly = repeated.again > 0 && repeated.again < repeated.of;
        againOn = partly && again === 0 ? pageNumber : againOn;
        again += partly ? repeated.again : 0;
        // The records are the schema's copies (a reject keeps its own raw): the parsed page is garbage from here,
        // not something the worker's heap carries while the consumer stores the page.
        envelope.data.length = 0;
        yield { type: 'page', walk, slice, pageNumber, totalPages, totalRecords, records, rejects, requestId };
        // Some records of an earlier page again (the pages overlap, or shifted under the walk): judged at the walk's
        // end, complete only when its distinct records add up to totalRecords (a shifted walk misses one).
        lie =
          repeated.again > 0 && repeated.again === repeated.of
            ? `repeated earlier records as page ${pageNumber}`
            : seen - copies - again > totalRecords
              ? `held more records than totalRecords by page ${pageNumber} (${seen - copies - again} of ${totalRecords})`
              : undefined;
      }
      if (lie === undefined && pageNumber < totalPages) {
        pageNumber += 1;
        continue;
      }
      // A walk whose pages overlapped is walked again first (a clean walk proves more: see CurrentDaySnapshot); only a
      // bank whose pages overlap walk after walk has such a walk taken, once it adds up, rather than none.
      if (
        lie === undefined &&
        adds(seen, copies, totalRecords, again) &&
        (again === 0 || restarts >= maxWalkRestarts)
      ) {
        break;
      }
      if (lie === undefined && again > 0) {
        lie = `gave ${again} record${again === 1 ? '' : 's'} of an earlier page again on page ${againOn} (the pages overlapped or shifted)`;
      }
      // The pages did not add up to totalRecords (a short page, a page given again under another number, another
      // page than the one asked for, more records than announced): the walk missed records, so it is no complete
      // answer. Walk again, within the same restart budget; then fail retryably, never succeed with records missing.
      log.warn(
        { slice: slice.index, seen, totalRecords, ...(lie ? { lie } : {}) },
        'jpm page walk saw a different record count than totalRecords, or a page again',
      );
      if (restarts >= maxWalkRestarts) {
        throw new JpmUnavailableError(
          `J.P. Morgan's transaction pages ${lie ?? `held ${seen} of ${totalRecords} records`} (${restarts} restarts of slice ${slice.index})`,
          'jpm_unstable_pages',
          { requestId, endpoint: 'GET /tsapi/v3/transactions' },
        );
      }
      restarts += 1;
      walk += 1;
      yield { type: 'restart', walk, slice, restart: restarts, previousTotalRecords: totalRecords, totalRecords };
      expected = undefined;
      seen = 0;
      copies = 0;
      again = 0;
      ids = new Set();
      pageNumber = 1;
    }
  }
}
