import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import type { AuditSink } from '../http/audit.ts';
import type { ApiKeyStore } from '../http/auth.ts';
import type { AuthThrottle } from '../http/auth-throttle.ts';
import { requestContext } from '../http/request-context.ts';
import type { Route } from '../http/routes.ts';
import type { OnboardingOptions } from '../onboarding/index.ts';
import type { Queues } from '../scheduler/index.ts';
import { ValidationError } from '../shared/errors.ts';
import { keyspace, type RedisConnection } from '../shared/redis.ts';
import { addDays, isIsoDate } from '../shared/time.ts';
import type { Database } from '../storage/db.ts';
import { ACTIONS, type Form } from './actions.ts';
import { ApiClient, type CallContext } from './api-client.ts';
import { boardPage } from './board.ts';
import { accountPage, dayPage } from './data.ts';
import { html } from './html.ts';
import { integrationPage } from './integration.ts';
import { BASE } from './layout.ts';
import { describeError, formOf, safeBack, send } from './respond.ts';
import { runProgress, type RunDto } from './runs.ts';
import { sameToken, SessionStore, type Flash, type Session } from './session.ts';
import { signInRoutes } from './sign-in.ts';

/**
 * The operator console at /console: server-rendered pages over the API's own routes (src/console/
 * api-client.ts), sessions from an API key (session.ts), htmx from our own origin for the live
 * parts. Everything a page shows or does goes through a route of the registry, so roles,
 * organization scope, validation and audit are the API's.
 */
export interface ConsoleDeps {
  routes: readonly Route[];
  apiKeys: ApiKeyStore;
  audit: AuditSink;
  db: Database;
  queues: Queues;
  redis: RedisConnection;
  /** Redis key prefix for sessions (the queue prefix). */
  keyPrefix: string;
  onboarding: OnboardingOptions;
  /** Secure cookies: everywhere but development and tests over plain http. */
  secureCookies: boolean;
  authThrottle?: AuthThrottle | undefined;
  now?: () => Date;
}

/**
 * The console's own policy: scripts and styles from our origin only (htmx is served from
 * node_modules below), no inline script or style, nothing from another origin, no framing.
 */
const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/** A run as a sync trigger answers it: the run, and whether it joined one already under way. */
type TriggeredRunDto = RunDto & { joined: boolean };

/**
 * What a re-sync queued, as the runs say it: their dates (a range is clipped at the last day the bank has closed, so
 * the days after it are named as not included) and how many joined a run already under way for them.
 */
function resyncQueued(runs: readonly TriggeredRunDto[], asked: string): string {
  const windows = new Map<string, number>();
  for (const r of runs) {
    const w = `${r.window.from ?? '?'} to ${r.window.to ?? '?'}`;
    windows.set(w, (windows.get(w) ?? 0) + 1);
  }
  const dates =
    windows.size === 1 ? [...windows.keys()][0]! : [...windows].map(([w, n]) => `${w} (${n} run(s))`).join(', ');
  const joined = runs.filter((r) => r.joined).length;
  const ends = runs.map((r) => r.window.to).filter((d): d is string => d !== null);
  const last = ends.sort().at(-1);
  const notClosed =
    last === undefined || !isIsoDate(asked) || last >= asked
      ? ''
      : addDays(last, 1) === asked
        ? ` ${asked} is not included: the bank has not closed it yet.`
        : ` ${addDays(last, 1)} to ${asked} are not included: the bank has not closed them yet.`;
  return [
    `Re-sync queued: ${runs.length} run(s), ${dates}`,
    joined > 0 ? `, of which ${joined} already under way for these dates (joined, not queued again)` : '',
    '.',
    notClosed,
    ' Progress below.',
  ].join('');
}

/** How long a form's one-time token keeps its outcome: far beyond a double click or a browser's retry. */
const ONCE_TTL_SECONDS = 3_600;
const ONCE_PENDING = 'pending';

function staticFile(path: string): Buffer {
  return readFileSync(path);
}

/** The `?cursor=` of a paged list page (the API's cursor, passed on unchanged; the API refuses a bad one). */
function cursorOf(req: Request): string | undefined {
  return typeof req.query.cursor === 'string' && req.query.cursor !== '' ? req.query.cursor : undefined;
}

export function consoleRouter(deps: ConsoleDeps): Router {
  const router = express.Router();
  const api = new ApiClient(deps.routes, deps.audit);
  const sessions = new SessionStore({
    redis: deps.redis,
    keyPrefix: deps.keyPrefix,
    secure: deps.secureCookies,
    apiKeys: deps.apiKeys,
  });
  const now = deps.now ?? (() => new Date());
  const pageDeps = { api, db: deps.db, onboarding: deps.onboarding, now, queues: deps.queues };
  const require = createRequire(import.meta.url);
  // A Map, not an object literal: the name is the URL's, and `__proto__` or `toString` must find nothing.
  const assets = new Map<string, { type: string; body: Buffer }>([
    [
      'htmx.min.js',
      { type: 'text/javascript; charset=utf-8', body: staticFile(require.resolve('htmx.org/dist/htmx.min.js')) },
    ],
    [
      'console.css',
      {
        type: 'text/css; charset=utf-8',
        body: staticFile(new URL('./static/console.css', import.meta.url).pathname),
      },
    ],
    [
      'console.js',
      {
        type: 'text/javascript; charset=utf-8',
        body: staticFile(new URL('./static/console.js', import.meta.url).pathname),
      },
    ],
  ]);
  const parseForm = express.urlencoded({ extended: false, limit: '200kb', parameterLimit: 50 });
  // A form beyond what any console form holds gets a console page saying so, not the API's JSON problem document.
  const forms = (req: Request, res: Response, next: NextFunction) => {
    parseForm(req, res, (err?: unknown) => {
      const type = (err as { type?: unknown } | undefined)?.type;
      if (type !== 'entity.too.large' && type !== 'parameters.too.many') {
        next(err);
        return;
      }
      send(
        res,
        413,
        'Refused',
        html`<h1>Refused</h1><p>The form is too large to send (at most 200 kB and 50 fields). Go back and shorten what you pasted.</p><p><a href="${BASE}/">Back to the board</a></p>`,
      );
    });
  };

  router.use((_req, res, next) => {
    res.set('Content-Security-Policy', CSP);
    res.set('Cache-Control', 'no-store');
    next();
  });

  router.get('/static/:file', (req, res) => {
    const asset = assets.get(req.params.file);
    if (!asset) {
      res.status(404).type('text/plain').send('Not found');
      return;
    }
    res.set('Cache-Control', 'public, max-age=3600').type(asset.type).send(asset.body);
  });

  signInRoutes(router, { sessions, apiKeys: deps.apiKeys, authThrottle: deps.authThrottle, forms });

  // Everything below needs a session; POSTs need its CSRF token. A run's progress poll (every second, by
  // htmx, while the page is open) is not activity: it reads the session without extending it.
  const isBackgroundPoll = (req: Request) => req.method === 'GET' && /^\/runs\/[^/]+\/progress$/.test(req.path);
  const sessionOf = new WeakMap<Request, Session>();
  router.use(async (req, res, next) => {
    const session = await sessions.load(req, { slide: !isBackgroundPoll(req) });
    if (!session) {
      sessions.clearCookie(res, sessions.cookieName);
      if (req.get('hx-request') === 'true') {
        res.set('HX-Redirect', `${BASE}/sign-in`).status(401).end();
        return;
      }
      res.redirect(303, `${BASE}/sign-in`);
      return;
    }
    sessionOf.set(req, session);
    const ctx = requestContext(req);
    ctx.principal = session.principal;
    ctx.log = ctx.log.child({ apiKeyPrefix: session.principal.keyPrefix });
    next();
  });
  router.post(/.*/, forms, async (req, res, next) => {
    const session = sessionOf.get(req)!;
    if (!sameToken(session.csrf, formOf(req)._csrf)) {
      send(
        res,
        403,
        'Refused',
        html`<h1>Refused</h1><p>The form's security token is missing or stale. Go back, reload the page and try again.</p>`,
        session,
      );
      return;
    }
    if (req.path !== '/sign-out' && !(await claimOnce(req, res, session))) {
      return;
    }
    next();
  });

  /**
   * A form is carried out once per rendering: its one-time token (`_once`, layout.ts) is claimed in Redis before the
   * action runs, and the action's outcome (its message and where it led) is kept under it. A second sending of the
   * same form gets that outcome, or, while the first is still being carried out, a message saying so; it is never run
   * again. A form without the token (a script's) runs as it always did.
   */
  const onceKeys = keyspace(deps.keyPrefix);
  const claims = new WeakMap<Request, string>();
  const claimOnce = async (req: Request, res: Response, session: Session): Promise<boolean> => {
    const token = formOf(req)._once;
    if (token === undefined || !/^[A-Za-z0-9_-]{43}$/.test(token)) {
      return true;
    }
    const key = onceKeys('console', 'once', createHash('sha256').update(`${session.id}:${token}`).digest('hex'));
    if ((await deps.redis.set(key, ONCE_PENDING, 'EX', ONCE_TTL_SECONDS, 'NX')) !== null) {
      claims.set(req, key);
      return true;
    }
    const kept = await deps.redis.get(key);
    const outcome =
      kept && kept !== ONCE_PENDING ? (JSON.parse(kept) as { flash: Flash; location: string }) : undefined;
    session.flash = outcome?.flash ?? {
      kind: 'error',
      outcome: true,
      text: 'This form was sent twice; the first sending is still being carried out, and it is carried out once. Reload the page in a moment to see its result.',
    };
    await sessions.save(session);
    res.redirect(303, outcome?.location ?? safeBack(formOf(req)._back, `${BASE}/`));
    return false;
  };

  /** Ends a form's POST: its message for the next page, the outcome kept for a second sending, then the redirect. */
  const finish = async (req: Request, res: Response, session: Session, flash: Flash, location: string) => {
    session.flash = flash;
    await sessions.save(session);
    const key = claims.get(req);
    if (key) {
      await deps.redis.set(key, JSON.stringify({ flash, location }), 'EX', ONCE_TTL_SECONDS);
    }
    res.redirect(303, location);
  };

  const callCtx = (req: Request): CallContext => {
    const ctx = requestContext(req);
    return { principal: sessionOf.get(req)!.principal, requestId: ctx.requestId, log: ctx.log };
  };

  /** A page: its flash (shown once), its body; an error becomes a page that says what happened. */
  const render =
    (build: (req: Request, session: Session) => Promise<{ title: string; body: ReturnType<typeof html> }>) =>
    async (req: Request, res: Response) => {
      const session = sessionOf.get(req)!;
      const flash = session.flash;
      try {
        const built = await build(req, session);
        if (flash) {
          session.flash = undefined;
          await sessions.save(session);
        }
        send(res, 200, built.title, built.body, session, flash);
      } catch (err) {
        const { status, flash: problem } = describeError(err, req);
        send(
          res,
          status,
          status === 404 ? 'Not found' : 'Error',
          html`<h1>${status === 404 ? 'Not found' : 'Something went wrong'}</h1><p><a href="${BASE}/">Back to the board</a></p>`,
          session,
          problem,
        );
      }
    };

  router.post('/sign-out', async (req, res) => {
    await sessions.destroy(res, sessionOf.get(req)!);
    res.redirect(303, `${BASE}/sign-in`);
  });

  router.get(
    '/',
    render(async (req, s) => ({
      title: 'Onboarding board',
      body: await boardPage(pageDeps, s, callCtx(req), req.query.overdue === 'true', cursorOf(req)),
    })),
  );
  router.get(
    '/integrations/:id',
    render((req) => integrationPage(pageDeps, sessionOf.get(req)!, callCtx(req), String(req.params.id), cursorOf(req))),
  );
  router.get(
    '/accounts/:id',
    render((req) => accountPage(pageDeps, callCtx(req), String(req.params.id))),
  );
  router.get(
    '/accounts/:id/days/:day',
    render((req) => dayPage(pageDeps, callCtx(req), String(req.params.id), String(req.params.day), cursorOf(req))),
  );

  router.get('/runs/:id/progress', async (req, res) => {
    try {
      const run = await api.call<RunDto>(callCtx(req), 'get', '/v1/sync-runs/{id}', {
        params: { id: String(req.params.id) },
      });
      res.type('text/html; charset=utf-8').send(runProgress(run).text);
    } catch (err) {
      const { status, flash } = describeError(err, req);
      // 286 tells htmx to stop polling this element: a refusal (gone, forbidden, invalid) will not
      // change by asking again; a server error may, so polling goes on.
      res
        .status(status >= 400 && status < 500 ? 286 : status)
        .type('text/plain')
        .send(flash.text);
    }
  });

  router.get('/integrations/:id/key-pairs/:keyPairId/csr', async (req, res) => {
    try {
      const kp = await api.call<{ csrPem: string; commonName: string }>(
        callCtx(req),
        'get',
        '/v1/integrations/{id}/key-pairs/{keyPairId}',
        {
          params: { id: String(req.params.id), keyPairId: String(req.params.keyPairId) },
        },
      );
      const name = kp.commonName.replace(/[^A-Za-z0-9._-]/g, '_');
      res.type('application/pkcs10').attachment(`${name}.csr.pem`).send(kp.csrPem);
    } catch (err) {
      const { status, flash } = describeError(err, req);
      send(res, status, 'Error', html`<h1>No CSR</h1>`, sessionOf.get(req), flash);
    }
  });

  /** Runs a form's API call, then back to the page it came from with what happened. */
  const act = async (req: Request, res: Response, run: (ctx: CallContext, form: Form) => Promise<Flash>) => {
    const session = sessionOf.get(req)!;
    const form = formOf(req);
    const back = safeBack(form._back, `${BASE}/integrations/${String(req.params.id)}`);
    let flash: Flash;
    try {
      flash = await run(callCtx(req), form);
    } catch (err) {
      flash = describeError(err, req).flash;
    }
    await finish(req, res, session, flash, back);
  };

  router.post('/integrations/:id/actions/:action', (req, res) =>
    act(req, res, async (ctx, form) => {
      const action = Object.hasOwn(ACTIONS, String(req.params.action)) ? ACTIONS[String(req.params.action)] : undefined;
      if (!action) {
        throw new ValidationError(`unknown action ${String(req.params.action)}`);
      }
      const id = String(req.params.id);
      const refused = api.allows(ctx.principal, 'post', action.path) ? action.refuse?.(form) : undefined;
      if (refused) {
        throw new ValidationError(refused);
      }
      const result = await api.call(ctx, 'post', action.path, {
        params: action.params?.(form, id) ?? { id },
        body: action.body(form),
      });
      const link = action.link?.(result, id);
      const failed = action.failed?.(result) ?? false;
      return {
        kind: failed ? 'error' : 'ok',
        text: action.done(result, form),
        ...(failed ? { outcome: true } : {}),
        ...(link ? { link } : {}),
      };
    }),
  );

  router.post('/integrations', async (req, res) => {
    const session = sessionOf.get(req)!;
    const form = formOf(req);
    const text = (v: string | undefined) => (v === undefined || v.trim() === '' ? undefined : v.trim());
    const body = Object.fromEntries(
      Object.entries({
        organizationId: text(form.organizationId),
        name: form.name ?? '',
        environment: text(form.environment),
        baseUrl: text(form.baseUrl),
        serverCaPem: text(form.serverCaPem),
      }).filter(([, v]) => v !== undefined),
    );
    let outcome: { flash: Flash; location: string };
    try {
      const created = await api.call<{ id: string; name: string }>(callCtx(req), 'post', '/v1/integrations', { body });
      outcome = {
        flash: {
          kind: 'ok',
          text: `Integration ${created.name} requested. Record its eligibility answers to move it on.`,
        },
        location: `${BASE}/integrations/${created.id}`,
      };
    } catch (err) {
      outcome = { flash: describeError(err, req).flash, location: `${BASE}/` };
    }
    await finish(req, res, session, outcome.flash, outcome.location);
  });

  router.post('/integrations/:id/resync', (req, res) =>
    act(req, res, async (ctx, form) => {
      const body = { mode: 'range', from: form.from ?? '', to: form.to ?? '' };
      const runs = form.accountId
        ? [
            await api.call<TriggeredRunDto>(ctx, 'post', '/v1/accounts/{id}/sync-runs', {
              params: { id: form.accountId },
              body,
            }),
          ]
        : (
            await api.call<{ data: TriggeredRunDto[] }>(ctx, 'post', '/v1/integrations/{id}/sync-runs', {
              params: { id: String(req.params.id) },
              body,
            })
          ).data;
      return { kind: 'ok', text: resyncQueued(runs, body.to) };
    }),
  );

  router.use((_req, res) => {
    res.status(404).type('text/plain').send('Not found');
  });
  // What no route caught (a session that could not be read while Redis is away): a console page with the API's own
  // words, not the API's JSON problem document.
  router.use((err: unknown, req: Request, res: Response, next: NextFunction) => {
    if (res.headersSent) {
      next(err);
      return;
    }
    const { status, flash } = describeError(err, req);
    if (status === 503) {
      res.set('Retry-After', '2');
    }
    send(
      res,
      status,
      'Error',
      html`<h1>${status === 503 ? 'Unavailable for a moment' : 'Something went wrong'}</h1><p><a href="${BASE}/">Back to the board</a></p>`,
      undefined,
      flash,
    );
  });
  return router;
}
