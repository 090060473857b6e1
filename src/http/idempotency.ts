import { createHash, randomUUID } from 'node:crypto';
import type { RequestHandler } from 'express';
import { AppError, ConflictError, ValidationError } from '../shared/errors.ts';
import type { Logger } from '../shared/logger.ts';
import { requestContext } from './request-context.ts';
import { sendJson } from './respond.ts';

/**
 * `Idempotency-Key` on POST, as Stripe does it. The key is scoped to the API key that sent it.
 *  - first use: the request runs; its response (2xx or 4xx) is stored for 24 h;
 *  - same key, same method + path + body: the stored response is replayed with `Idempotent-Replayed: true`;
 *  - same key, different request: 422 `idempotency_key_reused`;
 *  - same key while the first request is still running: 409 `idempotency_request_in_progress`.
 * A 5xx is not stored: the key is released so the client's retry runs again (our failures are
 * retryable by definition). Requests that fail validation do not consume the key either: those the
 * route's schemas refuse never reach this middleware, and a 400 or 422 from the handler's own checks (a
 * range that holds no completed business day, a missing organizationId, a refused certificate) releases
 * it like a 5xx, so the corrected request runs (such a refusal changed nothing).
 *
 * The first request's claim lives as long as the request: it renews the claim every `renewEveryMs`
 * until its response is produced, however long the operation takes. A process that dies mid-request
 * stops renewing, and a retry takes the claim over once it has gone unrenewed for the store's
 * takeover window (several renewals). Each claim carries a token of its own request: a request
 * whose claim was taken over (its process stalled past the window) stores and releases nothing.
 * A response that could not be stored at once (a database hiccup after the operation took effect) is
 * stored later, the claim renewed meanwhile: retries get the 409 until then and its replay after,
 * never a second run of the operation.
 *
 * Atomic answers (Stripe's "atomic phases"). Storing the answer after the write has committed leaves a gap: a
 * database session lost at the write's COMMIT (a failover) ends the request in a 503 without anyone knowing whether
 * the write committed, and releasing the key then would let the retry run a committed write a second time. So a
 * write route stores its answer inside its write's own transaction, just before COMMIT (`recordAnswer`, given to
 * the handler as `atomicAnswer`; src/storage/db.ts `atomicWrite`): the write and its answer commit together or not
 * at all. Once the answer is recorded in the transaction the request neither renews, completes nor releases the
 * claim, whatever it answers: if the COMMIT went through, the row holds the answer and a retry replays it at once;
 * if it did not (the outcome was unknown to this request), the claim is left in flight, unrenewed, and a retry takes
 * it over after the takeover window and runs the write for the first time. Either way never twice. A takeover
 * waits on the row lock the write's transaction holds, so it cannot slip in while that COMMIT is still pending.
 * Recording checks the claim is still this request's: if a retry took it over meanwhile, the write rolls back
 * (409) instead of committing next to the retry's.
 */
export type IdempotencyBegin =
  | { kind: 'started' }
  | { kind: 'replay'; status: number; body: unknown }
  | { kind: 'in_flight' }
  | { kind: 'mismatch' };

/** A key of an API key, as claimed by one request (`owner`: a token fresh to that request). */
export interface IdempotencyScope {
  apiKeyId: string;
  key: string;
  owner: string;
}

/** main/ wires it to src/storage/idempotency.repo.ts. */
export interface IdempotencyStore {
  begin(
    scope: IdempotencyScope,
    request: { requestHash: string; method: string; path: string },
  ): Promise<IdempotencyBegin>;
  /** How often a running request renews its claim: well within the store's takeover window. */
  renewEveryMs: number;
  /** Marks the claim alive; false when it is no longer this request's. */
  renew(scope: IdempotencyScope): Promise<boolean>;
  /** Stores the response; false (nothing stored) when the claim is no longer this request's. */
  complete(scope: IdempotencyScope, status: number, body: unknown): Promise<boolean>;
  /**
   * Stores the response through `transaction`, the write's own open transaction (so it commits with the write);
   * false (nothing stored) when the claim is no longer this request's.
   */
  completeIn(transaction: unknown, scope: IdempotencyScope, status: number, body: unknown): Promise<boolean>;
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
    const scope = { apiKeyId: ctx.principal.keyId, key, owner: randomUUID() };
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
      case 'started': {
        const stopRenewing = keepClaimAlive(store, scope, ctx.log);
        // A response sent some other way (never through the hooks) still ends the renewals.
        res.once('finish', stopRenewing);
        let recorded = false;
        ctx.recordAnswer = async (transaction, status, body) => {
          if (recorded) {
            throw new Error('an idempotent answer is recorded once per request');
          }
          recorded = true;
          // From here the claim is the transaction's: renewing it would only wait on the row lock the write holds.
          stopRenewing();
          if (!(await store.completeIn(transaction, scope, status, body))) {
            // A retry took the claim over while this request ran: the write must not commit beside the retry's.
            throw new ConflictError(
              'A request with this Idempotency-Key is still in progress; retry later.',
              'idempotency_request_in_progress',
            );
          }
        };
        ctx.beforeSend.push(async (status, body) => {
          stopRenewing();
          if (recorded) {
            // The answer went into the write's transaction: stored if it committed; if the commit's outcome was
            // lost, the unrenewed claim waits for a retry, which then replays it or runs the write once.
            if (status >= 500) {
              ctx.log.warn(
                { status },
                'idempotent write ended in a server error after recording its answer: claim kept',
              );
            }
            return;
          }
          if (status >= 500 || status === 400 || status === 422) {
            await store.release(scope);
            return;
          }
          let stored: boolean;
          try {
            stored = await store.complete(scope, status, body);
          } catch (err) {
            // The operation took effect, its answer is not stored yet: the claim is kept alive until it is, so a
            // retry waits (409) and then gets this answer, rather than taking the claim over and running it again.
            ctx.log.warn({ err, status }, 'idempotency response not stored yet: kept in flight, stored later');
            storeLater(store, scope, status, body, ctx.log);
            return;
          }
          if (!stored) {
            ctx.log.warn({ status }, 'idempotency claim was taken over while the request ran; response not stored');
          }
        });
        next();
        return;
      }
    }
  };
}

/** How long an answer that could not be stored is tried again: as long as its key is kept (24 h). */
const STORE_LATER_FOR_MS = 24 * 60 * 60 * 1_000;

/**
 * Stores an answer whose first `complete` failed (a database hiccup), every `renewEveryMs` until it is stored or the
 * claim turns out lost, renewing the claim between tries so no retry takes it over meanwhile. Only this process
 * holds the answer: if it stops first, the claim goes unrenewed and a retry takes it over, as after a crash.
 */
function storeLater(
  store: IdempotencyStore,
  scope: IdempotencyScope,
  status: number,
  body: unknown,
  log: Logger,
): void {
  const until = Date.now() + STORE_LATER_FOR_MS;
  const attempt = async (): Promise<boolean> => {
    try {
      if (!(await store.complete(scope, status, body))) {
        log.warn({ status }, 'idempotency claim was taken over before the response was stored; response not stored');
      }
      return true;
    } catch (err) {
      // Said once at warn when the first try failed; the tries after it only at debug.
      log.debug({ err, status }, 'idempotency response still not stored');
      // Keeps the claim: false when it is no longer this request's (nothing left to store).
      return store.renew(scope).then(
        (held) => !held,
        () => false,
      );
    }
  };
  const schedule = () => {
    const timer = setTimeout(() => {
      void attempt().then((done) => {
        if (!done && Date.now() < until) {
          schedule();
        }
      });
    }, store.renewEveryMs);
    timer.unref();
  };
  schedule();
}

/**
 * Renews the claim every `renewEveryMs` (each renewal after the previous one answered, so a slow database
 * never piles them up) until the returned stop function is called or the claim turns out lost.
 */
function keepClaimAlive(store: IdempotencyStore, scope: IdempotencyScope, log: Logger): () => void {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const schedule = () => {
    timer = setTimeout(() => {
      store.renew(scope).then(
        (held) => {
          if (stopped) {
            return;
          }
          if (held) {
            schedule();
          } else {
            stopped = true;
            log.warn('idempotency claim was taken over while the request ran');
          }
        },
        (err: unknown) => {
          // A failed renewal is retried at the next tick; the takeover window spans several.
          log.warn({ err }, 'idempotency claim renewal failed');
          if (!stopped) {
            schedule();
          }
        },
      );
    }, store.renewEveryMs);
    // A request in flight must not keep the process alive on its own.
    timer.unref();
  };
  schedule();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
