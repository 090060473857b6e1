import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';

/**
 * Review link tokens: `<link id>.<expiry, unix seconds>.<HMAC-SHA256>`, base64url MAC over a
 * versioned label, the id and the expiry. The key is derived (HKDF) from the credentials master key,
 * so there is no second secret to manage; rotating the master key ends every open link (they are
 * short-lived and can be sent again). The link row in the database is checked too: a token is
 * only as good as the link it names (same expiry, contact still current).
 *
 * CSRF tokens for the page's two forms are MACs of the link id under a second derived key: bound
 * to the link, so a token from one link is useless on another.
 */
const LABEL = 'jpm-sync review link v1';

export interface ReviewKeys {
  link: Buffer;
  csrf: Buffer;
}

export function deriveReviewKeys(masterKey: Buffer): ReviewKeys {
  const derive = (info: string) => Buffer.from(hkdfSync('sha256', masterKey, Buffer.alloc(0), info, 32));
  return { link: derive(`${LABEL} signing`), csrf: derive(`${LABEL} csrf`) };
}

function mac(key: Buffer, text: string): string {
  return createHmac('sha256', key).update(text).digest('base64url');
}

export function signReviewToken(keys: ReviewKeys, linkId: string, expiresAt: Date): string {
  const exp = Math.floor(expiresAt.getTime() / 1000);
  return `${linkId}.${exp}.${mac(keys.link, `${LABEL}|${linkId}|${exp}`)}`;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function sameMac(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export type TokenCheck =
  { ok: true; linkId: string; expiresAt: Date } | { ok: false; reason: 'malformed' | 'bad_signature' | 'expired' };

/** Checks the signature first (nothing about a forged token is looked up), then the expiry. */
export function verifyReviewToken(keys: ReviewKeys, token: string, now: Date): TokenCheck {
  const [linkId, exp, sig, ...rest] = token.split('.');
  if (rest.length > 0 || !linkId || !exp || !sig || !UUID.test(linkId) || !/^\d{1,12}$/.test(exp)) {
    return { ok: false, reason: 'malformed' };
  }
  if (!sameMac(sig, mac(keys.link, `${LABEL}|${linkId}|${exp}`))) {
    return { ok: false, reason: 'bad_signature' };
  }
  const expiresAt = new Date(Number(exp) * 1000);
  if (expiresAt.getTime() <= now.getTime()) {
    return { ok: false, reason: 'expired' };
  }
  return { ok: true, linkId, expiresAt };
}

export function csrfToken(keys: ReviewKeys, linkId: string): string {
  return mac(keys.csrf, `${LABEL}|csrf|${linkId}`);
}

export function checkCsrf(keys: ReviewKeys, linkId: string, token: unknown): boolean {
  return typeof token === 'string' && sameMac(token, csrfToken(keys, linkId));
}

/** The page's URL for a link: `<base>/review/<token>`. */
export function reviewUrl(baseUrl: string, keys: ReviewKeys, link: { id: string; expires_at: Date }): string {
  return `${baseUrl.replace(/\/+$/, '')}/review/${signReviewToken(keys, link.id, link.expires_at)}`;
}
