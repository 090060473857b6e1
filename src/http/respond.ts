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
 * A value that is already JSON text (a stored jsonb value read as text): a list page's item may carry it in a
 * top-level field, and sendJson splices the text in as it is instead of parsing it and serializing it again.
 * Only for `prebuilt` routes (src/http/routes.ts): a response schema's parse would not know it.
 */
export class RawJson {
  readonly text: string;
  constructor(text: string) {
    this.text = text;
  }
}

/** An item as JSON, with its RawJson fields spliced in (after the others). The item is the caller's fresh DTO. */
function itemJson(item: unknown): string {
  if (typeof item !== 'object' || item === null) {
    return JSON.stringify(item) ?? 'null';
  }
  return objectJson(item as Record<string, unknown>);
}

function objectJson(item: Record<string, unknown>): string {
  let tail = '';
  for (const key in item) {
    const value = item[key];
    if (value instanceof RawJson) {
      tail += `,${JSON.stringify(key)}:${value.text}`;
      item[key] = undefined;
    }
  }
  if (tail === '') {
    return JSON.stringify(item);
  }
  const head = JSON.stringify(item);
  return head === '{}' ? `{${tail.slice(1)}}` : `${head.slice(0, -1)}${tail}}`;
}

/** A list page `{ data, nextCursor }`, serialized item by item so RawJson fields are spliced; other bodies whole. */
function bodyJson(body: unknown): string {
  if (typeof body === 'object' && body !== null && 'data' in body && Array.isArray(body.data) && 'nextCursor' in body && Object.keys(body).length === 2) {
    const items = (body.data as unknown[]).map(itemJson);
    return `{"data":[${items.join(',')}],"nextCursor":${JSON.stringify(body.nextCursor)}}`;
  }
  return JSON.stringify(body);
}
const PROBLEM_TYPE = `${PROBLEM_CONTENT_TYPE}; charset=utf-8`;

/** Express's default weak ETag, computed the same way (length and SHA-1 of the bytes), so clients' stored tags stay valid. */
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
  const bytes = Buffer.from(bodyJson(body), 'utf8');
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
