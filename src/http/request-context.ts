import type { Request } from 'express';
import type { Principal } from '../domain/access.ts';
import type { Logger } from '../shared/logger.ts';

/** Called with the final status and body just before a response is written (audit, idempotency). */
export type BeforeSend = (status: number, body: unknown) => Promise<void>;

export interface AuditTarget {
  type?: string | undefined;
  id?: string | undefined;
  organizationId?: string | null | undefined;
}

/**
 * What the middleware chain learns about one request, kept beside it rather than on `req` so it
 * stays typed (no declaration merging into Express). Created by the request-id middleware.
 */
export interface RequestContext {
  requestId: string;
  log: Logger;
  principal?: Principal;
  /** The matched route: its method and OpenAPI-style path template, for audit and metrics labels. */
  route?: { method: string; path: string };
  /** Parsed params, query and body of a registry route (src/http/routes.ts). */
  input?: { params: unknown; query: unknown; body: unknown };
  audit: AuditTarget;
  beforeSend: BeforeSend[];
  /**
   * Set under an `Idempotency-Key` claim (src/http/idempotency.ts): stores the answer through the write's open
   * transaction, so it commits with the write.
   */
  recordAnswer?: (transaction: unknown, status: number, body: unknown) => Promise<void>;
}

const contexts = new WeakMap<object, RequestContext>();

export function setRequestContext(req: Request, ctx: RequestContext): void {
  contexts.set(req, ctx);
}

/** The request's context. Every request passes the request-id middleware first, so it always exists. */
export function requestContext(req: Request): RequestContext {
  const ctx = contexts.get(req);
  if (!ctx) {
    throw new Error('request context missing: the request-id middleware must run first');
  }
  return ctx;
}

export function findRequestContext(req: object): RequestContext | undefined {
  return contexts.get(req);
}
