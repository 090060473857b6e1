import { createCipheriv, createDecipheriv, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { AppError } from '../shared/errors.ts';

/**
 * Webhook signing secrets and signatures.
 *
 * Signature (Stripe-style, documented in the README with a verification snippet):
 *   JPM-Sync-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, `${t}.${rawBody}`)>[,v1=<with the previous secret>]
 * The timestamp is signed with the body, so a captured delivery cannot be replayed later than the
 * receiver's tolerance; during a rotation's grace period both secrets sign, so a receiver that still
 * has the old secret keeps verifying.
 *
 * Secrets are random 32 bytes, shown once as `whsec_<base64url>`. Signing needs them in clear, so
 * they cannot be hashed: they are sealed with AES-256-GCM under the credentials master key, with the
 * endpoint id and secret version as additional authenticated data (a ciphertext copied onto
 * another endpoint or version fails to open).
 */
export const SIGNATURE_HEADER = 'JPM-Sync-Signature';
const SECRET_PREFIX = 'whsec_';

/** The master keys as src/config's Secrets carries them (structural, so events does not import config). */
export interface MasterKeyRef {
  id: string;
  key: Buffer;
}
export interface SealingKeys {
  masterKey: MasterKeyRef;
  previousMasterKeys: readonly MasterKeyRef[];
}

export interface SealedSecret {
  ciphertext: Buffer;
  iv: Buffer;
  authTag: Buffer;
  keyId: string;
}

export function generateWebhookSecret(): string {
  return `${SECRET_PREFIX}${randomBytes(32).toString('base64url')}`;
}

const TAG_BYTES = 16;

const aad = (endpointId: string, version: number) =>
  Buffer.from(`jpm-sync:webhook_endpoint:${endpointId}:secret:${version}`, 'utf8');

export function sealSecret(secret: string, keys: SealingKeys, endpointId: string, version: number): SealedSecret {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', keys.masterKey.key, iv);
  cipher.setAAD(aad(endpointId, version));
  const ciphertext = Buffer.concat([cipher.update(secret, 'utf8'), cipher.final()]);
  return { ciphertext, iv, authTag: cipher.getAuthTag(), keyId: keys.masterKey.id };
}

export function openSecret(sealed: SealedSecret, keys: SealingKeys, endpointId: string, version: number): string {
  const master = [keys.masterKey, ...keys.previousMasterKeys].find((k) => k.id === sealed.keyId);
  if (!master) {
    throw new AppError(`the master key ${sealed.keyId} that sealed this webhook secret is not configured`, {
      code: 'master_key_unavailable',
      httpStatus: 500,
      expose: false,
    });
  }
  try {
    // Only a full 16-byte tag: without `authTagLength` Node accepts a truncated one (down to 4 bytes) and checks
    // only that many bytes of it.
    if (sealed.authTag.length !== TAG_BYTES) {
      throw new Error(`the authentication tag is ${sealed.authTag.length} bytes, not ${TAG_BYTES}`);
    }
    const decipher = createDecipheriv('aes-256-gcm', master.key, sealed.iv, { authTagLength: TAG_BYTES });
    decipher.setAAD(aad(endpointId, version));
    decipher.setAuthTag(sealed.authTag);
    return Buffer.concat([decipher.update(sealed.ciphertext), decipher.final()]).toString('utf8');
  } catch (err) {
    throw new AppError('a stored webhook secret could not be decrypted (wrong master key or tampered row)', {
      code: 'webhook_secret_unreadable',
      httpStatus: 500,
      expose: false,
      cause: err,
    });
  }
}

export function signature(secret: string, timestamp: number, body: string): string {
  return createHmac('sha256', secret).update(`${timestamp}.${body}`, 'utf8').digest('hex');
}

/** The header value: one `v1=` per secret (current first, then the one still in its grace period). */
export function signatureHeader(secrets: readonly string[], timestamp: number, body: string): string {
  return [`t=${timestamp}`, ...secrets.map((s) => `v1=${signature(s, timestamp, body)}`)].join(',');
}

/**
 * What a receiver does (the README shows the same in a self-contained snippet): true when one `v1`
 * matches and the timestamp is within `toleranceSeconds` of now.
 */
export function verifySignature(
  header: string,
  body: string,
  secret: string,
  options: { toleranceSeconds?: number; now?: number } = {},
): boolean {
  const parts = header.split(',').map((p) => p.trim().split('='));
  const t = Number(parts.find(([k]) => k === 't')?.[1]);
  if (!Number.isInteger(t)) {
    return false;
  }
  const now = Math.floor((options.now ?? Date.now()) / 1000);
  if (Math.abs(now - t) > (options.toleranceSeconds ?? 300)) {
    return false;
  }
  const expected = Buffer.from(signature(secret, t, body), 'hex');
  return parts.some(([k, v]) => {
    const given = k === 'v1' && v !== undefined ? Buffer.from(v, 'hex') : Buffer.alloc(0);
    return given.length === expected.length && timingSafeEqual(given, expected);
  });
}
