import type { Request, RequestHandler } from 'express';
import { roleAllows, type ApiKeyRole, type Permission, type Principal } from '../domain/access.ts';
import { AppError, NotFoundError } from '../shared/errors.ts';
import { apiKeyMatches, apiKeyPrefix } from './api-key-token.ts';
import { TooManyFailedAuthenticationsError, type AuthThrottle } from './auth-throttle.ts';
import { requestContext } from './request-context.ts';

/**
 * API key authentication and authorization.
 *  - missing, malformed, unknown or revoked key → 401 with `WWW-Authenticate: Bearer`
 *  - valid key whose role lacks the route's permission → 403 (table: src/domain/access.ts)
 *  - a resource of another organization than the key's → 404 (`assertOrgAccess`), so a key cannot
 *    even learn that the id exists.
 * The key row comes from the store (in the API process: src/http/api-key-cache.ts, which every key change
 * invalidates in the same transaction); the presented key's hash and the revocation are checked on every request.
 */

export interface StoredApiKey {
  id: string;
  prefix: string;
  keyHash: string;
  name: string;
  role: ApiKeyRole;
  organizationId: string | null;
  revokedAt: Date | null;
}

/** What auth needs from storage; main/ wires it to src/storage/api-keys.repo.ts. */
export interface ApiKeyStore {
  findByPrefix(prefix: string): Promise<StoredApiKey | undefined>;
  /** Records use (cheaply: implementations may skip when it was recorded recently). */
  markUsed(id: string): Promise<void>;
  /**
   * This process committed a key change: drop what is held now, without waiting for the notification (so the
   * process that revoked a key refuses it on its very next request; other processes follow once it arrives).
   */
  forget?(): void;
}

export class UnauthenticatedError extends AppError {
  constructor(code: 'unauthenticated' | 'invalid_api_key') {
    super(
      code === 'unauthenticated'
        ? 'Send an API key: Authorization: Bearer jpms_…'
        : 'The API key is malformed, unknown or revoked.',
      { code, httpStatus: 401 },
    );
  }
}

export class ForbiddenError extends AppError {
  constructor(message: string, code = 'forbidden') {
    super(message, { code, httpStatus: 403 });
  }
}

/**
 * The key presented with the request. `Authorization: Bearer <key>`; where `allowBasic` is set (the
 * bull-board UI, which a browser opens directly) also HTTP Basic with the key as the password.
 */
export function presentedKey(req: Request, allowBasic = false): string | undefined {
  const header = req.get('authorization');
  if (!header) {
    return undefined;
  }
  const parts = header.trim().split(/\s+/);
  if (parts.length !== 2) {
    // `Bearer <key> anything`: not a credential we read part of.
    return '';
  }
  const [scheme, value] = parts;
  if (scheme?.toLowerCase() === 'bearer' && value) {
    return value;
  }
  if (allowBasic && scheme?.toLowerCase() === 'basic' && value) {
    const decoded = Buffer.from(value, 'base64').toString('utf8');
    return decoded.slice(decoded.indexOf(':') + 1);
  }
  return '';
}

export async function authenticateKey(store: ApiKeyStore, token: string | undefined): Promise<Principal> {
  if (token === undefined) {
    throw new UnauthenticatedError('unauthenticated');
  }
  const prefix = apiKeyPrefix(token);
  const stored = prefix === undefined ? undefined : await store.findByPrefix(prefix);
  if (!stored || stored.revokedAt !== null || !apiKeyMatches(token, stored.keyHash)) {
    throw new UnauthenticatedError('invalid_api_key');
  }
  return {
    keyId: stored.id,
    keyPrefix: stored.prefix,
    name: stored.name,
    role: stored.role,
    organizationId: stored.organizationId,
  };
}

/** Use of a key is recorded at most this often per process (the store writes at most once a minute anyway). */
const MARK_USED_EVERY_MS = 60_000;

/**
 * Authenticates a presented key; a wrong one is counted by the throttle (src/http/auth-throttle.ts)
 * and answered 429 instead of 401 once its source or key prefix is over the limit. A correct key is
 * checked first and always passes.
 */
async function authenticateThrottled(
  req: Request,
  store: ApiKeyStore,
  token: string | undefined,
  throttle: AuthThrottle | undefined,
): Promise<Principal> {
  try {
    return await authenticateKey(store, token);
  } catch (err) {
    if (!throttle || token === undefined || !(err instanceof UnauthenticatedError)) {
      throw err;
    }
    const ctx = requestContext(req);
    // A malformed secret still counts against the prefix it names.
    const prefix = apiKeyPrefix(token) ?? /^jpms_([a-z0-9]{8})_/.exec(token)?.[1];
    const verdict = await throttle.recordFailure(req.ip ?? req.socket.remoteAddress ?? 'unknown', prefix, ctx.log);
    if (verdict.throttled) {
      ctx.log.warn({ keyPrefix: prefix, retryAfterMs: verdict.retryAfterMs }, 'failed authentications throttled');
      throw new TooManyFailedAuthenticationsError(verdict.retryAfterMs);
    }
    throw err;
  }
}

/** Sets the request's principal or fails with 401 (429 when failed attempts are throttled). */
export function authenticate(
  store: ApiKeyStore,
  options: { allowBasic?: boolean; throttle?: AuthThrottle | undefined } = {},
): RequestHandler {
  // Saves a database round trip on nearly every request (bench/read-api.ts); bounded by the number of keys.
  const lastMarked = new Map<string, number>();
  return async (req, _res, next) => {
    const ctx = requestContext(req);
    const principal = await authenticateThrottled(req, store, presentedKey(req, options.allowBasic), options.throttle);
    ctx.principal = principal;
    ctx.log = ctx.log.child({ apiKeyPrefix: principal.keyPrefix });
    const now = Date.now();
    if (now - (lastMarked.get(principal.keyId) ?? 0) >= MARK_USED_EVERY_MS) {
      lastMarked.set(principal.keyId, now);
      try {
        await store.markUsed(principal.keyId);
      } catch (err) {
        ctx.log.warn({ err }, 'recording api key use failed');
      }
    }
    next();
  };
}

export function assertPermission(principal: Principal, permission: Permission): void {
  if (!roleAllows(principal.role, permission)) {
    throw new ForbiddenError(`The ${principal.role} role does not have the ${permission} permission.`);
  }
}

/** 403 unless the authenticated key's role has `permission`. Runs after `authenticate`. */
export function authorize(permission: Permission): RequestHandler {
  return (req, _res, next) => {
    const { principal } = requestContext(req);
    if (!principal) {
      throw new UnauthenticatedError('unauthenticated');
    }
    assertPermission(principal, permission);
    next();
  };
}

/**
 * Organization scope checks, one call per handler:
 *  - `assert(orgId, 'integration', id)` before touching a loaded resource (404 for another org);
 *  - `filter(requestedOrgId)` for lists: the organization to restrict to (undefined = all);
 *  - `requireAllOrgs()` for actions only an unscoped key may take (creating organizations).
 */
export interface OrgAccess {
  readonly organizationId: string | null;
  assert(organizationId: string, resource: string, id: string): void;
  filter(requested?: string): string | undefined;
  requireAllOrgs(action: string): void;
}

export function orgAccess(principal: Principal): OrgAccess {
  const scope = principal.organizationId;
  return {
    organizationId: scope,
    assert(organizationId, resource, id) {
      if (scope !== null && organizationId !== scope) {
        throw new NotFoundError(resource, id);
      }
    },
    filter(requested) {
      if (scope === null) {
        return requested;
      }
      if (requested !== undefined && requested !== scope) {
        throw new NotFoundError('organization', requested);
      }
      return scope;
    },
    requireAllOrgs(action) {
      if (scope !== null) {
        throw new ForbiddenError(`Only a key valid for all organizations may ${action}.`, 'organization_scope');
      }
    },
  };
}
