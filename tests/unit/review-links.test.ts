import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  checkCsrf,
  csrfToken,
  deriveReviewKeys,
  reviewUrl,
  signReviewToken,
  verifyReviewToken,
} from '../../src/review/index.ts';

/** Review link tokens: only the service's key makes one, only until its expiry, for one link. */
const keys = deriveReviewKeys(randomBytes(32));
const other = deriveReviewKeys(randomBytes(32));
const LINK = '01900000-0000-7000-8000-0000000000e0';
const NOW = new Date('2026-12-06T10:00:00Z');
const LATER = new Date('2026-12-20T10:00:00Z');

describe('review link tokens', () => {
  it('verifies its own token until the expiry, then says expired', () => {
    const token = signReviewToken(keys, LINK, LATER);
    expect(verifyReviewToken(keys, token, NOW)).toEqual({ ok: true, linkId: LINK, expiresAt: LATER });
    expect(verifyReviewToken(keys, token, LATER)).toEqual({ ok: false, reason: 'expired' });
  });

  it('refuses another key, a changed id, a changed expiry and a changed signature', () => {
    const token = signReviewToken(keys, LINK, LATER);
    const [id, exp, mac] = token.split('.') as [string, string, string];
    expect(verifyReviewToken(other, token, NOW)).toMatchObject({ ok: false, reason: 'bad_signature' });
    expect(verifyReviewToken(keys, `${id.replace('e0', 'e1')}.${exp}.${mac}`, NOW)).toMatchObject({
      ok: false,
      reason: 'bad_signature',
    });
    expect(verifyReviewToken(keys, `${id}.${Number(exp) + 86_400}.${mac}`, NOW)).toMatchObject({
      ok: false,
      reason: 'bad_signature',
    });
    expect(
      verifyReviewToken(keys, `${id}.${exp}.${mac.slice(0, -1)}${mac.endsWith('A') ? 'B' : 'A'}`, NOW),
    ).toMatchObject({ ok: false, reason: 'bad_signature' });
  });

  it.each(['', 'x', `${LINK}.1`, `${LINK}.abc.def`, `not-a-uuid.1799999999.abc`, `${LINK}.1799999999.abc.extra`])(
    'refuses the malformed token %j',
    (t) => {
      expect(verifyReviewToken(keys, t, NOW)).toEqual({ ok: false, reason: 'malformed' });
    },
  );

  it('binds the CSRF token to the link and the key', () => {
    const csrf = csrfToken(keys, LINK);
    expect(checkCsrf(keys, LINK, csrf)).toBe(true);
    expect(checkCsrf(keys, '01900000-0000-7000-8000-0000000000e1', csrf)).toBe(false);
    expect(checkCsrf(other, LINK, csrf)).toBe(false);
    expect(checkCsrf(keys, LINK, undefined)).toBe(false);
    expect(checkCsrf(keys, LINK, ['a'])).toBe(false);
    // The CSRF token is not the link's signature (a different derived key).
    expect(signReviewToken(keys, LINK, LATER).endsWith(csrf)).toBe(false);
  });

  it('builds the page URL under the public base URL', () => {
    expect(reviewUrl('https://sync.example/', keys, { id: LINK, expires_at: LATER })).toBe(
      `https://sync.example/review/${signReviewToken(keys, LINK, LATER)}`,
    );
  });
});
