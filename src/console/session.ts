import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Request, Response } from 'express';
import type { Principal } from '../domain/access.ts';
import type { ApiKeyStore } from '../http/auth.ts';
import { keyspace, type RedisConnection } from '../shared/redis.ts';

/**
 * Console sessions. Signing in with an API key creates a session held server-side in Redis; the
 * browser only gets an opaque random token (httpOnly, SameSite=Strict, Secure outside development,
 * `__Host-` prefixed when Secure) and Redis only the token's SHA-256, so neither a copied cookie jar
 * nor a Redis dump alone yields the other. The key itself is never stored: every request looks the
 * key up again by its id (src/http/auth.ts's store), so revoking the key, or changing its role or
 * organization, takes effect on the next click, as it does for the API.
 *
 * Every session carries its own CSRF token (synchronizer pattern), rendered into each form and
 * checked on every POST; the sign-in form, which has no session yet, uses a double-submit cookie.
 */
export interface SessionData {
  keyId: string;
  keyPrefix: string;
  csrf: string;
  createdAt: number;
  flash?: Flash | undefined;
}

export interface Flash {
  kind: 'ok' | 'error';
  text: string;
  fields?: { path: string; message: string }[];
  link?: { href: string; text: string };
  /** An error that is an outcome (a failed connection test), not a refused action: no "Not done" prefix. */
  outcome?: boolean;
}

export interface Session extends SessionData {
  id: string;
  principal: Principal;
}

/** Idle timeout (sliding) and the hard limit after which a person signs in again. */
const IDLE_MS = 8 * 3_600_000;
const ABSOLUTE_MS = 12 * 3_600_000;

export interface SessionSettings {
  redis: RedisConnection;
  keyPrefix: string;
  /** Secure cookies (everywhere but development and test over plain http). */
  secure: boolean;
  apiKeys: ApiKeyStore;
}

export function randomToken(): string {
  return randomBytes(32).toString('base64url');
}

export function sameToken(a: string | undefined, b: string | undefined): boolean {
  if (typeof a !== 'string' || typeof b !== 'string' || a.length === 0) {
    return false;
  }
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export function readCookie(req: Request, name: string): string | undefined {
  const header = req.get('cookie');
  if (!header) {
    return undefined;
  }
  for (const part of header.split(';')) {
    const at = part.indexOf('=');
    if (at > 0 && part.slice(0, at).trim() === name) {
      return part.slice(at + 1).trim();
    }
  }
  return undefined;
}

export class SessionStore {
  readonly cookieName: string;
  readonly preCookieName: string;
  private readonly s: SessionSettings;
  private readonly keys: (...parts: string[]) => string;

  constructor(settings: SessionSettings) {
    this.s = settings;
    this.keys = keyspace(settings.keyPrefix);
    this.cookieName = settings.secure ? '__Host-jpms_console' : 'jpms_console';
    this.preCookieName = settings.secure ? '__Host-jpms_console_signin' : 'jpms_console_signin';
  }

  private key(token: string): string {
    return this.keys('console', 'session', createHash('sha256').update(token).digest('hex'));
  }

  cookie(res: Response, name: string, value: string, maxAgeMs: number): void {
    res.cookie(name, value, { httpOnly: true, sameSite: 'strict', secure: this.s.secure, path: '/', maxAge: maxAgeMs });
  }

  clearCookie(res: Response, name: string): void {
    res.clearCookie(name, { httpOnly: true, sameSite: 'strict', secure: this.s.secure, path: '/' });
  }

  /** A fresh session for a key that just authenticated (always a new token: no session fixation). */
  async create(res: Response, principal: Principal): Promise<void> {
    const token = randomToken();
    const data: SessionData = {
      keyId: principal.keyId,
      keyPrefix: principal.keyPrefix,
      csrf: randomToken(),
      createdAt: Date.now(),
    };
    await this.s.redis.set(this.key(token), JSON.stringify(data), 'PX', IDLE_MS);
    this.cookie(res, this.cookieName, token, ABSOLUTE_MS);
  }

  /**
   * The request's session with the key's current principal, or undefined (no cookie, expired, or the
   * key revoked: then the session is deleted too). `slide: false` (a page's own background polling)
   * reads the session without extending its idle timeout: an open tab watching a long run does not keep
   * an unattended session alive.
   */
  async load(req: Request, opts: { slide?: boolean } = {}): Promise<Session | undefined> {
    const token = readCookie(req, this.cookieName);
    if (!token || !/^[A-Za-z0-9_-]{43}$/.test(token)) {
      return undefined;
    }
    const key = this.key(token);
    const text = await this.s.redis.get(key);
    if (!text) {
      return undefined;
    }
    const data = JSON.parse(text) as SessionData;
    const stored = await this.s.apiKeys.findByPrefix(data.keyPrefix);
    if (!stored || stored.id !== data.keyId || stored.revokedAt !== null || Date.now() - data.createdAt > ABSOLUTE_MS) {
      await this.s.redis.del(key);
      return undefined;
    }
    if (opts.slide !== false) {
      await this.s.redis.pexpire(key, IDLE_MS);
    }
    return {
      ...data,
      id: key,
      principal: {
        keyId: stored.id,
        keyPrefix: stored.prefix,
        name: stored.name,
        role: stored.role,
        organizationId: stored.organizationId,
      },
    };
  }

  async save(session: Session): Promise<void> {
    const data: SessionData = {
      keyId: session.keyId,
      keyPrefix: session.keyPrefix,
      csrf: session.csrf,
      createdAt: session.createdAt,
      flash: session.flash,
    };
    // Only while the session exists (XX): a request still in flight when its session was signed out, revoked or
    // expired must not bring it back when it saves its message.
    await this.s.redis.set(session.id, JSON.stringify(data), 'PX', IDLE_MS, 'XX');
  }

  async destroy(res: Response, session: Session): Promise<void> {
    await this.s.redis.del(session.id);
    this.clearCookie(res, this.cookieName);
  }
}
