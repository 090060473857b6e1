import type { Request } from 'express';
import { buildProblem, isPoolExhausted, OVERLOAD_RETRY_AFTER_SECONDS } from './errors.ts';
import { requestContext } from './request-context.ts';
import { ReplacedAnswer } from './respond.ts';

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
 * Tries of the audit row of a call that took effect, when no pool connection came free in time (each waits
 * DB_POOL_WAIT_MS for one). A refusal or a failure is tried once: waiting longer would only hold up its answer.
 */
const AUDIT_WRITE_TRIES_DONE = 3;

/**
 * Registers the audit write for an authenticated mutating request. It runs just before the response
 * is written (success, 4xx or 5xx alike), so when a client sees the answer the row exists. The
 * target defaults to the route's `{id}` parameter and the key's organization; handlers refine it with
 * `audit.target(...)` (e.g. the id of what they just created).
 *
 * Under load the pool may have no connection free for the row. A refusal (4xx: nothing was changed) whose row
 * cannot be written is answered 503 `overloaded` with Retry-After instead, so no refusal goes out without its row and
 * the client asks again. A call that took effect keeps its answer (the change is committed): its row is tried again
 * (`AUDIT_WRITE_TRIES_DONE`; a pool timeout never reached the database, so a try again cannot write the row twice)
 * and, if it still cannot be written, its content is logged at error level, to be restored from the log.
 */
export function registerAudit(req: Request, sink: AuditSink, defaults: { targetType: string | undefined }): void {
  const ctx = requestContext(req);
  ctx.beforeSend.push(async (status) => {
    const principal = ctx.principal;
    if (!principal) {
      return;
    }
    const paramId = typeof req.params.id === 'string' ? req.params.id : undefined;
    const entry: AuditEntry = {
      requestId: ctx.requestId,
      apiKeyId: principal.keyId,
      apiKeyPrefix: principal.keyPrefix,
      organizationId: ctx.audit.organizationId !== undefined ? ctx.audit.organizationId : principal.organizationId,
      method: req.method,
      route: ctx.route?.path ?? req.path,
      targetType: ctx.audit.type ?? defaults.targetType ?? null,
      targetId: ctx.audit.id ?? (paramId !== undefined && paramId.length <= 200 ? paramId : null),
      statusCode: status,
    };
    try {
      await recordTrying(sink, entry, status < 400 ? AUDIT_WRITE_TRIES_DONE : 1);
    } catch (err) {
      if (status >= 400 && status < 500) {
        ctx.log.warn({ err, status }, 'audit row of a refused call not written: answered 503 overloaded instead');
        throw new ReplacedAnswer(
          503,
          buildProblem(
            503,
            'overloaded',
            `The service is at capacity; retry after ${OVERLOAD_RETRY_AFTER_SECONDS} seconds.`,
            ctx.requestId,
          ),
          { 'Retry-After': String(OVERLOAD_RETRY_AFTER_SECONDS) },
        );
      }
      ctx.log.error({ err, status, audit: entry }, 'audit row not written');
    }
  });
}

async function recordTrying(sink: AuditSink, entry: AuditEntry, tries: number): Promise<void> {
  for (let tried = 1; ; tried++) {
    try {
      await sink.record(entry);
      return;
    } catch (err) {
      if (tried >= tries || !isPoolExhausted(err)) {
        throw err;
      }
    }
  }
}
