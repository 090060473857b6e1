import 'reflect-metadata';
import { createPrivateKey, createPublicKey, randomBytes } from 'node:crypto';
import { Pkcs10CertificateRequest } from '@peculiar/x509';
import { describe, expect, it } from 'vitest';
import {
  chainProblems,
  parseCertificatePem,
  usageProblems,
  validityProblem,
} from '../../src/credentials/certificate-check.ts';
import { commonNameFor, generateKeyAndCsr, KEY_ALGORITHMS, publicKeySha256 } from '../../src/credentials/csr.ts';
import { openPrivateKey, rewrapDataKey, sealPrivateKey } from '../../src/credentials/envelope.ts';
import { AppError, ValidationError } from '../../src/shared/errors.ts';
import {
  createTestCa,
  issueForForeignKey,
  issueFromCsr,
  KEY_CERT_SIGN_ONLY,
  SERVER_AUTH_ONLY,
} from '../factories/certificates.ts';

const master = (id: string) => ({ id, key: randomBytes(32) });
const SUBJECT = {
  country: 'US',
  state: 'New York',
  locality: 'New York',
  organization: 'Acme, Inc.',
  organizationalUnit: 'Treasury',
};

describe('envelope encryption', () => {
  const plaintext = randomBytes(1200);

  it('round-trips, and the ciphertext does not contain the plaintext', () => {
    const m = master('m1');
    const sealed = sealPrivateKey(plaintext, m, 'kp-1');
    expect(sealed.masterKeyId).toBe('m1');
    expect(sealed.privateKeyCiphertext.equals(plaintext)).toBe(false);
    expect(sealed.privateKeyCiphertext.includes(plaintext.subarray(0, 32))).toBe(false);
    expect(sealed.privateKeyIv).toHaveLength(12);
    expect(sealed.privateKeyAuthTag).toHaveLength(16);
    expect(openPrivateKey(sealed, { masterKey: m, previousMasterKeys: [] }, 'kp-1').equals(plaintext)).toBe(true);
  });

  it('uses a fresh data key and IV every time', () => {
    const m = master('m1');
    const a = sealPrivateKey(plaintext, m, 'kp-1');
    const b = sealPrivateKey(plaintext, m, 'kp-1');
    expect(a.privateKeyCiphertext.equals(b.privateKeyCiphertext)).toBe(false);
    expect(a.wrappedDataKey.equals(b.wrappedDataKey)).toBe(false);
  });

  it('refuses a ciphertext moved to another key pair id (bound as associated data)', () => {
    const m = master('m1');
    const sealed = sealPrivateKey(plaintext, m, 'kp-1');
    expect(() => openPrivateKey(sealed, { masterKey: m, previousMasterKeys: [] }, 'kp-2')).toThrow(
      expect.objectContaining({ code: 'key_unwrap_failed' }),
    );
  });

  it('refuses a tampered ciphertext', () => {
    const m = master('m1');
    const sealed = sealPrivateKey(plaintext, m, 'kp-1');
    sealed.privateKeyCiphertext[10] = (sealed.privateKeyCiphertext[10] ?? 0) ^ 0xff;
    expect(() => openPrivateKey(sealed, { masterKey: m, previousMasterKeys: [] }, 'kp-1')).toThrow(
      expect.objectContaining({ code: 'key_decrypt_failed' }),
    );
  });

  it('refuses an authentication tag shorter than 16 bytes, even a true prefix of the right one', () => {
    const m = master('m1');
    const secrets = { masterKey: m, previousMasterKeys: [] };
    for (const bytes of [4, 8, 12, 15]) {
      const keyTag = sealPrivateKey(plaintext, m, 'kp-1');
      keyTag.privateKeyAuthTag = keyTag.privateKeyAuthTag.subarray(0, bytes);
      expect(() => openPrivateKey(keyTag, secrets, 'kp-1'), `${bytes}-byte key tag`).toThrow(
        expect.objectContaining({ code: 'key_decrypt_failed' }),
      );
      const dataKeyTag = sealPrivateKey(plaintext, m, 'kp-1');
      dataKeyTag.dataKeyAuthTag = dataKeyTag.dataKeyAuthTag.subarray(0, bytes);
      expect(() => openPrivateKey(dataKeyTag, secrets, 'kp-1'), `${bytes}-byte data key tag`).toThrow(
        expect.objectContaining({ code: 'key_unwrap_failed' }),
      );
      expect(() => rewrapDataKey(dataKeyTag, secrets, 'kp-1'), `${bytes}-byte tag, rewrap`).toThrow(
        expect.objectContaining({ code: 'key_unwrap_failed' }),
      );
    }
  });

  it('needs the master key named by the row; previous keys unwrap and rewrap moves to the current one', () => {
    const old = master('old');
    const next = master('new');
    const sealed = sealPrivateKey(plaintext, old, 'kp-1');
    expect(() => openPrivateKey(sealed, { masterKey: next, previousMasterKeys: [] }, 'kp-1')).toThrow(AppError);
    const both = { masterKey: next, previousMasterKeys: [old] };
    expect(openPrivateKey(sealed, both, 'kp-1').equals(plaintext)).toBe(true);
    const rewrapped = { ...sealed, ...rewrapDataKey(sealed, both, 'kp-1') };
    expect(rewrapped.masterKeyId).toBe('new');
    expect(rewrapped.privateKeyCiphertext).toBe(sealed.privateKeyCiphertext);
    expect(openPrivateKey(rewrapped, { masterKey: next, previousMasterKeys: [] }, 'kp-1').equals(plaintext)).toBe(true);
  });

  it('says which master key is missing without quoting key material', () => {
    const sealed = sealPrivateKey(plaintext, master('gone'), 'kp-1');
    const m = master('m1');
    try {
      openPrivateKey(sealed, { masterKey: m, previousMasterKeys: [] }, 'kp-1');
      expect.unreachable();
    } catch (err) {
      expect(err).toMatchObject({ code: 'master_key_unavailable', expose: false });
      expect((err as Error).message).toContain('gone');
      expect((err as Error).message).not.toContain(m.key.toString('base64'));
    }
  });
});

describe('common name per environment', () => {
  it.each([
    ['cat', undefined, 'Acme Treasury', 'acme-treasury-cat'],
    ['prod', undefined, 'Acme Treasury', 'acme-treasury-prod'],
    ['simulator', undefined, 'Acme Treasury', 'acme-treasury-sim'],
    ['prod', 'acme-jpm', 'x', 'acme-jpm-prod'],
    ['cat', 'acme-jpm-cat', 'x', 'acme-jpm-cat'],
  ] as const)('%s with %s / %s → %s', (env, cn, name, want) => {
    expect(commonNameFor(env, cn, name)).toBe(want);
  });

  it("refuses another environment's CN", () => {
    expect(() => commonNameFor('prod', 'acme-jpm-cat', 'x')).toThrow(
      /is for cat; a prod CSR needs a CN ending in -prod/,
    );
    expect(() => commonNameFor('cat', 'acme jpm', 'x')).toThrow(ValidationError);
  });
});

describe('key pair and CSR generation', () => {
  it.each(KEY_ALGORITHMS)('%s: a CSR that verifies, with the subject and a matching PKCS#8 key', async (algorithm) => {
    const g = await generateKeyAndCsr(algorithm, SUBJECT, 'acme-treasury-cat');
    const csr = new Pkcs10CertificateRequest(g.csrPem);
    expect(await csr.verify()).toBe(true);
    expect(csr.subject).toBe('C=US, ST=New York, L=New York, O=Acme\\, Inc., OU=Treasury, CN=acme-treasury-cat');
    expect(g.subject).toBe(csr.subject);
    const key = createPrivateKey({ key: g.privateKeyDer, format: 'der', type: 'pkcs8' });
    expect(key.asymmetricKeyType).toBe(algorithm === 'EC-P256' ? 'ec' : 'rsa');
    if (algorithm !== 'EC-P256') {
      expect(key.asymmetricKeyDetails?.modulusLength).toBe(Number(algorithm.slice(4)));
    }
    const spki = createPublicKey(key).export({ type: 'spki', format: 'der' });
    expect(publicKeySha256(spki)).toBe(g.publicKeySha256);
    expect(g.csrPem).not.toContain('PRIVATE KEY');
  });

  it('refuses a bad subject', async () => {
    await expect(generateKeyAndCsr('RSA-2048', { ...SUBJECT, country: 'USA' }, 'a-cat')).rejects.toThrow(
      ValidationError,
    );
    await expect(generateKeyAndCsr('RSA-2048', { ...SUBJECT, organization: ' ' }, 'a-cat')).rejects.toThrow(
      ValidationError,
    );
  });
});

describe('certificate checks', () => {
  it('validity window: not yet valid and expired, with the dates', () => {
    const nb = new Date('2026-01-01T00:00:00Z');
    const na = new Date('2027-01-01T00:00:00Z');
    expect(validityProblem(nb, na, new Date('2025-12-31T23:59:59Z'))).toBe(
      'the certificate is not yet valid: valid from 2026-01-01T00:00:00.000Z',
    );
    expect(validityProblem(nb, na, na)).toBe('the certificate expired on 2027-01-01T00:00:00.000Z');
    expect(validityProblem(nb, na, new Date('2026-06-01T00:00:00Z'))).toBeUndefined();
  });

  it('usage: clientAuth, digitalSignature, not a CA', async () => {
    const ca = await createTestCa();
    const { csrPem } = await generateKeyAndCsr('EC-P256', SUBJECT, 'acme-cat');
    expect(usageProblems(parseCertificatePem(await issueFromCsr(ca, csrPem)).cert)).toEqual([]);
    expect(usageProblems(parseCertificatePem(await issueFromCsr(ca, csrPem, { eku: SERVER_AUTH_ONLY })).cert)).toEqual([
      'extended key usage does not include clientAuth (TLS client authentication)',
    ]);
    expect(
      usageProblems(
        parseCertificatePem(await issueFromCsr(ca, csrPem, { keyUsage: KEY_CERT_SIGN_ONLY, isCa: true })).cert,
      ),
    ).toEqual([
      'the certificate is a CA certificate, not a client certificate',
      'key usage does not include digitalSignature, which a TLS client certificate needs',
    ]);
  });

  it('chain: accepted from its issuer (pasted after the leaf or given apart), refused from another CA', async () => {
    const root = await createTestCa('CN=Root, O=t');
    const intermediate = await createTestCa('CN=Intermediate, O=t', root);
    const other = await createTestCa('CN=Other, O=t');
    const { csrPem } = await generateKeyAndCsr('EC-P256', SUBJECT, 'acme-cat');
    const leaf = await issueFromCsr(intermediate, csrPem);
    const now = new Date();
    expect(await chainProblems(parseCertificatePem(`${leaf}\n${intermediate.certPem}`, root.certPem), now)).toEqual([]);
    expect(await chainProblems(parseCertificatePem(leaf, intermediate.certPem), now)).toEqual([]);
    expect(await chainProblems(parseCertificatePem(leaf, other.certPem), now)).toEqual([
      'the certificate was not issued by the given chain/CA (issuer CN=Intermediate, O=t not found or signature invalid)',
    ]);
    expect(await chainProblems(parseCertificatePem(leaf), now)).toEqual([]);
  });

  it('parses fingerprint, serial, CN and the public key hash; refuses junk and private keys', async () => {
    const ca = await createTestCa();
    const g = await generateKeyAndCsr('RSA-2048', SUBJECT, 'acme-cat');
    const parsed = parseCertificatePem(await issueFromCsr(ca, g.csrPem));
    expect(parsed.subjectCn).toBe('acme-cat');
    expect(parsed.publicKeySha256).toBe(g.publicKeySha256);
    expect(parsed.fingerprintSha256).toMatch(/^[0-9a-f]{64}$/);
    const foreign = parseCertificatePem(await issueForForeignKey(ca, 'CN=acme-cat'));
    expect(foreign.publicKeySha256).not.toBe(g.publicKeySha256);
    expect(() => parseCertificatePem('hello')).toThrow(expect.objectContaining({ code: 'certificate_invalid' }));
    expect(() => parseCertificatePem('-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----')).toThrow(
      expect.objectContaining({ code: 'certificate_contains_private_key' }),
    );
  });
});
