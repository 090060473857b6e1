import { hash } from 'node:crypto';
import type { Request, Response } from 'express';
import { requestContext } from './request-context.ts';

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

/**
 * Runs the request's before-send hooks (the audit row, the idempotency record) with the final status
 * and body. A hook failure is logged and never turns a finished operation into an error for the client.
 */
export async function runBeforeSend(req: Request, status: number, body: unknown): Promise<void> {
  const ctx = requestContext(req);
  for (const hook of ctx.beforeSend.splice(0)) {
    try {
      await hook(status, body);
    } catch (err) {
      ctx.log.error({ err, status }, 'before-send hook failed');
    }
  }
}

const JSON_TYPE = 'application/json; charset=utf-8';

/**
 * A response body that is already JSON text: a `prebuilt` route (src/http/routes.ts) may return one instead of a
 * value, and sendJson sends the text as it is (the list of transactions writes its page field by field).
 */
export class RawJson {
  readonly text: string;
  constructor(text: string) {
    this.text = text;
  }
}

const PROBLEM_TYPE = `${PROBLEM_CONTENT_TYPE}; charset=utf-8`;

/**
 * Express's default weak ETag, computed the same way (length and SHA-1 of the bytes), so clients' stored tags stay
 * valid.
 */
export function weakEtag(bytes: Buffer): string {
  return `W/"${bytes.length.toString(16)}-${hash('sha1', bytes, 'base64').slice(0, 27)}"`;
}

/**
 * The one way a JSON response leaves the app: before-send hooks first, then the body. The body is encoded to
 * bytes once; the ETag is computed from those bytes and the same bytes are sent (a read-API page is ~84 kB).
 * A GET whose If-None-Match names the ETag gets 304 without the body (Express's `req.fresh` rules).
 */
export async function sendJson(req: Request, res: Response, status: number, body: unknown): Promise<void> {
  await runBeforeSend(req, status, body);
  if (res.headersSent) {
    return;
  }
  const bytes = Buffer.from(body instanceof RawJson ? body.text : JSON.stringify(body), 'utf8');
  res.statusCode = status;
  res.setHeader('ETag', weakEtag(bytes));
  if (req.fresh) {
    res.statusCode = 304;
    res.end();
    return;
  }
  res.setHeader('Content-Type', status >= 400 ? PROBLEM_TYPE : JSON_TYPE);
  res.setHeader('Content-Length', bytes.length);
  res.end(req.method === 'HEAD' ? undefined : bytes);
}
