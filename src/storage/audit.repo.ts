import type { SelectQueryBuilder } from 'kysely';
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

/**
 * Newest first by id (a bigserial, so the key is exact). Organization, key and target read their own indexes in page
 * order; method, route and outcome refine the walk (a value no entry has walks the scope's whole log, as the read
 * API's refinements do).
 *
 * With `from`/`to` the page is first a walk of the log in page order that stops at the page or after
 * `WALK_PER_ROW` entries per page row; when that comes up short, the page is the range's entries read from
 * `audit_log_occurred_at_idx` and sorted (ids follow time only roughly: concurrent calls take theirs out of order,
 * so a range is not an id range). Without it a range walked the log from its newest entry checking each one's time:
 * an old day read every newer entry, and a range with no match the whole log.
 */
export async function listAuditEntries(db: Executor, f: AuditFilter): Promise<Page<AuditRow>> {
  if (f.from === undefined && f.to === undefined) {
    return pageOf(await walk(db, f).execute(), f.limit, (r) => [r.id]);
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

/** The log in page order from the cursor, every filter checked; with `bound`, at most that many entries read. */
function walk(db: Executor, f: AuditFilter, bound?: number) {
  if (bound === undefined) {
    return refined(db.selectFrom('audit_log').select(COLUMNS), f, true)
      .orderBy('id', 'desc')
      .limit(f.limit + 1);
  }
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
