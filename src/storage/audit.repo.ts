import type { Executor } from './db.ts';
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

/** Newest first by id (a bigserial, so the key is exact). */
export async function listAuditEntries(db: Executor, f: AuditFilter): Promise<Page<AuditRow>> {
  let q = db
    .selectFrom('audit_log')
    .select(COLUMNS)
    .orderBy('id', 'desc')
    .limit(f.limit + 1);
  if (f.organizationId !== undefined) {
    q = q.where('organization_id', '=', f.organizationId);
  }
  if (f.apiKeyId !== undefined) {
    q = q.where('api_key_id', '=', f.apiKeyId);
  }
  if (f.targetId !== undefined) {
    q = q.where('target_id', '=', f.targetId);
  }
  if (f.method !== undefined) {
    q = q.where('method', '=', f.method);
  }
  if (f.route !== undefined) {
    q = q.where('route', '=', f.route);
  }
  if (f.outcome !== undefined) {
    q = q.where('status_code', f.outcome === 'success' ? '<' : '>=', 400);
  }
  if (f.from !== undefined) {
    q = q.where('occurred_at', '>=', f.from);
  }
  if (f.to !== undefined) {
    q = q.where('occurred_at', '<', f.to);
  }
  if (f.cursor !== undefined) {
    const [id] = decodeCursor(f.cursor, ['int']);
    q = q.where('id', '<', id);
  }
  return pageOf(await q.execute(), f.limit, (r) => [r.id]);
}
