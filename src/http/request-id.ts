import type { RequestHandler } from 'express';
import { requestId as newRequestId } from '../shared/ids.ts';
import { scrubSecrets, type Logger } from '../shared/logger.ts';
import { setRequestContext } from './request-context.ts';
import { lazyChildLogger } from './request-log.ts';

export const REQUEST_ID_HEADER = 'x-request-id';

/** Ids from a proxy or client are kept when sane (short, no spaces or control characters), else replaced. */
const SANE_REQUEST_ID = /^[A-Za-z0-9._:@/+=-]{1,128}$/;

/**
 * Whether an incoming id may be used: sane, and nothing the log scrub would change (an API key, a review
 * token, a long number): the id is bound into log lines, echoed and put in problem bodies unscrubbed.
 */
function usableRequestId(id: string | undefined): id is string {
  return id !== undefined && SANE_REQUEST_ID.test(id) && scrubSecrets(id) === id;
}

/**
 * Gives every request an id: a sane incoming `X-Request-Id` that does not look like a secret is kept (so
 * a caller can correlate), anything else is replaced by a UUID. The id is echoed in the response header,
 * bound to the request's logger (built only when something logs through it) and put in every problem body.
 */
export function requestIdMiddleware(log: Logger): RequestHandler {
  return (req, res, next) => {
    const incoming = req.get(REQUEST_ID_HEADER);
    const requestId = usableRequestId(incoming) ? incoming : newRequestId();
    setRequestContext(req, { requestId, log: lazyChildLogger(log, { requestId }), audit: {}, beforeSend: [] });
    res.setHeader('X-Request-Id', requestId);
    next();
  };
}
