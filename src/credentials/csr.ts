// @peculiar/x509 resolves its internals through tsyringe, which needs the Reflect metadata API loaded first.
import 'reflect-metadata';
import { createHash, createPublicKey, webcrypto } from 'node:crypto';
import {
  ExtendedKeyUsage,
  ExtendedKeyUsageExtension,
  KeyUsageFlags,
  KeyUsagesExtension,
  Pkcs10CertificateRequestGenerator,
  type JsonName,
} from '@peculiar/x509';
import type { JpmEnvironment } from '../domain/types.ts';
import { ValidationError, type FieldError } from '../shared/errors.ts';

/**
 * Key pair and PKCS#10 CSR generation with WebCrypto and @peculiar/x509 (no hand-made ASN.1).
 * Pure apart from randomness: storage and encryption happen in `key-pairs.ts`.
 */
export const KEY_ALGORITHMS = ['RSA-2048', 'RSA-3072', 'RSA-4096', 'EC-P256'] as const;
export type KeyAlgorithm = (typeof KEY_ALGORITHMS)[number];
export const DEFAULT_KEY_ALGORITHM: KeyAlgorithm = 'RSA-2048';

/** Subject fields as the admin gives them (X.500 C, ST, L, O, OU, CN). */
export interface CsrSubject {
  country: string;
  state?: string | undefined;
  locality?: string | undefined;
  organization: string;
  organizationalUnit?: string | undefined;
  /** Optional: derived from the integration name when absent; always carries the environment suffix. */
  commonName?: string | undefined;
}

/**
 * J.P. Morgan wants a different Common Name per environment, so a CAT certificate can never be
 * mistaken for (or counted against the two-active-certificates limit of) a production one.
 */
export const CN_SUFFIXES: Readonly<Record<JpmEnvironment, string>> = { simulator: '-sim', cat: '-cat', prod: '-prod' };

const CN_CHARS = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

function slug(text: string): string {
  return text
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 48);
}

/**
 * The CN for `environment`: the requested CN (or the integration name) with the environment's
 * suffix appended when missing. A CN carrying another environment's suffix is refused.
 */
export function commonNameFor(
  environment: JpmEnvironment,
  requested: string | undefined,
  integrationName: string,
): string {
  const suffix = CN_SUFFIXES[environment];
  const base = (requested ?? slug(integrationName)).trim();
  for (const [env, other] of Object.entries(CN_SUFFIXES)) {
    if (env !== environment && base.endsWith(other)) {
      throw new ValidationError(
        `common name ${JSON.stringify(base)} is for ${env}; a ${environment} CSR needs a CN ending in ${suffix}`,
        [{ path: 'subject.commonName', message: `must end in ${suffix} (or omit the suffix and it is added)` }],
      );
    }
  }
  const cn = base.endsWith(suffix) ? base : `${base}${suffix}`;
  if (!CN_CHARS.test(cn) || cn.length > 64) {
    throw new ValidationError(
      `common name ${JSON.stringify(cn)} must be 1-64 characters of letters, digits, '.', '_' and '-'`,
      [{ path: 'subject.commonName', message: 'letters, digits, . _ - only; at most 64 characters' }],
    );
  }
  return cn;
}

export function validateSubject(subject: CsrSubject): void {
  const fields: FieldError[] = [];
  if (!/^[A-Z]{2}$/.test(subject.country)) {
    fields.push({ path: 'subject.country', message: 'two upper-case letters (ISO 3166), e.g. US' });
  }
  if (subject.organization.trim() === '') {
    fields.push({ path: 'subject.organization', message: 'required' });
  }
  for (const [path, value] of [
    ['state', subject.state],
    ['locality', subject.locality],
    ['organization', subject.organization],
    ['organizationalUnit', subject.organizationalUnit],
  ] as const) {
    if (value !== undefined && (value.length > 64 || /[\r\n]/.test(value))) {
      fields.push({ path: `subject.${path}`, message: 'at most 64 characters, one line' });
    } else if (value !== undefined && (!value.isWellFormed() || /\p{Cc}/u.test(value))) {
      // A lone UTF-16 surrogate cannot be encoded as the certificate's UTF8String; control characters have no
      // place in a distinguished name.
      fields.push({
        path: `subject.${path}`,
        message: 'printable text only: no control characters or lone surrogates',
      });
    }
  }
  if (fields.length > 0) {
    throw new ValidationError('the CSR subject is invalid', fields);
  }
}

function subjectName(subject: CsrSubject, commonName: string): JsonName {
  const parts: JsonName = [{ C: [subject.country] }];
  const optional: [string, string | undefined][] = [
    ['ST', subject.state],
    ['L', subject.locality],
    ['O', subject.organization],
    ['OU', subject.organizationalUnit],
  ];
  for (const [type, value] of optional) {
    if (value !== undefined && value.trim() !== '') {
      parts.push({ [type]: [value.trim()] });
    }
  }
  parts.push({ CN: [commonName] });
  return parts;
}

function algorithmParams(algorithm: KeyAlgorithm): {
  generate: webcrypto.RsaHashedKeyGenParams | webcrypto.EcKeyGenParams;
  sign: webcrypto.Algorithm | webcrypto.EcdsaParams;
} {
  if (algorithm === 'EC-P256') {
    return {
      generate: { name: 'ECDSA', namedCurve: 'P-256' },
      sign: { name: 'ECDSA', hash: 'SHA-256' } satisfies webcrypto.EcdsaParams,
    };
  }
  const bits = Number(algorithm.slice(4));
  return {
    generate: {
      name: 'RSASSA-PKCS1-v1_5',
      modulusLength: bits,
      publicExponent: new Uint8Array([1, 0, 1]),
      hash: 'SHA-256',
    },
    sign: { name: 'RSASSA-PKCS1-v1_5' },
  };
}

/** SHA-256 (hex) of a public key's DER SubjectPublicKeyInfo, re-encoded by Node so encodings compare equal. */
export function publicKeySha256(spkiDer: ArrayBuffer | Buffer): string {
  const normalized = createPublicKey({ key: Buffer.from(spkiDer as ArrayBuffer), format: 'der', type: 'spki' }).export({
    type: 'spki',
    format: 'der',
  });
  return createHash('sha256').update(normalized).digest('hex');
}

export interface GeneratedCsr {
  /** PKCS#8 DER. The caller seals it immediately and zeroes the buffer. */
  privateKeyDer: Buffer;
  csrPem: string;
  subject: string;
  publicKeySha256: string;
}

export async function generateKeyAndCsr(
  algorithm: KeyAlgorithm,
  subject: CsrSubject,
  commonName: string,
): Promise<GeneratedCsr> {
  validateSubject(subject);
  const params = algorithmParams(algorithm);
  const keys = await webcrypto.subtle.generateKey(params.generate, true, ['sign', 'verify']);
  const usages =
    algorithm === 'EC-P256'
      ? KeyUsageFlags.digitalSignature
      : KeyUsageFlags.digitalSignature | KeyUsageFlags.keyEncipherment;
  const csr = await Pkcs10CertificateRequestGenerator.create({
    name: subjectName(subject, commonName),
    keys,
    signingAlgorithm: params.sign,
    extensions: [new KeyUsagesExtension(usages, true), new ExtendedKeyUsageExtension([ExtendedKeyUsage.clientAuth])],
  });
  const privateKeyDer = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  const spki = await webcrypto.subtle.exportKey('spki', keys.publicKey);
  return { privateKeyDer, csrPem: csr.toString('pem'), subject: csr.subject, publicKeySha256: publicKeySha256(spki) };
}
