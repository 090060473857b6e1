import express, { type RequestHandler, type Router } from 'express';
import type { z } from 'zod';
import type { Permission, Principal } from '../domain/access.ts';
import type { Logger } from '../shared/logger.ts';
import { registerAudit, type AuditSink } from './audit.ts';
import { authenticate, authorize, orgAccess, type ApiKeyStore, type OrgAccess } from './auth.ts';
import type { AuthThrottle } from './auth-throttle.ts';
import { idempotency, type IdempotencyStore } from './idempotency.ts';
import { requestContext, type AuditTarget } from './request-context.ts';
import { RawJson, runBeforeSend, sendJson, writeJson } from './respond.ts';
import { parsePart, qualifyFieldPaths, strictTop } from './validate.ts';
import { jsonBody, streamedBody, streamedBodyCheck, type StreamedBody } from './body.ts';

/**
 * The route registry. Every API route is declared ONCE with `defineRoute({...})`; the same list
 * builds the Express router (auth → audit → body → validation → idempotency → handler) and the
 * OpenAPI document (src/http/openapi.ts), and the security tests enumerate it. Adding a route:
 *
 *   export function widgetRoutes(deps: { db: Database }): Route[] {
 *     return [
 *       defineRoute({
 *         method: 'post', path: '/v1/widgets/{id}/polish', permission: 'widgets:write',
 *         summary: 'Polish a widget', tags: ['Widgets'], auditTarget: 'widget',
 *         request: { params: z.object({ id: z.uuid() }), body: z.object({ shine: z.number() }) },
 *         response: { status: 202, schema: WidgetSchema, description: 'The polished widget' },
 *         handler: async ({ params, body, access, audit, atomicAnswer }) => {
 *           const w = await findWidget(deps.db, params.id);
 *           if (!w) throw new NotFoundError('widget', params.id);
 *           access.assert(w.organizationId, 'widget', w.id);        // another org's widget → 404
 *           audit.target({ organizationId: w.organizationId });
 *           // The write and its Idempotency-Key answer commit together (src/http/idempotency.ts).
 *           return atomicWrite(deps.db, atomicAnswer, async (trx) =>
 *             toWidgetDto(await polish(trx, w, body.shine)));        // parsed by `response.schema`
 *         },
 *       }),
 *     ];
 *   }
 *
 * and add `...widgetRoutes(deps)` to the list in src/main/api.ts. Paths use OpenAPI `{param}` syntax.
 * Top-level params/query/body objects are made strict (unknown fields → 400). The handler's return
 * value is parsed by the response schema, which strips any field the schema does not declare, so a
 * row with extra columns can never leak. Every route requires a key; there are no anonymous routes
 * in the registry (health, metrics and docs live outside it).
 */
export type HttpMethod = 'get' | 'post' | 'put' | 'patch' | 'delete';
export type ResponseMediaType = 'application/json' | 'text/html';
type ObjectSchema = z.ZodObject;
type Out<S> = S extends z.ZodType ? z.output<S> : undefined;

export interface HandlerInput<P, Q, B> {
  params: P;
  query: Q;
  body: B;
  principal: Principal;
  /** Organization scope checks: `access.assert(orgId, 'integration', id)`, `access.filter(q.organizationId)`. */
  access: OrgAccess;
  /** Refines the audit row of a mutating call: `audit.target({ id: created.id, organizationId })`. */
  audit: { target(target: AuditTarget): void };
  requestId: string;
  log: Logger;
  /** The request body left unread, for a route that declares `rawBody` (a statement file): read it as it arrives. */
  bodyStream?: StreamedBody;
  /**
   * Stores `body`, the answer the handler is about to return, as the request's `Idempotency-Key` answer through
   * `transaction`, the write's own open transaction, just before it commits, so the write and its replayable answer
   * commit together or not at all (src/http/idempotency.ts). A write route calls it once, last in its transaction
   * (src/storage/db.ts `atomicWrite`); without a key it does nothing.
   */
  atomicAnswer: (transaction: unknown, body: unknown) => Promise<void>;
}

export interface RouteSpec<
  P extends ObjectSchema | undefined,
  Q extends ObjectSchema | undefined,
  B extends z.ZodType | undefined,
  R extends z.ZodType,
> {
  method: HttpMethod;
  /** OpenAPI-style template, e.g. `/v1/integrations/{id}`. */
  path: `/${string}`;
  permission: Permission;
  summary: string;
  description?: string;
  tags: string[];
  request?: { params?: P; query?: Q; body?: B };
  /** `mediaType` defaults to JSON; `text/html` routes return the page as a string (e.g. a printable report). */
  response: {
    status: 200 | 201 | 202;
    schema: R;
    description: string;
    mediaType?: ResponseMediaType;
    /**
     * Only for hot read paths whose handler builds every item with an explicit DTO mapper (an object literal
     * typed as the schema's input, never a spread row), or writes the body as JSON text from such a mapping (a
     * RawJson, src/http/respond.ts): the body is sent without the runtime parse, which would only copy it (a tenth
     * of a page's CPU for `GET /v1/transactions`). Tests parse its real responses.
     */
    prebuilt?: boolean;
    /**
     * The answer carries a secret shown only in it (a new API key, a webhook signing secret): sent with
     * `Cache-Control: no-store`, so no cache on the way, the client's own included, keeps it.
     */
    secret?: boolean;
  };
  /** Error statuses this route can answer besides the standard ones (400, 401, 403, 404, 500…). */
  errors?: number[];
  /** What a mutating call acts on, for the audit log (e.g. 'organization'). */
  auditTarget?: string;
  /** POST routes honour `Idempotency-Key` unless this is false. */
  idempotent?: boolean;
  /** A body that is a document, not JSON (a statement file): accepted media types, size limit, what it is. */
  rawBody?: RawBodySpec;
  /** A `prebuilt` route may return its body as JSON text (RawJson). */
  handler: (input: HandlerInput<Out<P>, Out<Q>, Out<B>>) => Promise<z.input<R> | RawJson>;
}

export interface RawBodySpec {
  mediaTypes: readonly string[];
  /** As express takes it, e.g. '32mb' (413 beyond). */
  limit: string;
  description: string;
}

/**
 * A handler's answer stored with its write when the write's transaction is a service's own: the service calls
 * `beforeCommit(trx, written)` last in its transaction (src/storage/db.ts `BeforeCommit`); the answer is built there
 * once (`toAnswer`) and stored through `atomicAnswer`, and `answer(written)` returns that same answer, or builds it
 * when the write took no transaction (nothing to commit, e.g. a no-op: the answer is then stored after it, as before).
 */
export function answerBeforeCommit<W, A>(
  atomicAnswer: HandlerInput<unknown, unknown, unknown>['atomicAnswer'],
  toAnswer: (written: W) => A,
): { beforeCommit: (trx: unknown, written: W) => Promise<void>; answer: (written: W) => A } {
  let built: { value: A } | undefined;
  return {
    beforeCommit: async (trx, written) => {
      built = { value: toAnswer(written) };
      await atomicAnswer(trx, built.value);
    },
    answer: (written) => (built ? built.value : toAnswer(written)),
  };
}

/** A route with its types erased, as the registry holds it. */
export interface Route {
  method: HttpMethod;
  path: `/${string}`;
  permission: Permission;
  summary: string;
  description: string | undefined;
  tags: string[];
  request: { params: ObjectSchema | undefined; query: ObjectSchema | undefined; body: z.ZodType | undefined };
  response: {
    status: number;
    schema: z.ZodType;
    description: string;
    mediaType: ResponseMediaType;
    prebuilt?: boolean | undefined;
    secret?: boolean | undefined;
  };
  errors: number[];
  auditTarget: string | undefined;
  idempotent: boolean;
  /** An old path kept for one release (marked deprecated in the OpenAPI document). */
  deprecated?: boolean;
  rawBody?: RawBodySpec | undefined;
  handler: (input: HandlerInput<unknown, unknown, unknown>) => Promise<unknown>;
}

export function defineRoute<
  P extends ObjectSchema | undefined = undefined,
  Q extends ObjectSchema | undefined = undefined,
  B extends z.ZodType | undefined = undefined,
  R extends z.ZodType = z.ZodType,
>(spec: RouteSpec<P, Q, B, R>): Route {
  return {
    method: spec.method,
    path: spec.path,
    permission: spec.permission,
    summary: spec.summary,
    description: spec.description,
    tags: spec.tags,
    request: {
      params: spec.request?.params ? strictTop<ObjectSchema>(spec.request.params) : undefined,
      query: spec.request?.query ? strictTop<ObjectSchema>(spec.request.query) : undefined,
      body: spec.request?.body ? strictTop(spec.request.body) : undefined,
    },
    response: { ...spec.response, mediaType: spec.response.mediaType ?? 'application/json' },
    errors: spec.errors ?? [],
    auditTarget: spec.auditTarget,
    idempotent: spec.method === 'post' && spec.idempotent !== false,
    rawBody: spec.rawBody,
    handler: (input) => spec.handler(input as HandlerInput<Out<P>, Out<Q>, Out<B>>),
  };
}

/** `/v1/things/{id}` → `/v1/things/:id` for Express. */
export function expressPath(path: string): string {
  return path.replace(/\{([A-Za-z_][A-Za-z0-9_]*)\}/g, ':$1');
}

/** A regex matching concrete paths of a template, for 405 detection. */
export function pathPattern(path: string): RegExp {
  const escaped = path.split(/\{[A-Za-z_][A-Za-z0-9_]*\}/).map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  return new RegExp(`^${escaped.join('[^/]+')}/?$`);
}

export interface RouteDeps {
  apiKeys: ApiKeyStore;
  /** Failed-authentication throttling (src/http/auth-throttle.ts); absent = none. */
  authThrottle?: AuthThrottle | undefined;
  audit: AuditSink;
  idempotency: IdempotencyStore;
  jsonLimit: string;
}

/** Parses params, query and body once (before idempotency, so an invalid request does not consume its key). */
function validateInput(route: Route): RequestHandler {
  return (req, _res, next) => {
    requestContext(req).input = {
      params: route.request.params ? parsePart(route.request.params, req.params, 'params') : undefined,
      query: route.request.query ? parsePart(route.request.query, req.query, 'query') : undefined,
      body: route.request.body ? parsePart(route.request.body, req.body ?? {}, 'body') : undefined,
    };
    next();
  };
}

/** The handler's result as the route answers it: parsed by its response schema (a prebuilt body as it is). */
function answerBody(route: Route, result: unknown): unknown {
  if (route.response.prebuilt === true && route.response.mediaType === 'application/json') {
    return result;
  }
  const parsed = route.response.schema.safeParse(result);
  if (!parsed.success) {
    // Our bug, not the client's: the handler returned something its declared schema rejects.
    throw new Error(
      `response of ${route.method.toUpperCase()} ${route.path} does not match its schema: ${parsed.error.message}`,
    );
  }
  return parsed.data;
}

function handlerFor(route: Route): RequestHandler {
  return async (req, res) => {
    const ctx = requestContext(req);
    const { principal, input } = ctx;
    if (!principal || !input) {
      throw new Error('route handler reached without a principal or parsed input');
    }
    const result = await route
      .handler({
        ...input,
        principal,
        access: orgAccess(principal),
        requestId: ctx.requestId,
        log: ctx.log,
        ...(route.rawBody ? { bodyStream: streamedBody(req, route.rawBody.limit) } : {}),
        audit: { target: (t) => Object.assign(ctx.audit, t) },
        atomicAnswer: async (transaction, body) => {
          if (ctx.recordAnswer) {
            await ctx.recordAnswer(transaction, route.response.status, answerBody(route, body));
          }
        },
      })
      .catch((err: unknown) => {
        // A field the handler refuses is named as the schema names it: `body.from`, not `from`.
        throw qualifyFieldPaths({ ...route.request, rawBody: route.rawBody }, err);
      });
    if (route.response.prebuilt === true && route.response.mediaType === 'application/json') {
      await sendJson(req, res, route.response.status, result);
      return;
    }
    if (result instanceof RawJson) {
      throw new Error(
        `${route.method.toUpperCase()} ${route.path} returned JSON text but is not a prebuilt JSON route`,
      );
    }
    if (route.response.secret === true) {
      res.setHeader('Cache-Control', 'no-store');
    }
    const parsed = { data: answerBody(route, result) };
    if (route.response.mediaType === 'text/html') {
      const answer = await runBeforeSend(req, route.response.status, null);
      if (answer.replaced) {
        writeJson(req, res, answer);
        return;
      }
      // A self-contained page: nothing it may load from elsewhere, no scripts.
      res
        .status(route.response.status)
        .type('text/html; charset=utf-8')
        .set(
          'Content-Security-Policy',
          "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'",
        )
        .send(String(parsed.data));
      return;
    }
    await sendJson(req, res, route.response.status, parsed.data);
  };
}

/** Builds the router for a route list; each route gets the whole middleware chain. */
export function buildRouter(routes: readonly Route[], deps: RouteDeps): Router {
  const router = express.Router();
  for (const route of routes) {
    const chain: RequestHandler[] = [
      (req, _res, next) => {
        requestContext(req).route = { method: route.method, path: route.path };
        next();
      },
      authenticate(deps.apiKeys, { throttle: deps.authThrottle }),
    ];
    if (route.method !== 'get') {
      chain.push((req, _res, next) => {
        registerAudit(req, deps.audit, { targetType: route.auditTarget });
        next();
      });
    }
    chain.push(authorize(route.permission));
    if (route.request.body) {
      chain.push(...jsonBody(deps.jsonLimit));
    } else if (route.rawBody) {
      chain.push(...streamedBodyCheck(route.rawBody.mediaTypes));
    }
    chain.push(validateInput(route));
    if (route.idempotent) {
      chain.push(idempotency(deps.idempotency));
    }
    chain.push(handlerFor(route));
    router[route.method](expressPath(route.path), ...chain);
  }
  return router;
}

const registries = new WeakMap<object, readonly Route[]>();

/** Remembers which routes an app serves, so tests and the OpenAPI builder enumerate the real list. */
export function rememberRoutes(app: object, routes: readonly Route[]): void {
  registries.set(app, routes);
}

export function routesOf(app: object): readonly Route[] {
  return registries.get(app) ?? [];
}
