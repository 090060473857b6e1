import { describe, expect, it } from 'vitest';
import { retryDelayMs } from '../../src/shared/backoff.ts';
import {
  generateWebhookSecret,
  openSecret,
  sealSecret,
  signatureHeader,
  verifySignature,
} from '../../src/events/webhook-signing.ts';
import { comparePositions, decodeFeedCursor, encodeFeedCursor } from '../../src/events/change-feed.ts';

const keys = {
  masterKey: { id: 'k1', key: Buffer.alloc(32, 7) },
  previousMasterKeys: [{ id: 'k0', key: Buffer.alloc(32, 3) }],
};

describe('webhook signing', () => {
  it('seals a secret so that only the same endpoint and version open it', () => {
    const secret = generateWebhookSecret();
    const sealed = sealSecret(secret, keys, 'endpoint-1', 1);
    expect(sealed.ciphertext.toString('utf8')).not.toContain(secret.slice(6));
    expect(openSecret(sealed, keys, 'endpoint-1', 1)).toBe(secret);
    expect(() => openSecret(sealed, keys, 'endpoint-2', 1)).toThrow(/could not be decrypted/);
    expect(() => openSecret(sealed, keys, 'endpoint-1', 2)).toThrow(/could not be decrypted/);
    // After a master key rotation the former key still opens it.
    const rotated = { masterKey: { id: 'k2', key: Buffer.alloc(32, 9) }, previousMasterKeys: [keys.masterKey] };
    expect(openSecret(sealed, rotated, 'endpoint-1', 1)).toBe(secret);
    expect(() => openSecret(sealed, { masterKey: rotated.masterKey, previousMasterKeys: [] }, 'endpoint-1', 1)).toThrow(
      /not configured/,
    );
  });

  it('refuses an authentication tag shorter than 16 bytes, even a true prefix of the right one', () => {
    const sealed = sealSecret(generateWebhookSecret(), keys, 'endpoint-1', 1);
    for (const bytes of [4, 8, 12, 15]) {
      const truncated = { ...sealed, authTag: sealed.authTag.subarray(0, bytes) };
      expect(() => openSecret(truncated, keys, 'endpoint-1', 1), `${bytes}-byte tag`).toThrow(
        expect.objectContaining({ code: 'webhook_secret_unreadable' }),
      );
    }
  });

  it('verifies t and any v1, rejects tampering, other secrets and stale timestamps', () => {
    const now = 1_764_000_000_000;
    const t = now / 1000;
    const header = signatureHeader(['whsec_new', 'whsec_old'], t, '{"a":1}');
    expect(header).toMatch(/^t=1764000000,v1=[0-9a-f]{64},v1=[0-9a-f]{64}$/);
    expect(verifySignature(header, '{"a":1}', 'whsec_new', { now })).toBe(true);
    expect(verifySignature(header, '{"a":1}', 'whsec_old', { now })).toBe(true);
    expect(verifySignature(header, '{"a":2}', 'whsec_new', { now })).toBe(false);
    expect(verifySignature(header, '{"a":1}', 'whsec_other', { now })).toBe(false);
    expect(verifySignature(header, '{"a":1}', 'whsec_new', { now: now + 301_000 })).toBe(false);
    expect(verifySignature('t=1764000000,v1=zz', '{"a":1}', 'whsec_new', { now })).toBe(false);
    expect(verifySignature('v1=00', '{"a":1}', 'whsec_new', { now })).toBe(false);
  });

  it('backs off exponentially with jitter, capped', () => {
    const retry = { baseMs: 30_000, maxMs: 3_600_000 };
    expect(retryDelayMs(1, retry, () => 1)).toBe(30_000);
    expect(retryDelayMs(1, retry, () => 0)).toBe(15_000);
    expect(retryDelayMs(3, retry, () => 1)).toBe(120_000);
    expect(retryDelayMs(20, retry, () => 1)).toBe(3_600_000);
  });
});

describe('change-feed cursors', () => {
  it('round-trip and order positions as 64-bit integers, not text', () => {
    const c = { epoch: 3, xid: '18446744073709551000', id: '9' };
    expect(decodeFeedCursor(encodeFeedCursor(c))).toEqual(c);
    expect(comparePositions({ xid: '100', id: '9' }, { xid: '100', id: '10' })).toBe(-1);
    expect(comparePositions({ xid: '99', id: '10' }, { xid: '100', id: '1' })).toBe(-1);
    expect(comparePositions({ xid: '100', id: '10' }, { xid: '100', id: '10' })).toBe(0);
    expect(() => decodeFeedCursor('eyJ2IjoxfQ')).toThrow(/invalid/);
  });
});
