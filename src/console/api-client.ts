import type { Principal } from '../domain/access.ts';
import type { AuditSink } from '../http/audit.ts';
import { assertPermission, orgAccess } from '../http/auth.ts';
import type { HttpMethod, Route } from '../http/routes.ts';
import { RawJson } from '../http/respond.ts';
import { parsePart, qualifyFieldPaths } from '../http/validate.ts';
import { AppError } from '../shared/errors.ts';
import type { Logger } from '../shared/logger.ts';

/**
 * The console acts through the API's own routes, in process: the route's permission is checked
 * against the signed-in key's role, its zod schemas parse the form's input (so a person sees the
 * API's own validation messages), its handler runs (organization scope, the onboarding guards, the
 * scheduler, the credential checks), its response schema strips what the API would not show, and a
 * mutating call is written to the audit log exactly as the API writes it. There is no second
 * implementation of any rule to drift from the first.
 */
export interface CallContext {
  principal: Principal;
  requestId: string;
  log: Logger;
}

export interface CallInput {
  params?: Record<string, string>;
  query?: Record<string, unknown>;
  body?: unknown;
}

export class ApiClient {
  private readonly routes: Map<string, Route>;
  private readonly audit: AuditSink;

  constructor(routes: readonly Route[], audit: AuditSink) {
    this.routes = new Map(routes.map((r) => [`${r.method} ${r.path}`, r]));
    this.audit = audit;
  }

  /** Whether the key's role may call the route (to show or hide an action; the call checks again). */
  allows(principal: Principal, method: HttpMethod, path: string): boolean {
    const route = this.routes.get(`${method} ${path}`);
    try {
      if (route) {
        assertPermission(principal, route.permission);
      }
      return route !== undefined;
    } catch {
      return false;
    }
  }

  async call<T>(ctx: CallContext, method: HttpMethod, path: string, input: CallInput = {}): Promise<T> {
    const route = this.routes.get(`${method} ${path}`);
    if (!route) {
      throw new Error(`the console calls ${method.toUpperCase()} ${path}, which the API does not serve`);
    }
    const target: { type?: string | undefined; id?: string | undefined; organizationId?: string | null | undefined } =
      {};
    let status = route.response.status;
    try {
      assertPermission(ctx.principal, route.permission);
      const params = route.request.params ? parsePart(route.request.params, input.params ?? {}, 'params') : undefined;
      const query = route.request.query ? parsePart(route.request.query, input.query ?? {}, 'query') : undefined;
      const body = route.request.body ? parsePart(route.request.body, input.body ?? {}, 'body') : undefined;
      const result = await route.handler({
        params,
        query,
        body,
        principal: ctx.principal,
        access: orgAccess(ctx.principal),
        requestId: ctx.requestId,
        log: ctx.log,
        audit: { target: (t) => Object.assign(target, t) },
        // The console sends no Idempotency-Key: its writes have no answer to store.
        atomicAnswer: () => Promise.resolve(),
      });
      // A prebuilt route may answer with its JSON text (the list page): parsed here, so the console reads what a client
      // reads.
      const parsed = route.response.schema.safeParse(result instanceof RawJson ? JSON.parse(result.text) : result);
      if (!parsed.success) {
        throw new Error(`response of ${route.method.toUpperCase()} ${route.path} does not match its schema`);
      }
      return parsed.data as T;
    } catch (err) {
      status = err instanceof AppError ? err.httpStatus : 500;
      // Fields named as the API names them (`body.from`), whether the schema or the handler refused them.
      throw qualifyFieldPaths(route.request, err);
    } finally {
      if (route.method !== 'get') {
        await this.record(ctx, route, input, target, status);
      }
    }
  }

  private async record(
    ctx: CallContext,
    route: Route,
    input: CallInput,
    target: { type?: string | undefined; id?: string | undefined; organizationId?: string | null | undefined },
    status: number,
  ) {
    const paramId = input.params?.id;
    try {
      await this.audit.record({
        requestId: ctx.requestId,
        apiKeyId: ctx.principal.keyId,
        apiKeyPrefix: ctx.principal.keyPrefix,
        organizationId: target.organizationId !== undefined ? target.organizationId : ctx.principal.organizationId,
        method: route.method.toUpperCase(),
        route: route.path,
        targetType: target.type ?? route.auditTarget ?? null,
        targetId: target.id ?? (paramId !== undefined && paramId.length <= 200 ? paramId : null),
        statusCode: status,
      });
    } catch (err) {
      ctx.log.error({ err, status }, 'console audit write failed');
    }
  }
}
