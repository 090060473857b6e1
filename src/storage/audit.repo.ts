import { sql, type RawBuilder, type SelectQueryBuilder } from 'kysely';
import type { Executor } from './db.ts';
import { withPlannerSettings } from './planner-settings.ts';
import { decodeCursor, pageOf, type Page } from './pagination.ts';

export interface NewAuditEntry {
  requestId: string;
  apiKeyId: string | null;
  apiKeyPrefix: string | null;
  organizationId: string | null;
  method: string;
  route: string;
  targetType: string | null;
  targetId: string | null;
  statusCode: number;
}

export interface AuditRow {
  id: string;
  occurred_at: Date;
  request_id: string;
  api_key_id: string | null;
  api_key_prefix: string | null;
  organization_id: string | null;
  method: string;
  route: string;
  target_type: string | null;
  target_id: string | null;
  status_code: number;
}

const COLUMNS = [
  'id',
  'occurred_at',
  'request_id',
  'api_key_id',
  'api_key_prefix',
  'organization_id',
  'method',
  'route',
  'target_type',
  'target_id',
  'status_code',
] as const;

export async function insertAuditEntry(db: Executor, e: NewAuditEntry): Promise<void> {
  await db
    .insertInto('audit_log')
    .values({
      request_id: e.requestId,
      api_key_id: e.apiKeyId,
      api_key_prefix: e.apiKeyPrefix,
      organization_id: e.organizationId,
      method: e.method,
      route: e.route,
      target_type: e.targetType,
      target_id: e.targetId,
      status_code: e.statusCode,
    })
    .execute();
}

export interface AuditFilter {
  organizationId?: string | undefined;
  apiKeyId?: string | undefined;
  targetId?: string | undefined;
  method?: string | undefined;
  route?: string | undefined;
  outcome?: 'success' | 'failure' | undefined;
  from?: Date | undefined;
  to?: Date | undefined;
  cursor?: string | undefined;
  limit: number;
}

/** Rows a time range's page walks, per row of the page, before it reads the range's entries from their index. */
const WALK_PER_ROW = 100;

/** The outcome as the outcome indexes hold it (a literal: `status_code >= $1` would be another operator). */
const FAILED = sql<boolean>`(status_code >= 400)`;

/** The column (or the outcome) a page's walk starts with: its index is the one that starts with it. */
type Lead = 'target_id' | 'api_key_id' | 'organization_id' | 'method' | 'route' | 'failed';

/**
 * Newest first by id (a bigserial, so the key is exact).
 *
 * Without `from`/`to` the page is a walk of one index in page order that stops at the page: a target's, a key's or an
 * organization's entries (the most specific given), with a method, a route or an outcome that organization's (or
 * every organization's) entries of it (`audit_log_…_method_id_idx`, `…_route_id_idx`, `…_failed_id_idx`; with
 * several, one of them, the others checked along it). A target's or a key's log with a refinement is first walked for
 * at most `WALK_PER_ROW` entries per page row; when that comes up short, the page is the refinement's walk checking the
 * target or key. Without these a refinement was checked along the scope's walk: a value no entry has read the scope's
 * whole log.
 *
 * With `from`/`to` the page is first a walk of the log in page order that stops at the page or after
 * `WALK_PER_ROW` entries per page row; when that comes up short, the page is the range's entries read from
 * `audit_log_occurred_at_idx` and sorted (ids follow time only roughly: concurrent calls take theirs out of order,
 * so a range is not an id range). Without it a range walked the log from its newest entry checking each one's time:
 * an old day read every newer entry, and a range with no match the whole log.
 */
export async function listAuditEntries(db: Executor, f: AuditFilter): Promise<Page<AuditRow>> {
  if (f.from === undefined && f.to === undefined) {
    // Sorting off: the page's order names its walk's first column (below), which only its index gives without a sort.
    const rows = await withPlannerSettings(db, { enable_sort: 'off', enable_incremental_sort: 'off' }, async (trx) => {
      const refinement: Lead | undefined =
        f.route !== undefined
          ? 'route'
          : f.method !== undefined
            ? 'method'
            : f.outcome !== undefined
              ? 'failed'
              : undefined;
      const narrow: Lead | undefined =
        f.targetId !== undefined ? 'target_id' : f.apiKeyId !== undefined ? 'api_key_id' : undefined;
      const wide = f.organizationId !== undefined ? 'organization_id' : refinement;
      if (narrow === undefined || refinement === undefined) {
        return indexWalk(trx, f, narrow ?? wide).execute();
      }
      const walked = await indexWalk(trx, f, narrow, WALK_PER_ROW * (f.limit + 1)).execute();
      return walked.length > f.limit ? walked : indexWalk(trx, f, wide).execute();
    });
    return pageOf(rows, f.limit, (r) => [r.id]);
  }
  // Sorting off: without statistics the planner may otherwise read the whole log after the cursor and sort it.
  const walked = await withPlannerSettings(db, { enable_sort: 'off' }, (trx) =>
    walk(trx, f, WALK_PER_ROW * (f.limit + 1)).execute(),
  );
  if (walked.length > f.limit) {
    return pageOf(walked, f.limit, (r) => [r.id]);
  }
  const rows = await withPlannerSettings(db, { enable_seqscan: 'off' }, (trx) => {
    let range = trx.selectFrom('audit_log').selectAll();
    if (f.from !== undefined) {
      range = range.where('occurred_at', '>=', f.from);
    }
    if (f.to !== undefined) {
      range = range.where('occurred_at', '<', f.to);
    }
    // A subquery of its own (OFFSET 0): the range's index, not another filter's, picks the rows.
    return refined(trx.selectFrom(range.offset(0).as('a')).select(COLUMNS), f, true)
      .orderBy('id', 'desc')
      .limit(f.limit + 1)
      .execute();
  });
  return pageOf(rows, f.limit, (r) => [r.id]);
}

/**
 * The log in page order from the cursor along the index that starts with `lead` (the log's own order without one),
 * every filter checked; with `bound`, at most that many entries of the index read. The lead is compared as
 * `= any(array[value])`, no equivalence with a constant, so the page's order keeps it and only an index that starts
 * with it gives that order without a sort: never a wider scope's or another refinement's index checking it, which a
 * never-analyzed table can make look as cheap.
 */
function indexWalk(db: Executor, f: AuditFilter, lead: Lead | undefined, bound?: number) {
  const filters: [Lead, RawBuilder<boolean>, RawBuilder<boolean>][] = [];
  for (const [column, value, type] of [
    ['organization_id', f.organizationId, 'uuid'],
    ['api_key_id', f.apiKeyId, 'uuid'],
    ['target_id', f.targetId, 'text'],
    ['method', f.method, 'text'],
    ['route', f.route, 'text'],
  ] as const) {
    if (value !== undefined) {
      const ref = sql.ref(column);
      filters.push([
        column,
        sql<boolean>`${ref} = ${value}`,
        sql<boolean>`${ref} = any(${[value]}::${sql.raw(type)}[])`,
      ]);
    }
  }
  if (f.outcome !== undefined) {
    const failure = f.outcome === 'failure';
    filters.push([
      'failed',
      failure ? sql<boolean>`${FAILED} is true` : sql<boolean>`${FAILED} is false`,
      sql<boolean>`${FAILED} = any(${[failure]}::boolean[])`,
    ]);
  }
  const leading = filters.find(([name]) => name === lead);
  const rest = filters.filter(([name]) => name !== lead).map(([, check]) => check);
  const cursor = f.cursor === undefined ? undefined : decodeCursor(f.cursor, ['int'])[0];
  let scan = db.selectFrom('audit_log').selectAll();
  if (leading !== undefined) {
    scan = scan.where(leading[2]).orderBy(lead === 'failed' ? FAILED : sql.ref(leading[0]), 'desc');
  }
  if (cursor !== undefined) {
    scan = scan.where('id', '<', cursor);
  }
  scan = scan.orderBy('id', 'desc');
  if (bound === undefined) {
    return rest
      .reduce((q, check) => q.where(check), scan)
      .clearSelect()
      .select(COLUMNS)
      .limit(f.limit + 1);
  }
  // In the walk's order (its lead is one value), so the bounded walk too stops at the page.
  const walked = db.selectFrom(scan.limit(bound).as('a')).select(COLUMNS);
  return rest
    .reduce(
      (q, check) => q.where(check),
      leading === undefined || lead === 'failed' ? walked : walked.orderBy(sql.ref(`a.${leading[0]}`), 'desc'),
    )
    .orderBy('id', 'desc')
    .limit(f.limit + 1);
}

/** The log in page order from the cursor, every filter checked, at most `bound` entries read. */
function walk(db: Executor, f: AuditFilter, bound: number) {
  let log = db.selectFrom('audit_log').selectAll();
  if (f.cursor !== undefined) {
    const [id] = decodeCursor(f.cursor, ['int']);
    log = log.where('id', '<', id);
  }
  return refined(db.selectFrom(log.orderBy('id', 'desc').limit(bound).as('a')).select(COLUMNS), f, false)
    .orderBy('id', 'desc')
    .limit(f.limit + 1);
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
function refined<Q extends SelectQueryBuilder<any, any, any>>(query: Q, f: AuditFilter, withCursor: boolean): Q {
  let q = query;
  if (f.organizationId !== undefined) {
    q = q.where('organization_id', '=', f.organizationId) as Q;
  }
  if (f.apiKeyId !== undefined) {
    q = q.where('api_key_id', '=', f.apiKeyId) as Q;
  }
  if (f.targetId !== undefined) {
    q = q.where('target_id', '=', f.targetId) as Q;
  }
  if (f.method !== undefined) {
    q = q.where('method', '=', f.method) as Q;
  }
  if (f.route !== undefined) {
    q = q.where('route', '=', f.route) as Q;
  }
  if (f.outcome !== undefined) {
    q = q.where('status_code', f.outcome === 'success' ? '<' : '>=', 400) as Q;
  }
  if (f.from !== undefined) {
    q = q.where('occurred_at', '>=', f.from) as Q;
  }
  if (f.to !== undefined) {
    q = q.where('occurred_at', '<', f.to) as Q;
  }
  if (withCursor && f.cursor !== undefined) {
    const [id] = decodeCursor(f.cursor, ['int']);
    q = q.where('id', '<', id) as Q;
  }
  return q;
}
