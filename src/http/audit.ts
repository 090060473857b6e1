import type { Request } from 'express';
import { requestContext } from './request-context.ts';

/** One audit row: who (key), what (method + route template), target, organization, request id, outcome. */
export interface AuditEntry {
  requestId: string;
  apiKeyId: string;
  apiKeyPrefix: string;
  organizationId: string | null;
  method: string;
  route: string;
  targetType: string | null;
  targetId: string | null;
  statusCode: number;
}

/** Where audit entries go; main/ wires it to src/storage/audit.repo.ts. */
export interface AuditSink {
  record(entry: AuditEntry): Promise<void>;
}

/**
 * Registers the audit write for an authenticated mutating request. It runs just before the response
 * is written (success, 4xx or 5xx alike), so when a client sees the answer the row exists. The
 * target defaults to the route's `{id}` parameter and the key's organization; handlers refine it with
 * `audit.target(...)` (e.g. the id of what they just created).
 */
export function registerAudit(req: Request, sink: AuditSink, defaults: { targetType: string | undefined }): void {
  const ctx = requestContext(req);
  ctx.beforeSend.push(async (status) => {
    const principal = ctx.principal;
    if (!principal) {
      return;
    }
    const paramId = typeof req.params.id === 'string' ? req.params.id : undefined;
    await sink.record({
      requestId: ctx.requestId,
      apiKeyId: principal.keyId,
      apiKeyPrefix: principal.keyPrefix,
      organizationId: ctx.audit.organizationId !== undefined ? ctx.audit.organizationId : principal.organizationId,
      method: req.method,
      route: ctx.route?.path ?? req.path,
      targetType: ctx.audit.type ?? defaults.targetType ?? null,
      targetId: ctx.audit.id ?? (paramId !== undefined && paramId.length <= 200 ? paramId : null),
      statusCode: status,
    });
  });
}
