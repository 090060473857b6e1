import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import type { Queue } from 'bullmq';
import type { ErrorRequestHandler, RequestHandler, Router } from 'express';
import type { AuditSink } from './audit.ts';
import { registerAudit } from './audit.ts';
import { authenticate, authorize, ForbiddenError, type ApiKeyStore } from './auth.ts';
import type { AuthThrottle } from './auth-throttle.ts';
import { requestContext } from './request-context.ts';
import { runBeforeSend } from './respond.ts';

export const QUEUES_BASE_PATH = '/admin/queues';

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
    options: { uiConfig: { boardTitle: 'jpm-sync queues' } },
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
        // runBeforeSend never throws (a failing hook is logged); the answer goes out after it either way.
        void runBeforeSend(req, res.statusCode, null).then(() => send(body));
        return res;
      };
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
    authenticate(apiKeys, { allowBasic: true, throttle }),
    auditMutations,
    authorize('queues:admin'),
    allOrganizationsOnly,
    serverAdapter.getRouter() as Router,
    basicChallenge,
  ];
}
