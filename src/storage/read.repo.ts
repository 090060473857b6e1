import { sql, type CompiledQuery } from 'kysely';
import { encodePgText } from '../shared/pg-text.ts';
import { addDays, diffDays } from '../shared/time.ts';
import type { Executor } from './db.ts';
import { withPlannerSettings } from './planner-settings.ts';

/**
 * Read side of transactions for the read API and the change feed. Explicit column lists only:
 * `raw`, `fingerprint_key`, `content_hash` and `post_code` are ingestion internals and never leave.
 * Every query takes the organization filter as an argument; the caller (read-api) decides it from
 * the API key, so an org-scoped key cannot widen it.
 */
export const TRANSACTION_READ_COLUMNS = [
  't.id',
  't.organization_id',
  't.account_id',
  't.status',
  't.direction',
  't.amount_minor',
  't.currency',
  't.decimal_location',
  't.booking_date',
  't.value_date',
  't.bank_reference',
  't.customer_reference',
  't.bai_type_code',
  't.bai_summary_code',
  't.description',
  't.jpm_transaction_id',
  't.superseded_by',
  't.version',
  't.data_quality',
] as const;

/**
 * An instant as the API writes it (ISO 8601, UTC, milliseconds, truncated as a JS Date would): formatted by
 * Postgres, so a page's rows are not parsed into `Date` objects only to be formatted back (a tenth of the
 * read API's CPU per page).
 */
function isoInstant(column: 't.first_seen_at' | 't.updated_at') {
  return sql<string>`to_char(${sql.ref(column)} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;
}

function buildSelectTransactions(ex: Executor) {
  return (
    ex
      .selectFrom('transactions as t')
      .select(TRANSACTION_READ_COLUMNS)
      .select([isoInstant('t.first_seen_at').as('first_seen_at'), isoInstant('t.updated_at').as('updated_at')])
      // The bank's narrativeText as sent: its own column since it was kept apart; for rows stored before that,
      // read from the raw record (only then, so reads of newer rows never unpack `raw`). As JSON text: the DTO parses
      // it and looks for escaped text in the string, not by walking the parsed object.
      .select(sql<string | null>`coalesce(t.narrative, t.raw->'narrativeText')::text`.as('narrative'))
      // The pending item this posted item replaced (one-to-one, see src/sync/supersede.ts), or null.
      .select((eb) =>
        eb
          .selectFrom('transactions as p')
          .select('p.id')
          .whereRef('p.superseded_by', '=', 't.id')
          .orderBy('p.id')
          .limit(1)
          .as('supersedes'),
      )
  );
}

type TransactionSelect = ReturnType<typeof buildSelectTransactions>;

// Query builders are immutable: the select list is built once per executor, not on every page.
const baseQueries = new WeakMap<Executor, TransactionSelect>();

function selectTransactions(ex: Executor): TransactionSelect {
  let q = baseQueries.get(ex);
  if (q === undefined) {
    q = buildSelectTransactions(ex);
    baseQueries.set(ex, q);
  }
  return q;
}
export type TransactionReadRow = Awaited<ReturnType<TransactionSelect['executeTakeFirstOrThrow']>>;

export interface TransactionFilter {
  /** undefined = every organization (only for keys valid for all organizations). */
  organizationId?: string | undefined;
  accountId?: string | undefined;
  bookingDateFrom?: string | undefined;
  bookingDateTo?: string | undefined;
  valueDateFrom?: string | undefined;
  valueDateTo?: string | undefined;
  statuses?: readonly string[] | undefined;
  direction?: string | undefined;
  currency?: string | undefined;
  /** Decimal text in major units ("1250.00"), compared exactly against each row's own scale. */
  amountMin?: string | undefined;
  amountMax?: string | undefined;
  baiCode?: string | undefined;
  /** Equals the bank reference or the customer reference. */
  reference?: string | undefined;
  /** Case-insensitive substring of the description. */
  text?: string | undefined;
}

export const TRANSACTION_SORTS = ['bookingDate', '-bookingDate', 'firstSeen'] as const;
export type TransactionSort = (typeof TRANSACTION_SORTS)[number];

/** The last row of the previous page in the chosen order: `[booking_date, id]` or `[id]`. */
export interface TransactionKey {
  bookingDate: string;
  id: string;
}

function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (c) => `\\${c}`);
}

const AMOUNT_MAJOR = sql`(t.amount_minor * power(10::numeric, -t.decimal_location))`;

/**
 * One ordered scan of a page read as a merge (see `pageBranches`): a filter, plus for `reference=` which of the two
 * reference columns this scan matches.
 */
type BranchFilter = TransactionFilter & { referenceIn?: 'bank' | 'customer' | undefined };

function applyFilter(q: TransactionSelect, f: BranchFilter): TransactionSelect {
  let out = q;
  if (f.organizationId !== undefined) {
    out = out.where('t.organization_id', '=', f.organizationId);
  }
  if (f.accountId !== undefined) {
    out = out.where('t.account_id', '=', f.accountId);
  }
  if (f.bookingDateFrom !== undefined) {
    out = out.where('t.booking_date', '>=', f.bookingDateFrom);
  }
  if (f.bookingDateTo !== undefined) {
    out = out.where('t.booking_date', '<=', f.bookingDateTo);
  }
  if (f.valueDateFrom !== undefined && f.valueDateFrom === f.valueDateTo) {
    // One value day as an equality: on (value_date, booking_date, id, organization_id) the day is then already in
    // page order and the cursor an index condition.
    out = out.where('t.value_date', '=', f.valueDateFrom);
  } else {
    if (f.valueDateFrom !== undefined) {
      out = out.where('t.value_date', '>=', f.valueDateFrom);
    }
    if (f.valueDateTo !== undefined) {
      out = out.where('t.value_date', '<=', f.valueDateTo);
    }
  }
  if (f.statuses !== undefined && f.statuses.length > 0) {
    out = out.where('t.status', 'in', [...f.statuses]);
  }
  if (f.direction !== undefined) {
    out = out.where('t.direction', '=', f.direction);
  }
  if (f.currency !== undefined) {
    out = out.where('t.currency', '=', f.currency);
  }
  // Exact decimal arithmetic in Postgres (numeric), per row scale: the amount in major units is
  // amount_minor × 10^-decimal_location (exact: a power of ten), so "10.005" against USD cents keeps 10.01 and up.
  // The expression is the one `transactions_amount_org_idx` indexes. No JS number ever holds the amount.
  if (f.amountMin !== undefined) {
    out = out.where(sql<boolean>`${AMOUNT_MAJOR} >= ${f.amountMin}::numeric`);
  }
  if (f.amountMax !== undefined) {
    out = out.where(sql<boolean>`${AMOUNT_MAJOR} <= ${f.amountMax}::numeric`);
  }
  if (f.baiCode !== undefined) {
    out = out.where('t.bai_type_code', '=', f.baiCode);
  }
  if (f.reference !== undefined) {
    // Stored text is escaped (src/shared/pg-text.ts); the length clauses let the partial reference indexes
    // (which skip references over 200 characters) answer it; the API takes at most 200 characters anyway.
    const ref = encodePgText(f.reference);
    const bank = sql<boolean>`t.bank_reference = ${ref} and char_length(t.bank_reference) <= 200`;
    const customer = sql<boolean>`t.customer_reference = ${ref} and char_length(t.customer_reference) <= 200`;
    if (f.referenceIn === 'bank') {
      out = out.where(bank);
    } else if (f.referenceIn === 'customer') {
      // A row whose bank reference is the same text is the bank scan's: each row comes from one scan only.
      out = out.where(customer).where('t.bank_reference', '<>', ref);
    } else {
      // Bracketed whole: `where` adds a raw fragment as it is, and AND binds before OR (unbracketed, a row of the
      // customer reference passed whatever the other conditions said).
      out = out.where(sql<boolean>`((${bank}) or (${customer}))`);
    }
  }
  if (f.text !== undefined) {
    out = out.where('t.description', 'ilike', `%${escapeLike(f.text)}%`);
  }
  return out;
}

/** Rows after the previous page's last row in the chosen order. */
function applyAfter(q: TransactionSelect, sort: TransactionSort, after: TransactionKey | undefined): TransactionSelect {
  if (!after) {
    return q;
  }
  if (sort === 'firstSeen') {
    return q.where('t.id', '>', after.id);
  }
  return q.where(
    sql<boolean>`(t.booking_date, t.id) ${sql.raw(sort === 'bookingDate' ? '>' : '<')} (${after.bookingDate}::date, ${after.id}::uuid)`,
  );
}

function applyOrder(q: TransactionSelect, sort: TransactionSort, after: TransactionKey | undefined): TransactionSelect {
  if (sort === 'firstSeen') {
    return applyAfter(q.orderBy('t.id', 'asc'), sort, after);
  }
  const dir = sort === 'bookingDate' ? 'asc' : 'desc';
  return applyAfter(q.orderBy('t.booking_date', dir).orderBy('t.id', dir), sort, after);
}

/** Value-date ranges up to this many days are read one value day at a time (below). */
const MAX_MERGED_VALUE_DAYS = 31;

/**
 * The value days of a short value-date range in a booking-date order, else undefined. Each day is one ordered range
 * of `(value_date, booking_date, id, organization_id)`, so the page is the first rows of a merge of at most 31
 * short ordered scans; as one range condition it was every row of the range, sorted (seconds for a month), or
 * an ordered walk of the booking dates checking each row's value date.
 */
function mergedValueDays(filter: TransactionFilter, sort: TransactionSort): string[] | undefined {
  const { valueDateFrom: from, valueDateTo: to } = filter;
  if (
    sort === 'firstSeen' ||
    from === undefined ||
    to === undefined ||
    from >= to ||
    diffDays(from, to) >= MAX_MERGED_VALUE_DAYS
  ) {
    return undefined;
  }
  return Array.from({ length: diffDays(from, to) + 1 }, (_, i) => addDays(from, i));
}

type PageRequest = { sort: TransactionSort; after?: TransactionKey | undefined; limit: number };

/**
 * `q=`: the ids whose description may contain the text. Text search is not indexed on `transactions` (its trigram
 * GIN cost more per stored row than the row); `transaction_search` holds each transaction's description with that
 * index, filled after commit by the search step (src/events/search-index.ts), complete up to the step's position.
 * The candidates are its matches plus every transaction with a change event after the position (rows stored or
 * changed since, which the search table may miss or hold in an older version), all read in the statement's one
 * snapshot. The page then checks each candidate's current row, so a stale search row is never trusted and the
 * answer is exact at every moment. What it costs while the step lags: one primary-key lookup per row changed
 * since the position (a backfill's unindexed tail).
 *
 * With no filter but the organization (the search table's own columns), only the page's first `limit + 1` matches in
 * page order are taken from the search table, among the rows NOT changed since the position (their search rows are
 * current, so their order there is their order in `transactions`; the changed ones are candidates anyway). They are
 * found by whichever of two bounded reads fits the text, decided by the data, not by the planner's estimates:
 * - an ordered walk of the search table's booking-date btree from the cursor, checking each row's description, that
 *   stops at the page's matches or after WALK_ROWS_PER_PAGE_ROW × (limit + 1) rows: a common word fills the page in a
 *   few hundred rows (collecting its matches from the trigram index would be all of them, sorted: seconds);
 * - when the walk ends short, the text has shown itself rare: all its matches from the trigram index, sorted (a full
 *   walk would read the whole table for a word that is not there: seconds).
 * With other filters every match is a candidate.
 */
function textCandidates(filter: TransactionFilter & { text: string }, page: PageRequest) {
  const like = `%${escapeLike(filter.text)}%`;
  const org = filter.organizationId;
  // The position as two scalar sub-selects (InitPlans, evaluated once), so the row comparison is an index condition
  // on (xid, id). The xid bounds say nothing new (a visible event's xid is below the snapshot's xmax) but make a
  // range the planner prices as narrow without statistics: alone, "after the position" looks like a third of the
  // table and the planner would rather scan all of it.
  const position = sql`(select p.position_xid from transaction_search_state p where p.id = 1)`;
  const changedSince = sql`
    from change_events e
    where (e.xid, e.id) > (${position}, (select p.position_id from transaction_search_state p where p.id = 1))
      and e.xid >= ${position} and e.xid < pg_snapshot_xmax(pg_current_snapshot())
      ${org === undefined ? sql`` : sql`and e.organization_id = ${org}::uuid`}
      and e.entity = 'transaction'`;
  const matches = sql`
    select s.transaction_id from transaction_search s
    where s.description ilike ${like} ${org === undefined ? sql`` : sql`and s.organization_id = ${org}::uuid`}`;
  const searchOnly = Object.entries(filter).every(
    ([key, value]) => value === undefined || key === 'text' || key === 'organizationId',
  );
  if (!searchOnly) {
    return sql`${matches} union select e.entity_id ${changedSince}`;
  }
  const { after } = page;
  const dir = sql.raw(page.sort === '-bookingDate' ? 'desc' : 'asc');
  const firstSeen = page.sort === 'firstSeen';
  const key = firstSeen ? sql`s.transaction_id ${dir}` : sql`s.booking_date ${dir}, s.transaction_id ${dir}`;
  let cursor = sql``;
  if (after) {
    cursor = firstSeen
      ? sql`and s.transaction_id > ${after.id}::uuid`
      : sql`and (s.booking_date, s.transaction_id) ${sql.raw(page.sort === 'bookingDate' ? '>' : '<')} (${after.bookingDate}::date, ${after.id}::uuid)`;
  }
  // The rows changed since the position come from `transactions` (below); from the search table only the others,
  // whose search rows are current: their first `limit + 1` matches in page order are then enough (constant limits,
  // so the planner prices the page as a page).
  const walkRows = WALK_ROWS_PER_PAGE_ROW * (page.limit + 1);
  const keyOf = (alias: string) =>
    firstSeen
      ? sql`${sql.ref(`${alias}.transaction_id`)} ${dir}`
      : sql`${sql.ref(`${alias}.booking_date`)} ${dir}, ${sql.ref(`${alias}.transaction_id`)} ${dir}`;
  const notChanged = sql`not exists (select 1 from changed c where c.entity_id = s.transaction_id)`;
  return sql`
    with changed as materialized (
      select e.entity_id ${changedSince}
    ), first_matches as materialized (
      select w.transaction_id, w.booking_date from (
        select s.transaction_id, s.booking_date, s.description ilike ${like} as hit from transaction_search s
        where true ${org === undefined ? sql`` : sql`and s.organization_id = ${org}::uuid`} ${cursor}
        order by ${key} limit ${walkRows}
      ) as w
      where w.hit and w.transaction_id not in (select c.entity_id from changed c)
      order by ${keyOf('w')} limit ${page.limit + 1}
    ), all_matches as materialized (
      select s.transaction_id, s.booking_date ${matchesFrom(like, org)} and ${notChanged} ${cursor}
    )
    (select m.transaction_id from (
      select f.transaction_id, f.booking_date from first_matches f
      union
      select a.transaction_id, a.booking_date from all_matches a
        where (select count(*) from first_matches) < ${page.limit + 1}
    ) as m
    order by ${keyOf('m')} limit ${page.limit + 1})
    union
    select c.entity_id from changed c`;
}

/**
 * The ordered walk of a `q=` page reads at most this many search rows per row of the page (10,100 for a page of 100)
 * before it leaves the page to the trigram index. A text in at least one row in 100 there fills the page from the
 * walk; a rarer one has about N/100 matches in a table of N rows at most (unless its matches crowd far from the
 * cursor), which the trigram index finds and a sort orders. 100 balances the two for a table of about a million rows.
 */
const WALK_ROWS_PER_PAGE_ROW = 100;

function matchesFrom(like: string, org: string | undefined) {
  return sql`from transaction_search s
      where s.description ilike ${like} ${org === undefined ? sql`` : sql`and s.organization_id = ${org}::uuid`}`;
}

/**
 * A `q=` page: each candidate's current row by primary key (LATERAL … LIMIT 1: lookups by construction, never
 * a scan of `transactions`), checked against every filter, the text and the cursor; the page's keys are sorted,
 * then only the page's rows get their full select list (`supersedes`, the narrative, the instants).
 */
function textListQuery(ex: Executor, filter: TransactionFilter & { text: string }, page: PageRequest) {
  const keys = applyAfter(applyFilter(selectTransactions(ex), filter), page.sort, page.after)
    .clearSelect()
    .select(['t.id', 't.booking_date'])
    .whereRef('t.id', '=', sql.ref('k.id'))
    .limit(1);
  const dir = sql.raw(page.sort === 'bookingDate' || page.sort === 'firstSeen' ? 'asc' : 'desc');
  const order = (alias: string) =>
    page.sort === 'firstSeen'
      ? sql`${sql.ref(`${alias}.id`)} ${dir}`
      : sql`${sql.ref(`${alias}.booking_date`)} ${dir}, ${sql.ref(`${alias}.id`)} ${dir}`;
  const row = selectTransactions(ex).whereRef('t.id', '=', sql.ref('pg.id')).limit(1);
  return sql<TransactionReadRow>`
    select r.* from (
      select c.id, c.booking_date from (${textCandidates(filter, page)}) as k(id)
      cross join lateral (${keys}) as c
      order by ${order('c')} limit ${page.limit + 1}
    ) as pg cross join lateral (${row}) as r
    order by ${order('r')}`;
}

/**
 * The scans a page is read from, each in page order, merged (at most `limit + 1` rows of each, then the first
 * `limit + 1` of all): one per reference column for `reference=`, one per value day for a short value-date range,
 * else the filter itself. A reference is one equality per column, each on an index that leads with its column, for
 * one organization or all (with indexes led by the organization, a key of every organization read both indexes whole:
 * 1.8 s a page on 1.6M rows); the customer-reference index is in page order after the reference, so a reference that
 * many rows share (a fifth of the benchmark's rows say "NEW") is a page of that index, not all its rows sorted.
 */
function pageBranches(filter: TransactionFilter, sort: TransactionSort): BranchFilter[] {
  if (filter.reference !== undefined) {
    return [
      { ...filter, referenceIn: 'bank' },
      { ...filter, referenceIn: 'customer' },
    ];
  }
  const days = mergedValueDays(filter, sort);
  if (days !== undefined) {
    return days.map((day) => ({ ...filter, valueDateFrom: day, valueDateTo: day }));
  }
  // Removed and pending items together: one ordered scan of each status's partial index in page order, for the
  // organization or for all (a walk of the scope's index checking each row read about 100 rows per row of the page
  // when 1 % of the rows are removed).
  const statuses = [...new Set(filter.statuses ?? [])];
  if (statuses.length > 1 && statuses.every((s) => s === 'removed' || s === 'pending')) {
    return statuses.map((status) => ({ ...filter, statuses: [status] }));
  }
  return [filter];
}

function listQuery(ex: Executor, filter: TransactionFilter, page: PageRequest) {
  const branches = pageBranches(filter, page.sort);
  const scan = (f: BranchFilter) =>
    applyOrder(applyFilter(selectTransactions(ex), f), page.sort, page.after).limit(page.limit + 1);
  if (branches.length === 1) {
    return scan(branches[0]!);
  }
  const perBranch = branches.map((f, i) => ex.selectFrom(scan(f).as(`b${i}`)).selectAll());
  const merged = ex
    .selectFrom(
      perBranch
        .slice(1)
        .reduce((all, b) => all.unionAll(b), perBranch[0]!)
        .as('t'),
    )
    .selectAll();
  if (page.sort === 'firstSeen') {
    return merged.orderBy('t.id', 'asc').limit(page.limit + 1);
  }
  const dir = page.sort === 'bookingDate' ? 'asc' : 'desc';
  return merged
    .orderBy('t.booking_date', dir)
    .orderBy('t.id', dir)
    .limit(page.limit + 1);
}

/**
 * A value-date range in a booking-date order that is not read as a merge of its days (`mergedValueDays`): one bound
 * only, or more than 31 days, with no booking dates (their index bounds the rows a page reads to theirs). With an
 * account, each value day is the account's, from `(account_id, value_date, booking_date, id)`: walking the account's
 * booking dates checking each row's value date read all of its rows before the range (its whole history for a range
 * of last month, oldest first).
 * The value-date index gives each value day in page order, not the range: as one range condition a page read every
 * row of the range and sorted it (a reconciliation walking a quarter read the quarter on every page). Here each value
 * date stored in the range (found one after the other on the index, one descent each, so a range of years or an odd
 * date far off costs the dates there are, not the calendar's days) is one ordered scan of its own from the cursor,
 * stopped after the page's rows that pass the other filters, which are checked outside the scan (OFFSET 0) so no other
 * index can drive it; the page is the first of those. A page reads at most a page and one matching rows a value date.
 */
function valueDaysWalked(filter: TransactionFilter, sort: TransactionSort): boolean {
  const { valueDateFrom: from, valueDateTo: to } = filter;
  return (
    sort !== 'firstSeen' &&
    filter.reference === undefined &&
    filter.bookingDateFrom === undefined &&
    filter.bookingDateTo === undefined &&
    (from !== undefined || to !== undefined) &&
    from !== to &&
    mergedValueDays(filter, sort) === undefined
  );
}

function valueDaysQuery(ex: Executor, filter: TransactionFilter, page: PageRequest) {
  const { valueDateFrom: from, valueDateTo: to, accountId, ...rest } = filter;
  const dir = page.sort === 'bookingDate' ? 'asc' : 'desc';
  // Only the value day (with an account, the account too) and the cursor drive the day's scan:
  // `(value_date, booking_date, id, organization_id)`, or `(account_id, value_date, booking_date, id)`.
  const ofAccount = accountId === undefined ? sql`` : sql`and t.account_id = ${accountId}::uuid`;
  const dayScan = applyAfter(
    ex
      .selectFrom('transactions as t')
      .select(FILTER_COLUMNS)
      .where(sql<boolean>`t.value_date = d.day ${ofAccount}`) as unknown as TransactionSelect,
    page.sort,
    page.after,
  )
    .orderBy('t.booking_date', dir)
    .orderBy('t.id', dir)
    .offset(0);
  const dayPage = filterOver(ex.selectFrom(dayScan.as('t')).select(['t.id', 't.booking_date']), rest)
    .orderBy('t.booking_date', dir)
    .orderBy('t.id', dir)
    .limit(page.limit + 1);
  const order = (alias: string) =>
    sql`${sql.ref(`${alias}.booking_date`)} ${sql.raw(dir)}, ${sql.ref(`${alias}.id`)} ${sql.raw(dir)}`;
  const row = selectTransactions(ex).whereRef('t.id', '=', sql.ref('pg.id')).limit(1);
  // The stored value dates of the range (the account's, with one), each the next one after the last (a loose index
  // scan). As ORDER BY … LIMIT 1, not min(): with an account and both bounds the planner priced min() as an aggregate
  // of all the account's rows of the range (its estimate: one row), and read them all.
  const account = accountId === undefined ? sql`` : sql`and v.account_id = ${accountId}::uuid`;
  const upper = sql`${to === undefined ? sql`` : sql`and v.value_date <= ${to}::date`} ${account}`;
  const first =
    from === undefined ? sql`v.value_date is not null ${upper}` : sql`v.value_date >= ${from}::date ${upper}`;
  return sql<TransactionReadRow>`
    with recursive d(day) as (
      select (select v.value_date from transactions v where ${first} order by v.value_date limit 1)
      union all
      select (select v.value_date from transactions v where v.value_date > d.day ${upper} order by v.value_date limit 1)
        from d where d.day is not null
    )
    select r.* from (
      select k.id, k.booking_date from d
      cross join lateral (${dayPage}) as k
      where d.day is not null
      order by ${order('k')} limit ${page.limit + 1}
    ) as pg cross join lateral (${row}) as r
    order by ${order('r')}`;
}

/**
 * A `currency=` or `baiCode=` page read from the accounts that have the value (`valueAccountsQuery`): any page with one
 * of them that is not read otherwise (a text, a reference, value dates, removed or pending items, a bounded walk all
 * have indexes of their own to drive them, narrower than an account's rows).
 */
function valueAccountsRead(filter: TransactionFilter, sort: TransactionSort): boolean {
  const drivers = filter.text === undefined ? boundedDrivers(filter, sort) : undefined;
  // An account alone in `firstSeen` order is a bounded page whose one way is the account: read here, it is the same
  // walk of the account's own index, and none at all when the account has no row of the value.
  const accountOnly =
    drivers?.length === 1 && drivers[0]!.length === 1 && Object.keys(drivers[0]![0]!).every((k) => k === 'accountId');
  return (
    (filter.currency !== undefined || filter.baiCode !== undefined) &&
    filter.text === undefined &&
    filter.valueDateFrom === undefined &&
    filter.valueDateTo === undefined &&
    statusesWithIndex(filter) === undefined &&
    pageBranches(filter, sort).length === 1 &&
    (drivers === undefined || accountOnly)
  );
}

/** A value in more accounts of the scope than this is read by the scope's walk (below). */
const MAX_VALUE_ACCOUNTS = 8;

/**
 * Change events after the search step's position a page reads per row of the page, at most, to find the accounts of
 * the rows changed since (below); more (a backfill the step has not caught up with yet): the scope's walk.
 */
const LAG_EVENTS_PER_PAGE_ROW = 10;

/**
 * A page refined by a currency or a BAI type code (neither has an index on `transactions`; one would cost every stored
 * row). `transaction_values` says which accounts have a row of each value (filled by the search step after commit,
 * complete up to its position; see search.repo.ts), and the rows changed since the position are looked up through the
 * change feed, in the same snapshot, as `q=` does; so an account with a row of the value is never left out, on the
 * primary or on a standby. Values are only ever added there: an account may be walked for nothing, never skipped.
 * - No account of the scope has the value: the page is empty, read from that table alone (it walked the scope's whole
 *   index, every page: the whole table's for a key of every organization).
 * - Up to MAX_VALUE_ACCOUNTS accounts: one ordered scan of each account's own index in page order (`(account_id,
 *   booking_date, id)` or `(account_id, id)`), checking each row, merged (Merge Append, so each scan reads only as far
 *   as the page needs): a value a few accounts have reads their rows, not the scope's. Each scan's account is a
 *   sub-select of the statement (one slot per account), so the plan is the same whatever the accounts.
 * - More accounts, or more change events since the position than LAG_EVENTS_PER_PAGE_ROW a page row: the walk of the
 *   scope's index as before (a common value fills the page in about a page of rows).
 */
function valueAccountsQuery(ex: Executor, filter: TransactionFilter, page: PageRequest) {
  const limit = page.limit + 1;
  const { organizationId: org, accountId, currency, baiCode } = filter;
  const scope = (alias: string) =>
    sql`${org === undefined ? sql`` : sql`and ${sql.ref(`${alias}.organization_id`)} = ${org}::uuid`} ${
      accountId === undefined ? sql`` : sql`and ${sql.ref(`${alias}.account_id`)} = ${accountId}::uuid`
    }`;
  const fields = [
    ...(currency === undefined ? [] : [['currency', currency] as const]),
    ...(baiCode === undefined ? [] : [['bai_type_code', baiCode] as const]),
  ];
  // Each value's accounts in the scope, up to one more than a page reads (a common value: the walk, without reading all
  // its accounts); with both a currency and a BAI code, the first one's accounts when they are few enough, else the
  // second's, each checked for the other value by primary key.
  const accountsOf = fields.map(
    ([field, value], i) => sql`${sql.raw(`v${i}`)} as materialized (
      select v.organization_id, v.account_id from transaction_values v
      where v.field = ${field} and v.value = ${value} ${scope('v')}
      limit ${sql.lit(MAX_VALUE_ACCOUNTS + 1)})`,
  );
  const few = (i: number) => sql`(select count(*) from ${sql.raw(`v${i}`)}) <= ${sql.lit(MAX_VALUE_ACCOUNTS)}`;
  const stored = fields.map((_, i) => {
    const others = fields
      .filter((_, j) => j !== i)
      .map(
        ([field, value]) => sql`and exists (select 1 from transaction_values o where o.field = ${field}
          and o.value = ${value} and o.organization_id = a.organization_id and o.account_id = a.account_id)`,
      );
    const before = fields.slice(0, i).map((_, j) => sql`and not ${few(j)}`);
    return sql`select a.account_id from ${sql.raw(`v${i}`)} a where ${few(i)} ${sql.join(before, sql` `)}
      ${sql.join(others, sql` `)}`;
  });
  const anyFew = sql`(${sql.join(
    fields.map((_, i) => few(i)),
    sql` or `,
  )})`;
  const lagCap = LAG_EVENTS_PER_PAGE_ROW * limit;
  // As in `textCandidates`: the position as InitPlans, and a redundant upper bound on `xid` that keeps a
  // never-analyzed feed from looking a third matched.
  const position = sql`(select p.position_xid from transaction_search_state p where p.id = 1)`;
  const lagged = sql`
    select e.entity_id from change_events e
    where (e.xid, e.id) > (${position}, (select p.position_id from transaction_search_state p where p.id = 1))
      and e.xid >= ${position} and e.xid < pg_snapshot_xmax(pg_current_snapshot())
      ${org === undefined ? sql`` : sql`and e.organization_id = ${org}::uuid`}
      and e.entity = 'transaction'
    order by e.xid, e.id limit ${sql.lit(lagCap)}`;
  const changedRow = sql`
    select t.account_id from transactions t where t.id = l.entity_id
      ${currency === undefined ? sql`` : sql`and t.currency = ${currency}`}
      ${baiCode === undefined ? sql`` : sql`and t.bai_type_code = ${baiCode}`} ${scope('t')}
    limit 1`;
  const rest: TransactionFilter = { ...filter, organizationId: undefined, accountId: undefined };
  const scan = (f: TransactionFilter) =>
    applyOrder(applyFilter(selectTransactions(ex), f), page.sort, page.after).limit(limit);
  // One ordered scan per slot, its account the slot's element of the list (none, or the walk chosen: it reads nothing).
  const slots = Array.from(
    { length: MAX_VALUE_ACCOUNTS },
    (_, i) => sql`(${scan(rest).where(sql<boolean>`t.account_id = (select c.ids[${sql.lit(i + 1)}] from choice c)`)})`,
  );
  const dir = sql.raw(page.sort === '-bookingDate' ? 'desc' : 'asc');
  const order = (alias: string) =>
    page.sort === 'firstSeen'
      ? sql`${sql.ref(`${alias}.id`)} ${dir}`
      : sql`${sql.ref(`${alias}.booking_date`)} ${dir}, ${sql.ref(`${alias}.id`)} ${dir}`;
  // The present accounts are a list only when the accounts of a value are few and the rows changed since the position
  // are all read (a one-time filter each: with many, neither the list nor the lookups are made); else the walk.
  return sql<TransactionReadRow>`
    with ${sql.join(accountsOf, sql`, `)},
    lagged as materialized (select l.entity_id from (${lagged}) as l where ${anyFew}),
    present as materialized (
      select case when (select count(*) from lagged) < ${sql.lit(lagCap)} and ${anyFew}
        then (select coalesce(array_agg(x.account_id), '{}') from (
          ${sql.join(stored, sql` union `)}
          union
          select c.account_id from lagged l cross join lateral (${changedRow}) as c) as x)
        end as ids
    ), choice as materialized (
      select w.walk, case when not w.walk then p.ids end as ids
      from present p, lateral (select p.ids is null or cardinality(p.ids) > ${sql.lit(MAX_VALUE_ACCOUNTS)} as walk) as w
    )
    select k.* from (
      ${sql.join(slots, sql` union all `)}
      union all
      (${scan(filter).where(sql<boolean>`(select c.walk from choice c)`)})
    ) as k
    order by ${order('k')} limit ${limit}`;
}

/**
 * Planner settings that make a page's plan the one its filters call for, whatever the planner estimates (undefined:
 * none needed). Without statistics the planner takes each equality for 0.5 % of the rows and a range for 0.5 % too.
 *
 * - Refinements without an index of their own (status, direction, currency, BAI code) within a scope that has one in
 *   page order (organization, account, booking dates, or the whole table for a key of every organization): the walk
 *   of the scope's index in page order, checking each row, that stops at the page; planned without sorts, so it
 *   cannot be anything else. Taking an organization's posted rows for a handful, the planner sorted all of the
 *   organization's rows instead (2-4 s a page on 420k rows of one organization); for a key of every organization it
 *   did so from the second page on (the cursor's range looks like a third of the table): every row of the table
 *   sorted, 420-810 ms a page at 400k-1M rows. In `firstSeen` order the organization, the whole table and an account
 *   have an index in that order (an account's or a booking-date range's pages there are bounded walks, see
 *   `boundedDrivers`; an account's walk is of its own index). `status=removed` and `status=pending` have partial
 *   indexes of their own in each order, for one organization or all (few rows each): the walk is then of those, and
 *   reads only that status's rows of the organization.
 *
 * Pages with an amount are bounded walks; with a reference, a value date or a text they are answered by those indexes
 * as they are (a reference in `firstSeen` order by a bounded walk). JIT is off for these
 * pages: a plan priced with a setting off (the `supersedes` lookup without plain index scans, say) crosses
 * jit_above_cost, and compiling took 700 ms for a page that runs in 1 ms.
 */
function plannerSettings(filter: TransactionFilter, sort: TransactionSort): Record<string, 'off'> | undefined {
  if (filter.reference !== undefined || filter.text !== undefined) {
    return undefined;
  }
  const refined =
    (filter.statuses?.length ?? 0) > 0 ||
    filter.direction !== undefined ||
    filter.currency !== undefined ||
    filter.baiCode !== undefined;
  const narrowed =
    filter.accountId !== undefined || filter.bookingDateFrom !== undefined || filter.bookingDateTo !== undefined;
  // Value dates are read by their own index (one day, the days of a short range merged, see `valueDaysWalked` for the
  // rest; with an account, the account's value days), except a range with booking dates: that is one more condition
  // checked along their index (their rows read whole and sorted, before).
  const { valueDateFrom: from, valueDateTo: to } = filter;
  if (
    (from !== undefined || to !== undefined) &&
    (!narrowed || from === to || mergedValueDays(filter, sort) !== undefined)
  ) {
    return undefined;
  }
  const ordered = sort !== 'firstSeen' || !narrowed;
  // A scope alone too: an organization's or an account's page after a cursor, or a booking-date range with one bound,
  // looks like a third of the scope's rows (an inequality without statistics), and the planner read them all (an
  // account's 2,000 rows even for its first page) and sorted them for the page.
  const scoped = filter.organizationId !== undefined || narrowed;
  return (refined || scoped) && ordered ? { enable_sort: 'off', jit: 'off' } : undefined;
}

/**
 * The statuses of a filter whose every status is one with partial indexes of its own in each page order, for one
 * organization or all: `removed` or `pending` (few rows by their nature), else undefined.
 */
function statusesWithIndex(filter: TransactionFilter): ('removed' | 'pending')[] | undefined {
  const statuses = [...new Set(filter.statuses ?? [])];
  return statuses.length > 0 && statuses.every((s) => s === 'removed' || s === 'pending') ? statuses : undefined;
}

/**
 * Pages read as a bounded walk (`boundedListQueries`): the filter whose own index does not give the page order, and the
 * ways its fallback may read its matches, each the conditions that drive it (an index that leads with them) per
 * branch of the page; else undefined.
 * - An amount, one bound or two: a common amount (`amountMin=1000.00`, a wide range) is a short walk; a rare one is the
 *   amount index's few matches. Read from the amount index alone, a wide range was every match sorted; one bound alone
 *   was left to the planner, which walked the whole table for a rare one.
 * - A reference in `firstSeen` order: the reference indexes are in booking-date order, so a reference many rows share
 *   ("NEW") was all its rows sorted (1.5-3.4 s a page on 420k rows without statistics).
 * - An account or a booking-date range in `firstSeen` order (with refinements or not): read from the account or
 *   booking-date indexes, their rows were read whole and sorted. An account's walk is of its own index in id order
 *   (`(account_id, id)`); a booking-date range has none and walks its organization's.
 * With more than one of an account, an amount and a booking-date range, each is a way to read the fallback's matches
 * (in a booking-date order too), and the page takes the narrowest (see `boundedListQueries`): taken in a fixed order, a
 * wide amount with one booking day in `firstSeen` order read every row of the amount range (310k rows and buffers
 * for a page of a 300k-row table), an account with a rare amount all the account's rows.
 */
function boundedDrivers(filter: TransactionFilter, sort: TransactionSort): BranchFilter[][] | undefined {
  const firstSeen = sort === 'firstSeen';
  const { valueDateFrom, valueDateTo } = filter;
  // A value-date range in `firstSeen` order (not one value day, whose rows are read whole and sorted) is a way of its
  // own, its index led by the value date: as a filter on its own, every row of the range was read and sorted, each page.
  const valueDates = valueDateFrom !== undefined || valueDateTo !== undefined;
  const valueWay = valueDates && firstSeen && filter.reference === undefined && valueDateFrom !== valueDateTo;
  if (filter.text !== undefined || (valueDates && !valueWay)) {
    return undefined;
  }
  if (filter.reference !== undefined) {
    // The reference's rows of the booking dates and the account, each reference index bounded by them (booking dates
    // follow the reference in each; `(account_id, customer_reference, …)` for an account): with the reference alone, a
    // range of days or an account that the walk did not reach read every row of the reference and sorted them.
    const { accountId, bookingDateFrom, bookingDateTo } = filter;
    const within = { accountId, bookingDateFrom, bookingDateTo };
    return firstSeen
      ? [
          [
            { reference: filter.reference, referenceIn: 'bank', ...within },
            { reference: filter.reference, referenceIn: 'customer', ...within },
          ],
        ]
      : undefined;
  }
  const amount = filter.amountMin !== undefined || filter.amountMax !== undefined;
  if (!amount && !firstSeen) {
    return undefined;
  }
  const ways: BranchFilter[][] = [];
  // An account with value dates is one way, `(account_id, value_date, …)`: the account's rows of the range. Apart, each
  // was read whole (all the account's rows, or every organization's rows of the range) when it was the fewer.
  const accountValueWay = filter.accountId !== undefined && valueWay;
  if (accountValueWay) {
    ways.push([{ accountId: filter.accountId, valueDateFrom, valueDateTo }]);
  } else if (filter.accountId !== undefined) {
    ways.push([{ accountId: filter.accountId }]);
  }
  if (amount) {
    ways.push([{ amountMin: filter.amountMin, amountMax: filter.amountMax }]);
  }
  if (filter.bookingDateFrom !== undefined || filter.bookingDateTo !== undefined) {
    ways.push([{ bookingDateFrom: filter.bookingDateFrom, bookingDateTo: filter.bookingDateTo }]);
  }
  if (valueWay && !accountValueWay) {
    ways.push([{ valueDateFrom, valueDateTo }]);
  }
  if (ways.length === 0) {
    return undefined;
  }
  // Removed or pending items only: their partial indexes are a way too, counted first (they hold few rows); both
  // statuses, one scan of each index (its matches the two scans' together).
  const own = statusesWithIndex(filter);
  return own === undefined ? ways : [own.map((status) => ({ statuses: [status] })), ...ways];
}

/** Rounds of counting the ways of a bounded page's fallback (see `boundedListQueries`): caps of 1, 2, 4 … 128 walks. */
const COUNT_ROUNDS = 8;

/** What a filter reads of a row (the walk's rows are checked against the whole filter outside its LIMIT). */
const FILTER_COLUMNS = [
  't.id',
  't.organization_id',
  't.account_id',
  't.status',
  't.direction',
  't.amount_minor',
  't.currency',
  't.decimal_location',
  't.booking_date',
  't.value_date',
  't.bank_reference',
  't.customer_reference',
  't.bai_type_code',
  't.description',
] as const;

/**
 * The filter over a subquery aliased `t` that selects FILTER_COLUMNS: the same conditions as on the table, outside
 * the subquery's LIMIT or OFFSET, so they are checked on its rows and never choose its index.
 */
function filterOver<Q>(q: Q, f: BranchFilter): Q {
  return applyFilter(q as unknown as TransactionSelect, f) as unknown as Q;
}

/**
 * A page whose filter has no index in page order (see `boundedDrivers`), found by whichever of two bounded reads fits
 * the data, decided by the rows found, not by the planner's estimates (as `q=` does):
 * - the ordered walk of the page order's index for the scope that has one (the organization, or the whole table; in
 *   `firstSeen` order an account's own rows, unless the filter is removed or pending items only; in a booking-date
 *   order also an account or a booking-date range) from the cursor, checking each row against the whole filter, that
 *   stops after WALK_ROWS_PER_PAGE_ROW × (limit + 1) rows: a common value fills the page there (a small account among
 *   large ones too, its walk being its own rows);
 * - when the walk finds fewer than a page, the value has shown itself rare: all its matches read from the index led by
 *   the driving conditions, checked against the rest of the filter and sorted. The driving conditions alone are
 *   inside an OFFSET 0 (the rest cannot choose the index), and sequential scans are off for the statement: one bound
 *   of an amount is priced as a third of the table. With more than one way to drive it (an account, an amount, booking
 *   dates), each way's matches are counted first (the first way's up to as many rows as the walk reads, each next
 *   one's up to the fewest before it; while every way reaches the cap, again up to twice as many, up to 128 walks) and
 *   the fewest are read (on a tie the first of account, amount, booking dates). This is a statement of its own (the
 *   `fallback`), sent only when the walk (the `walk`) came up short, and it alone answers the page.
 * Only the page's rows then get their full select list, by primary key.
 */
function boundedListQueries(ex: Executor, filter: TransactionFilter, page: PageRequest, ways: BranchFilter[][]) {
  const limit = page.limit + 1;
  const walkRows = WALK_ROWS_PER_PAGE_ROW * limit;
  const base = ex.selectFrom('transactions as t').select(FILTER_COLUMNS);
  // Removed or pending items only: the walk is of their own partial indexes in page order (the scope with the status);
  // both statuses, the first rows of each status's walk, merged.
  const statuses = statusesWithIndex(filter);
  // In `firstSeen` order an account's walk is of its own rows (`transactions_account_id_idx`), else the organization's:
  // the account alone, not with the organization (a never-analyzed planner could walk the organization's index checking
  // the account); the organization is still checked on every walked row (`filterOver` with the whole filter). Removed
  // or pending items only keep the organization's partial indexes (none is led by the account).
  const scope: TransactionFilter =
    page.sort === 'firstSeen'
      ? filter.accountId !== undefined && statuses === undefined
        ? { accountId: filter.accountId }
        : { organizationId: filter.organizationId }
      : {
          organizationId: filter.organizationId,
          accountId: filter.accountId,
          bookingDateFrom: filter.bookingDateFrom,
          bookingDateTo: filter.bookingDateTo,
        };
  const ordered = <Q>(q: Q) => applyOrder(q as unknown as TransactionSelect, page.sort, page.after) as unknown as Q;
  const walkOf = (status: 'removed' | 'pending' | undefined) => {
    const inScope = applyFilter(
      base as unknown as TransactionSelect,
      status === undefined ? scope : { ...scope, statuses: [status] },
    ) as unknown as typeof base;
    return ordered(inScope).limit(walkRows);
  };
  const perStatus = (statuses ?? [undefined]).map((status, i) => ex.selectFrom(walkOf(status).as(`w${i}`)).selectAll());
  const walk =
    perStatus.length === 1
      ? walkOf(statuses?.[0])
      : ordered(
          ex
            .selectFrom(
              perStatus
                .slice(1)
                .reduce((all, w) => all.unionAll(w), perStatus[0]!)
                .as('t'),
            )
            .select(FILTER_COLUMNS) as unknown as typeof base,
        ).limit(walkRows);
  const walked = ordered(filterOver(ex.selectFrom(walk.as('t')).select(['t.id', 't.booking_date']), filter)).limit(
    limit,
  );
  const branches =
    filter.reference !== undefined
      ? [
          { ...filter, referenceIn: 'bank' as const },
          { ...filter, referenceIn: 'customer' as const },
        ]
      : [filter];
  // A reference, booking dates or a status are driven with the organization (their organization-led indexes): a scoped
  // key reads its own matches, not every organization's. An amount or an account is not: an index led by the
  // organization would win without statistics and read all its rows.
  const driverOf = (own: BranchFilter): BranchFilter => {
    const withOrg =
      own.reference !== undefined ||
      own.bookingDateFrom !== undefined ||
      own.bookingDateTo !== undefined ||
      own.statuses !== undefined;
    return withOrg ? { ...own, organizationId: filter.organizationId } : own;
  };
  const driven = (own: BranchFilter) =>
    applyFilter(base as unknown as TransactionSelect, driverOf(own)) as unknown as typeof base;
  // Each way's scans: a reference's two columns, each with its branch; two statuses, one scan of each.
  const found = ways.map((drivers) =>
    Array.from({ length: Math.max(drivers.length, branches.length) }, (_, i) => {
      const f = branches[i] ?? branches[0]!;
      const rows = driven(drivers[i] ?? drivers[0]!).offset(0);
      return sql`select a.id, a.booking_date
          from (${applyAfter(filterOver(ex.selectFrom(rows.as('t')).select(['t.id', 't.booking_date']), f) as unknown as TransactionSelect, page.sort, page.after)}) as a`;
    }),
  );
  const dir = sql.raw(page.sort === '-bookingDate' ? 'desc' : 'asc');
  const order = (alias: string) =>
    page.sort === 'firstSeen'
      ? sql`${sql.ref(`${alias}.id`)} ${dir}`
      : sql`${sql.ref(`${alias}.booking_date`)} ${dir}, ${sql.ref(`${alias}.id`)} ${dir}`;
  const row = selectTransactions(ex).whereRef('t.id', '=', sql.ref('pg.id')).limit(1);
  // The way to read, when there is a choice: the fewest matches of its driving conditions, counted in rounds. The first
  // round counts each way up to the walk's length, each next way only up to the fewest counted before it (fewer is all
  // that can change the choice); while every way reached the round's cap (all tied), the next round counts them again
  // up to twice as many, for COUNT_ROUNDS rounds at most (128 walks' length). So a way is counted to about twice the
  // fewest matches at most: with a single cap, a wide amount and a booking day of more rows than the walk were both
  // "a walk's length", the tie kept the amount, and the page read every row of the amount range. The choice is by the
  // counts of the rounds in order (a round that did not run counts 0 for every way), then account, amount, booking
  // dates. Only sent when the walk came up short.
  const cte = (r: number, k: number) => sql.raw(`c${r}_${k}`);
  // Each count as a scalar sub-select (not a join of the counts: planning their join orders took milliseconds).
  const n = (r: number, k: number) => sql`(select ${cte(r, k)}.n from ${cte(r, k)})`;
  const counted = Array.from({ length: COUNT_ROUNDS }, (_, r) =>
    ways.map((drivers, k) => {
      const cap = sql.lit(walkRows * 2 ** r);
      const earlier = ways.slice(0, k).map((_, j) => n(r, j));
      const saturated =
        r > 0
          ? sql`least(${sql.join(ways.map((_, j) => n(r - 1, j)))}) = ${sql.lit(walkRows * 2 ** (r - 1))}`
          : sql`true`;
      const upTo = sql`(select case when ${saturated} then least(${sql.join([cap, ...earlier])}) else 0 end)`;
      const scans =
        drivers.length === 1
          ? driven(drivers[0]!)
          : sql`${sql.join(
              drivers.map((d) => sql`(${driven(d)})`),
              sql` union all `,
            )}`;
      return sql`${cte(r, k)} as materialized (select count(*) as n
          from (select 1 from (${scans}) as u limit ${upTo}) as x)`;
    }),
  ).flat();
  const rounds = Array.from({ length: COUNT_ROUNDS }, (_, r) => sql.raw(`n${r}`));
  const choices = ways.map((_, k) => sql`(${sql.lit(k)}, ${sql.join(rounds.map((_, r) => n(r, k)))})`);
  const choice =
    ways.length > 1
      ? sql`with ${sql.join(counted, sql`, `)}, choice as materialized (
      select v.k from (values ${sql.join(choices)}) as v(k, ${sql.join(rounds)})
        order by ${sql.join(rounds.map((n) => sql`v.${n}`))}, v.k limit 1)`
      : sql``;
  // With a choice, each way's read behind a one-time filter on it: only the chosen way's scans run.
  const fallbacks = found.map(
    (scans, k) => sql`
        select b.id, b.booking_date from (${sql.join(scans, sql` union all `)}) as b${ways.length > 1 ? sql` where (select c.k from choice c) = ${sql.lit(k)}` : sql``}`,
  );
  const walkPage = sql<TransactionReadRow>`
    select r.* from (${walked}) as pg cross join lateral (${row}) as r
    order by ${order('r')}`;
  const fallback = sql<TransactionReadRow>`
    ${choice}
    select r.* from (
      select m.id, m.booking_date from (${sql.join(fallbacks, sql` union all `)}) as m
      order by ${order('m')} limit ${limit}
    ) as pg cross join lateral (${row}) as r
    order by ${order('r')}`;
  return { walk: walkPage, fallback, limit };
}

/**
 * A bounded page (see `boundedListQueries`): the walk, and only when it comes up short the counts and the fallback, a
 * second statement. As one statement, every page planned all the counts (8 rounds per way) and the fallback, even
 * when the walk filled it.
 */
async function boundedList(
  ex: Executor,
  filter: TransactionFilter,
  page: PageRequest,
  ways: BranchFilter[][],
): Promise<TransactionReadRow[]> {
  const { walk, fallback, limit } = boundedListQueries(ex, filter, page, ways);
  const rows = (await walk.execute(ex)).rows;
  return rows.length < limit ? (await fallback.execute(ex)).rows : rows;
}

/** One page (`limit` rows, plus one to tell whether another page follows). */
export async function listTransactions(
  ex: Executor,
  filter: TransactionFilter,
  page: PageRequest,
): Promise<TransactionReadRow[]> {
  const { text } = filter;
  if (text !== undefined) {
    // Without JIT: the page's plan prices the trigram fallback (every match, sorted) that runs only for a rare text,
    // and with statistics on a common word that price alone crossed jit_above_cost: 30-40 ms of compiling for a
    // page that reads a few hundred rows (hundreds of ms with inlining).
    return withPlannerSettings(
      ex,
      { jit: 'off' },
      async (trx) => (await textListQuery(trx, { ...filter, text }, page).execute(trx)).rows,
    );
  }
  if (valueAccountsRead(filter, page.sort)) {
    // Without sorts: each account's scan and the walk are ordered index scans that stop at the page, merged.
    return withPlannerSettings(
      ex,
      { enable_sort: 'off', jit: 'off' },
      async (trx) => (await valueAccountsQuery(trx, filter, page).execute(trx)).rows,
    );
  }
  const drivers = boundedDrivers(filter, page.sort);
  if (drivers !== undefined) {
    return withPlannerSettings(ex, { enable_seqscan: 'off', enable_bitmapscan: 'off', jit: 'off' }, (trx) =>
      boundedList(trx, filter, page, drivers),
    );
  }
  if (valueDaysWalked(filter, page.sort)) {
    // Each day's scan is planned for all of the day's rows (its LIMIT is outside, after the other filters): without
    // bitmap scans and sorts it is the ordered index scan that stops at the page. Without JIT: the plan prices a scan
    // for each of the recursive list's assumed days.
    return withPlannerSettings(
      ex,
      { enable_bitmapscan: 'off', enable_sort: 'off', jit: 'off' },
      async (trx) => (await valueDaysQuery(trx, filter, page).execute(trx)).rows,
    );
  }
  const settings = plannerSettings(filter, page.sort);
  if (settings !== undefined) {
    return withPlannerSettings(ex, settings, (trx) => listQuery(trx, filter, page).execute());
  }
  return listQuery(ex, filter, page).execute();
}

/** The same query, compiled, for EXPLAIN checks in tests (of a bounded page, its walk). */
export function compileListTransactions(ex: Executor, filter: TransactionFilter, page: PageRequest): CompiledQuery {
  const { text } = filter;
  if (text !== undefined) {
    return textListQuery(ex, { ...filter, text }, page).compile(ex);
  }
  if (valueAccountsRead(filter, page.sort)) {
    return valueAccountsQuery(ex, filter, page).compile(ex);
  }
  const drivers = boundedDrivers(filter, page.sort);
  if (drivers !== undefined) {
    return boundedListQueries(ex, filter, page, drivers).walk.compile(ex);
  }
  if (valueDaysWalked(filter, page.sort)) {
    return valueDaysQuery(ex, filter, page).compile(ex);
  }
  return listQuery(ex, filter, page).compile();
}

/**
 * A bounded page's fallback (see `boundedListQueries`), compiled, for EXPLAIN checks in tests: it is sent only when the
 * walk comes up short, so a page its walk fills never shows it. Undefined when the page is not a bounded one.
 */
export function compileBoundedFallback(
  ex: Executor,
  filter: TransactionFilter,
  page: PageRequest,
): CompiledQuery | undefined {
  const drivers =
    filter.text === undefined && !valueAccountsRead(filter, page.sort) ? boundedDrivers(filter, page.sort) : undefined;
  return drivers === undefined ? undefined : boundedListQueries(ex, filter, page, drivers).fallback.compile(ex);
}

export async function getTransaction(ex: Executor, id: string): Promise<TransactionReadRow | undefined> {
  return selectTransactions(ex).where('t.id', '=', id).executeTakeFirst();
}

/**
 * Rows by id (a change-feed page's transactions; ids must be distinct). One primary-key lookup per id by
 * construction: the LIMIT keeps the lateral subquery from being flattened into a join, so the planner cannot
 * trade the lookups for a scan of the table, which it would do for a long `id in (…)` list when statistics
 * are missing or the table is small.
 */
export async function getTransactionsByIds(ex: Executor, ids: readonly string[]): Promise<TransactionReadRow[]> {
  if (ids.length === 0) {
    return [];
  }
  const row = selectTransactions(ex).whereRef('t.id', '=', sql.ref('k.id')).limit(1);
  const result = await sql<TransactionReadRow>`
    select r.* from unnest(${[...ids]}::uuid[]) as k(id) cross join lateral (${row}) as r`.execute(ex);
  return result.rows;
}

/**
 * Earlier versions of a transaction, oldest first. `previous` holds the whole former row as jsonb;
 * only client-visible fields are extracted, as text (`->>`), so the bigint amount never passes
 * through a JS number.
 */
export async function listTransactionVersions(ex: Executor, transactionId: string) {
  return ex
    .selectFrom('transaction_versions as v')
    .select([
      'v.version',
      'v.reason',
      'v.changed_fields',
      'v.sync_run_id',
      'v.changed_at',
      sql<string>`v.previous->>'status'`.as('status'),
      sql<string>`v.previous->>'direction'`.as('direction'),
      sql<string>`v.previous->>'amount_minor'`.as('amount_minor'),
      sql<string>`v.previous->>'currency'`.as('currency'),
      sql<string>`v.previous->>'decimal_location'`.as('decimal_location'),
      sql<string>`v.previous->>'booking_date'`.as('booking_date'),
      sql<string | null>`v.previous->>'value_date'`.as('value_date'),
      sql<string>`v.previous->>'bank_reference'`.as('bank_reference'),
      sql<string>`v.previous->>'customer_reference'`.as('customer_reference'),
      sql<string | null>`v.previous->>'bai_type_code'`.as('bai_type_code'),
      sql<string>`v.previous->>'description'`.as('description'),
      sql<string>`v.previous->>'jpm_transaction_id'`.as('jpm_transaction_id'),
    ])
    .where('v.transaction_id', '=', transactionId)
    .orderBy('v.version', 'asc')
    .execute();
}

export type TransactionVersionRow = Awaited<ReturnType<typeof listTransactionVersions>>[number];

/** Decisions about this row or naming it as the related row ("why is this here, where did that go"). */
export async function listTransactionDecisions(ex: Executor, transactionId: string) {
  return ex
    .selectFrom('transaction_decisions as d')
    .select([
      'd.id',
      'd.transaction_id',
      'd.related_transaction_id',
      'd.decision',
      'd.rule',
      'd.evidence',
      'd.sync_run_id',
      'd.created_at',
    ])
    .where((eb) =>
      eb.or([eb('d.transaction_id', '=', transactionId), eb('d.related_transaction_id', '=', transactionId)]),
    )
    .orderBy('d.id', 'asc')
    .execute();
}

export type TransactionDecisionRow = Awaited<ReturnType<typeof listTransactionDecisions>>[number];
