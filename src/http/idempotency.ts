import { createHash } from 'node:crypto';
import type { RequestHandler } from 'express';
import { AppError, ConflictError, ValidationError } from '../shared/errors.ts';
import { requestContext } from './request-context.ts';
import { sendJson } from './respond.ts';

/**
 * `Idempotency-Key` on POST, as Stripe does it. The key is scoped to the API key that sent it.
 *  - first use: the request runs; its response (2xx or 4xx) is stored for 24 h;
 *  - same key, same method + path + body: the stored response is replayed with `Idempotent-Replayed: true`;
 *  - same key, different request: 422 `idempotency_key_reused`;
 *  - same key while the first request is still running: 409 `idempotency_request_in_progress`.
 * A 5xx is not stored: the key is released so the client's retry runs again (our failures are
 * retryable by definition). Requests that fail validation never reach this middleware, so they do
 * not consume the key either. A process that dies mid-request leaves an `in_flight` row that a retry
 * takes over once its lock is older than the store's takeover timeout.
 */
export type IdempotencyBegin =
  | { kind: 'started' }
  | { kind: 'replay'; status: number; body: unknown }
  | { kind: 'in_flight' }
  | { kind: 'mismatch' };

export interface IdempotencyScope {
  apiKeyId: string;
  key: string;
}

/** main/ wires it to src/storage/idempotency.repo.ts. */
export interface IdempotencyStore {
  begin(
    scope: IdempotencyScope,
    request: { requestHash: string; method: string; path: string },
  ): Promise<IdempotencyBegin>;
  complete(scope: IdempotencyScope, status: number, body: unknown): Promise<void>;
  release(scope: IdempotencyScope): Promise<void>;
}

export const IDEMPOTENCY_HEADER = 'idempotency-key';
const SANE_KEY = /^[\x21-\x7e]{1,255}$/;

/** JSON with object keys sorted, so `{"a":1,"b":2}` and `{"b":2,"a":1}` are the same request. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) {
    return `[${value.map(canonicalJson).join(',')}]`;
  }
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

export function requestHash(method: string, path: string, body: unknown): string {
  return createHash('sha256')
    .update(`${method} ${path}\n${canonicalJson(body ?? null)}`)
    .digest('hex');
}

export function idempotency(store: IdempotencyStore): RequestHandler {
  return async (req, res, next) => {
    const key = req.get(IDEMPOTENCY_HEADER);
    if (key === undefined) {
      next();
      return;
    }
    if (!SANE_KEY.test(key)) {
      throw new ValidationError(
        'Idempotency-Key must be 1 to 255 visible ASCII characters.',
        [{ path: 'headers.idempotency-key', message: 'must be 1 to 255 visible ASCII characters' }],
        'invalid_idempotency_key',
      );
    }
    const ctx = requestContext(req);
    if (!ctx.principal) {
      next();
      return;
    }
    const scope = { apiKeyId: ctx.principal.keyId, key };
    const begun = await store.begin(scope, {
      requestHash: requestHash(req.method, req.path, req.body),
      method: req.method,
      path: req.path,
    });
    switch (begun.kind) {
      case 'mismatch':
        throw new AppError('This Idempotency-Key was already used with a different request; use a new key.', {
          code: 'idempotency_key_reused',
          httpStatus: 422,
        });
      case 'in_flight':
        throw new ConflictError(
          'A request with this Idempotency-Key is still in progress; retry later.',
          'idempotency_request_in_progress',
        );
      case 'replay':
        res.setHeader('Idempotent-Replayed', 'true');
        await sendJson(req, res, begun.status, begun.body);
        return;
      case 'started':
        ctx.beforeSend.push(async (status, body) => {
          await (status >= 500 ? store.release(scope) : store.complete(scope, status, body));
        });
        next();
        return;
    }
  };
}
