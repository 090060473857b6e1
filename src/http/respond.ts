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

/** The one way a JSON response leaves the app: before-send hooks first, then the body. */
export async function sendJson(req: Request, res: Response, status: number, body: unknown): Promise<void> {
  await runBeforeSend(req, status, body);
  if (res.headersSent) {
    return;
  }
  res.status(status);
  res.type(status >= 400 ? PROBLEM_CONTENT_TYPE : 'application/json');
  res.send(JSON.stringify(body));
}
