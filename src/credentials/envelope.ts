import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { MasterKey, Secrets } from '../config/index.ts';
import { AppError } from '../shared/errors.ts';

/**
 * Envelope encryption of private keys at rest (AES-256-GCM twice):
 *   private key (PKCS#8 DER) --AES-256-GCM, random 32-byte data key--> ciphertext
 *   data key                 --AES-256-GCM, master key--------------> wrapped data key
 * Only the wrapped data key depends on the master key, so rotating the master key re-wraps 32 bytes
 * per key pair (`rewrapKeys`), and the master key id stored next to it says which key unwraps it.
 * Both layers bind the key pair id as additional authenticated data, so ciphertexts copied onto
 * another row fail to decrypt instead of silently handing out someone else's key.
 */
export interface SealedKey {
  privateKeyCiphertext: Buffer;
  privateKeyIv: Buffer;
  privateKeyAuthTag: Buffer;
  wrappedDataKey: Buffer;
  dataKeyIv: Buffer;
  dataKeyAuthTag: Buffer;
  masterKeyId: string;
}

export interface WrappedDataKey {
  wrappedDataKey: Buffer;
  dataKeyIv: Buffer;
  dataKeyAuthTag: Buffer;
  masterKeyId: string;
}

const ALGORITHM = 'aes-256-gcm';
const IV_BYTES = 12;
/**
 * GCM's tag is 16 bytes, and only a 16-byte tag is accepted: without `authTagLength` Node takes a shorter tag
 * (down to 4 bytes) and checks only that many, so a row with a truncated tag would be forgeable by trying 2^32 values.
 */
const TAG_BYTES = 16;

function seal(key: Buffer, plaintext: Buffer, aad: string): { ciphertext: Buffer; iv: Buffer; tag: Buffer } {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv(ALGORITHM, key, iv);
  cipher.setAAD(Buffer.from(aad, 'utf8'));
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return { ciphertext, iv, tag: cipher.getAuthTag() };
}

function open(key: Buffer, ciphertext: Buffer, iv: Buffer, tag: Buffer, aad: string): Buffer {
  if (tag.length !== TAG_BYTES) {
    throw new Error(`the authentication tag is ${tag.length} bytes, not ${TAG_BYTES}`);
  }
  const decipher = createDecipheriv(ALGORITHM, key, iv, { authTagLength: TAG_BYTES });
  decipher.setAAD(Buffer.from(aad, 'utf8'));
  decipher.setAuthTag(tag);
  return Buffer.concat([decipher.update(ciphertext), decipher.final()]);
}

const keyAad = (keyPairId: string) => `jpm-sync:key_pair:${keyPairId}:private_key`;
const dataKeyAad = (keyPairId: string) => `jpm-sync:key_pair:${keyPairId}:data_key`;

function wrap(dataKey: Buffer, master: MasterKey, keyPairId: string): WrappedDataKey {
  const w = seal(master.key, dataKey, dataKeyAad(keyPairId));
  return { wrappedDataKey: w.ciphertext, dataKeyIv: w.iv, dataKeyAuthTag: w.tag, masterKeyId: master.id };
}

function masterKeyFor(secrets: Pick<Secrets, 'masterKey' | 'previousMasterKeys'>, id: string): MasterKey {
  const key = [secrets.masterKey, ...secrets.previousMasterKeys].find((k) => k.id === id);
  if (!key) {
    // The message names the key id (a hash prefix), never key material.
    throw new AppError(
      `the master key ${id} that wrapped this private key is not configured (CREDENTIALS_MASTER_KEY / CREDENTIALS_PREVIOUS_MASTER_KEYS)`,
      {
        code: 'master_key_unavailable',
        httpStatus: 500,
        expose: false,
      },
    );
  }
  return key;
}

function unwrap(
  sealed: WrappedDataKey,
  secrets: Pick<Secrets, 'masterKey' | 'previousMasterKeys'>,
  keyPairId: string,
): Buffer {
  const master = masterKeyFor(secrets, sealed.masterKeyId);
  try {
    return open(master.key, sealed.wrappedDataKey, sealed.dataKeyIv, sealed.dataKeyAuthTag, dataKeyAad(keyPairId));
  } catch (err) {
    throw new AppError('a stored private key could not be unwrapped (wrong master key or tampered row)', {
      code: 'key_unwrap_failed',
      httpStatus: 500,
      expose: false,
      cause: err,
    });
  }
}

/** Encrypts a private key (DER) under a fresh data key wrapped by the current master key. */
export function sealPrivateKey(privateKeyDer: Buffer, master: MasterKey, keyPairId: string): SealedKey {
  const dataKey = randomBytes(32);
  try {
    const k = seal(dataKey, privateKeyDer, keyAad(keyPairId));
    return {
      privateKeyCiphertext: k.ciphertext,
      privateKeyIv: k.iv,
      privateKeyAuthTag: k.tag,
      ...wrap(dataKey, master, keyPairId),
    };
  } finally {
    dataKey.fill(0);
  }
}

/** Decrypts a private key; accepts the current and any previous master key. */
export function openPrivateKey(
  sealed: SealedKey,
  secrets: Pick<Secrets, 'masterKey' | 'previousMasterKeys'>,
  keyPairId: string,
): Buffer {
  const dataKey = unwrap(sealed, secrets, keyPairId);
  try {
    return open(dataKey, sealed.privateKeyCiphertext, sealed.privateKeyIv, sealed.privateKeyAuthTag, keyAad(keyPairId));
  } catch (err) {
    throw new AppError('a stored private key could not be decrypted (tampered row)', {
      code: 'key_decrypt_failed',
      httpStatus: 500,
      expose: false,
      cause: err,
    });
  } finally {
    dataKey.fill(0);
  }
}

/** Re-wraps the data key under the current master key; the private key ciphertext is untouched. */
export function rewrapDataKey(
  sealed: WrappedDataKey,
  secrets: Pick<Secrets, 'masterKey' | 'previousMasterKeys'>,
  keyPairId: string,
): WrappedDataKey {
  const dataKey = unwrap(sealed, secrets, keyPairId);
  try {
    return wrap(dataKey, secrets.masterKey, keyPairId);
  } finally {
    dataKey.fill(0);
  }
}
