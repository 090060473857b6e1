import { hash } from 'node:crypto';
import type { Request, Response } from 'express';
import { requestContext } from './request-context.ts';

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

/** What goes out: the answer the route or error middleware built, or the one a before-send hook put in its place. */
export interface Answer {
  status: number;
  body: unknown;
  headers: Readonly<Record<string, string>>;
  /** A hook replaced the answer (`ReplacedAnswer`). */
  replaced: boolean;
}

/**
 * Thrown by a before-send hook when the answer must not go out as built: the client gets this one instead (e.g.
 * a refusal whose audit row could not be written is answered 503 `overloaded`, src/http/audit.ts). The hooks after
 * it see the replacement.
 */
export class ReplacedAnswer extends Error {
  readonly answer: Answer;
  constructor(status: number, body: unknown, headers: Record<string, string> = {}) {
    super(`answer replaced by ${status}`);
    this.answer = { status, body, headers, replaced: true };
  }
}

/**
 * Runs the request's before-send hooks (the audit row, the idempotency record) with the final status
 * and body, and returns what to send. A hook failure is logged and never turns a finished operation into an
 * error for the client; only a hook that throws `ReplacedAnswer` changes the answer.
 */
export async function runBeforeSend(req: Request, status: number, body: unknown): Promise<Answer> {
  const ctx = requestContext(req);
  let answer: Answer = { status, body, headers: {}, replaced: false };
  for (const hook of ctx.beforeSend.splice(0)) {
    try {
      await hook(answer.status, answer.body);
    } catch (err) {
      if (err instanceof ReplacedAnswer) {
        answer = err.answer;
      } else {
        ctx.log.error({ err, status: answer.status }, 'before-send hook failed');
      }
    }
  }
  return answer;
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
  writeJson(req, res, await runBeforeSend(req, status, body));
}

/** Writes an answer whose before-send hooks have run (`runBeforeSend`) as JSON. */
export function writeJson(req: Request, res: Response, answer: Answer): void {
  if (res.headersSent) {
    return;
  }
  const { status, body } = answer;
  for (const [name, value] of Object.entries(answer.headers)) {
    res.setHeader(name, value);
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
