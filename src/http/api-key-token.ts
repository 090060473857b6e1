import { createHash, randomInt, timingSafeEqual } from 'node:crypto';

/**
 * API key format: `jpms_<prefix>_<secret>`. The 8-character prefix is public (shown in lists, logs
 * and the audit log, and used to find the key); the 40-character base62 secret carries 238 random
 * bits. Only SHA-256(whole key) is stored. A fast hash is right for keys this random (unlike
 * passwords there is nothing to guess, and a slow KDF would tax every request); the `jpms_` marker
 * lets secret scanners and our log scrubber recognise a leaked key.
 */
const PREFIX_ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';
const SECRET_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const KEY_FORMAT = /^jpms_([a-z0-9]{8})_([A-Za-z0-9]{40})$/;

function randomString(alphabet: string, length: number): string {
  let out = '';
  for (let i = 0; i < length; i++) {
    out += alphabet[randomInt(alphabet.length)];
  }
  return out;
}

export interface GeneratedApiKey {
  /** The full key: shown to its owner once, never stored or logged. */
  token: string;
  prefix: string;
  hash: string;
}

export function hashApiKey(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

export function generateApiKey(): GeneratedApiKey {
  const prefix = randomString(PREFIX_ALPHABET, 8);
  const token = `jpms_${prefix}_${randomString(SECRET_ALPHABET, 40)}`;
  return { token, prefix, hash: hashApiKey(token) };
}

/** The prefix of a well-formed key, or undefined. */
export function apiKeyPrefix(token: string): string | undefined {
  return KEY_FORMAT.exec(token)?.[1];
}

/** Constant-time comparison of a presented key against a stored hash. */
export function apiKeyMatches(token: string, storedHash: string): boolean {
  const a = Buffer.from(hashApiKey(token), 'hex');
  const b = Buffer.from(storedHash, 'hex');
  return a.length === b.length && timingSafeEqual(a, b);
}
