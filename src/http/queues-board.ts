import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import type { Queue } from 'bullmq';
import type { ErrorRequestHandler, Request, RequestHandler, Router } from 'express';
import { createLogger, scrubSecrets } from '../shared/logger.ts';
import type { AuditSink } from './audit.ts';
import { registerAudit } from './audit.ts';
import { authenticate, authorize, ForbiddenError, type ApiKeyStore } from './auth.ts';
import type { AuthThrottle } from './auth-throttle.ts';
import { requestContext } from './request-context.ts';
import { runBeforeSend, writeJson } from './respond.ts';

export const QUEUES_BASE_PATH = '/admin/queues';

const log = createLogger('http');

/**
 * A board answer with every job's `stacktrace` cut to the first line of each entry (`Name: message`, scrubbed):
 * BullMQ stores a failed job's whole stack (source paths and lines), and a job may have been failed by a process
 * that did not cut it as our worker does (src/scheduler/worker.ts), or before it did.
 */
function withoutStacks(value: unknown, depth = 0): unknown {
  if (depth > 32 || value === null || typeof value !== 'object') {
    return value;
  }
  if (Array.isArray(value)) {
    return value.map((v: unknown) => withoutStacks(v, depth + 1));
  }
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    out[key] =
      key === 'stacktrace' && Array.isArray(v)
        ? v.map((trace: unknown) => scrubSecrets(String(trace).split('\n', 1)[0] ?? ''))
        : withoutStacks(v, depth + 1);
  }
  return out;
}

/**
 * Whether a request was made by our own pages or by no browser at all: `Sec-Fetch-Site` is `same-origin` or `none`
 * (typed or bookmarked), or, from a browser without it, an `Origin` naming this host; no such header (a script, the CLI).
 */
function fromOwnOrigin(req: Request): boolean {
  const site = req.get('sec-fetch-site');
  if (site !== undefined) {
    return site === 'same-origin' || site === 'none';
  }
  const origin = req.get('origin');
  if (origin === undefined) {
    return true;
  }
  try {
    return new URL(origin).host === req.get('host');
  } catch {
    return false;
  }
}

/**
 * bull-board (queue inspection, retry, pause) behind an admin key valid for all organizations. A
 * browser opens it directly, so besides `Authorization: Bearer` it accepts HTTP Basic with the API key
 * as the password (any user name): the 401 carries a Basic challenge and the browser asks for it.
 *
 * The queues are shared by every tenant (job data names accounts and integrations of all of them) and
 * pausing one stops everybody's syncs, so an organization-scoped key is refused (403
 * `organization_scope`), whatever its role: bull-board cannot filter jobs by organization.
 *
 * Every mutating action there (retry, remove, pause, clean…) is audited like an API call. bull-board
 * answers with its own `res.json`, not through `sendJson`, so the audit hook runs from a wrapped
 * `res.send`: the row is written before the answer leaves, as for every other route.
 */
export function queuesBoard(
  queues: readonly Queue[],
  apiKeys: ApiKeyStore,
  audit: AuditSink,
  throttle?: AuthThrottle,
): (RequestHandler | ErrorRequestHandler | Router)[] {
  const serverAdapter = new ExpressAdapter();
  serverAdapter.setBasePath(QUEUES_BASE_PATH);
  // @bull-board/express pins its own patch release of @bull-board/api; the adapter interface is the same.
  type BoardAdapter = Parameters<typeof createBullBoard>[0]['serverAdapter'];
  createBullBoard({
    queues: queues.map((q) => new BullMQAdapter(q)),
    serverAdapter: serverAdapter as unknown as BoardAdapter,
    options: {
      uiConfig: { boardTitle: 'jpm-sync queues' },
      handlerHooks: {
        after: (_context, result) => ({ ...result, body: withoutStacks(result.body) as typeof result.body }),
      },
    },
  });
  // bull-board's own error answer adds the stack when NODE_ENV is development, and a 500 quotes whatever was
  // thrown. Replaced (the adapter reads its handler when an error happens): a 4xx (a body that is not JSON, too
  // large) says what was wrong, a 5xx says nothing and is logged, like every other 500 of the API.
  type ErrorAnswer = ReturnType<Parameters<ExpressAdapter['setErrorHandler']>[0]>;
  serverAdapter.setErrorHandler((error: Error & { statusCode?: unknown }): ErrorAnswer => {
    const status = typeof error.statusCode === 'number' ? error.statusCode : 500;
    if (status >= 400 && status < 500) {
      return {
        status: status as ErrorAnswer['status'],
        body: { error: { key: 'ERRORS.INVALID_REQUEST_BODY' }, message: scrubSecrets(error.message) },
      };
    }
    log.error({ err: error }, 'queue board request failed');
    return { status: 500, body: { error: { key: 'ERRORS.INTERNAL_SERVER_ERROR' }, message: 'Internal server error' } };
  });
  const markRoute: RequestHandler = (req, _res, next) => {
    const ctx = requestContext(req);
    ctx.route = { method: req.method.toLowerCase(), path: `${QUEUES_BASE_PATH}/*` };
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      ctx.audit.type = 'queue';
      ctx.audit.id = req.path.slice(0, 200);
    }
    next();
  };
  const auditMutations: RequestHandler = (req, res, next) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      registerAudit(req, audit, { targetType: 'queue' });
      const send = res.send.bind(res);
      let sending = false;
      res.send = (body?: unknown) => {
        if (sending) {
          return send(body);
        }
        sending = true;
        // runBeforeSend never throws (a failing hook is logged); the answer goes out after it, bull-board's own
        // unless a hook replaced it (an action refused whose audit row could not be written: a 503 problem).
        void runBeforeSend(req, res.statusCode, null).then((answer) => {
          if (answer.replaced) {
            writeJson(req, res, answer);
          } else {
            send(body);
          }
        });
        return res;
      };
    }
    next();
  };
  // The board is opened in a browser with HTTP Basic, which the browser then sends with every request to it, whichever
  // site made the request: a page elsewhere could post a form (a simple request, no CORS preflight) to an action.
  // Browsers say where a request comes from (Sec-Fetch-Site, and Origin on every non-GET); a script or CLI sends
  // neither. Checked before authentication, so such a request is neither carried out nor counted as a failed key.
  const sameOriginActions: RequestHandler = (req, _res, next) => {
    if (req.method !== 'GET' && req.method !== 'HEAD' && !fromOwnOrigin(req)) {
      throw new ForbiddenError(
        'Queue board actions are taken from the board itself: this request came from another site.',
        'cross_site_request',
      );
    }
    next();
  };
  const allOrganizationsOnly: RequestHandler = (req, _res, next) => {
    if (requestContext(req).principal?.organizationId !== null) {
      throw new ForbiddenError(
        "The queue board shows and acts on every organization's jobs: only a key valid for all organizations may use it.",
        'organization_scope',
      );
    }
    next();
  };
  const basicChallenge: ErrorRequestHandler = (err: unknown, _req, res, next) => {
    if ((err as { httpStatus?: unknown }).httpStatus === 401) {
      res.append('WWW-Authenticate', 'Basic realm="jpm-sync queues (password: an admin API key)", charset="UTF-8"');
    }
    next(err);
  };
  return [
    markRoute,
    sameOriginActions,
    authenticate(apiKeys, { allowBasic: true, throttle }),
    auditMutations,
    authorize('queues:admin'),
    allOrganizationsOnly,
    serverAdapter.getRouter() as Router,
    basicChallenge,
  ];
}
