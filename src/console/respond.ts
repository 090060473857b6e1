import type { Request, Response } from 'express';
import { toProblem } from '../http/errors.ts';
import { requestContext } from '../http/request-context.ts';
import { AppError, ValidationError } from '../shared/errors.ts';
import type { Form } from './actions.ts';
import type { Html } from './html.ts';
import { BASE, page } from './layout.ts';
import type { Flash, Session } from './session.ts';

/** Request and response helpers shared by the console's routes. */
export function send(res: Response, status: number, title: string, body: Html, session?: Session, flash?: Flash): void {
  res.status(status).type('text/html; charset=utf-8').send(page({ title, session, flash, body }));
}

export function formOf(req: Request): Form {
  const out: Form = {};
  for (const [k, v] of Object.entries((req.body ?? {}) as Record<string, unknown>)) {
    if (typeof v === 'string') {
      out[k] = v;
    }
  }
  return out;
}

export function safeBack(value: string | undefined, fallback: string): string {
  return value && value.startsWith(`${BASE}/`) && !value.startsWith('//') && !/[\\\r\n]/.test(value) ? value : fallback;
}

/** What a person is told about an error: the API's own message and fields, or a request id. Never a stack. */
export function describeError(err: unknown, req: Request): { status: number; flash: Flash } {
  const ctx = requestContext(req);
  if (err instanceof AppError && err.expose) {
    const fields = err instanceof ValidationError ? err.fields.map((f) => ({ path: f.path, message: f.message })) : [];
    return {
      status: err.httpStatus,
      flash: { kind: 'error', text: err.message, ...(fields.length > 0 ? { fields } : {}) },
    };
  }
  // What the API answers as a client mistake or as a state of the service rather than a fault (the database
  // read-only, Redis away, no connection free in time): its own words and status, so a person knows to fix the
  // request or come back later rather than report a bug.
  const { problem, internal } = toProblem(err, ctx.requestId);
  if (!internal) {
    if (problem.status >= 500) {
      ctx.log.warn({ err, code: problem.code }, 'console request failed: service unavailable');
    }
    return { status: problem.status, flash: { kind: 'error', text: problem.detail } };
  }
  ctx.log.error({ err }, 'console request failed');
  return {
    status: 500,
    flash: {
      kind: 'error',
      text: `An unexpected error occurred. Quote request id ${ctx.requestId} when reporting it.`,
    },
  };
}
