import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

/**
 * Test certificates made directly with @peculiar/x509: a throwaway CA that signs our CSRs with any
 * validity window or extensions, so tests can build the bad certificates the simulator's CA never
 * issues (wrong key usage, CA flag, foreign issuer). The simulator's `signCsr` covers the good path.
 */
const SIGNING = { name: 'ECDSA', hash: 'SHA-256' };
const DAY_MS = 86_400_000;

export interface TestCa {
  cert: x509.X509Certificate;
  certPem: string;
  keys: webcrypto.CryptoKeyPair;
}

async function ecKeys(): Promise<webcrypto.CryptoKeyPair> {
  return webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify']);
}

export async function createTestCa(name = 'CN=Test CA, O=jpm-sync tests', issuer?: TestCa): Promise<TestCa> {
  const keys = await ecKeys();
  const extensions = [
    new x509.BasicConstraintsExtension(true, 1, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
    await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
  ];
  const notBefore = new Date(Date.now() - DAY_MS);
  const notAfter = new Date(Date.now() + 3650 * DAY_MS);
  const cert = issuer
    ? await x509.X509CertificateGenerator.create({
        subject: name,
        issuer: issuer.cert.subject,
        notBefore,
        notAfter,
        signingAlgorithm: SIGNING,
        publicKey: keys.publicKey,
        signingKey: issuer.keys.privateKey,
        extensions: [...extensions, await x509.AuthorityKeyIdentifierExtension.create(issuer.cert.publicKey)],
      })
    : await x509.X509CertificateGenerator.createSelfSigned({
        name,
        notBefore,
        notAfter,
        signingAlgorithm: SIGNING,
        keys,
        extensions,
      });
  return { cert, certPem: cert.toString('pem'), keys };
}

export interface IssueOptions {
  notBefore?: Date;
  days?: number;
  /** Default clientAuth; [] leaves the extension out. */
  eku?: string[];
  keyUsage?: number;
  isCa?: boolean;
  /** Override the subject (default: the CSR's). */
  subject?: string;
}

/** Issues a certificate for the public key (and by default the subject) of a CSR. */
export async function issueFromCsr(ca: TestCa, csrPem: string, options: IssueOptions = {}): Promise<string> {
  const csr = new x509.Pkcs10CertificateRequest(csrPem);
  return issueFor(ca, csr.publicKey, options.subject ?? csr.subject, options);
}

export async function issueFor(
  ca: TestCa,
  publicKey: x509.PublicKey | webcrypto.CryptoKey,
  subject: string,
  options: IssueOptions = {},
): Promise<string> {
  const notBefore = options.notBefore ?? new Date(Date.now() - 60_000);
  const eku = options.eku ?? [x509.ExtendedKeyUsage.clientAuth];
  const cert = await x509.X509CertificateGenerator.create({
    subject,
    issuer: ca.cert.subject,
    notBefore,
    notAfter: new Date(notBefore.getTime() + (options.days ?? 365) * DAY_MS),
    signingAlgorithm: SIGNING,
    publicKey,
    signingKey: ca.keys.privateKey,
    extensions: [
      new x509.BasicConstraintsExtension(options.isCa ?? false, undefined, true),
      new x509.KeyUsagesExtension(options.keyUsage ?? x509.KeyUsageFlags.digitalSignature, true),
      ...(eku.length > 0 ? [new x509.ExtendedKeyUsageExtension(eku)] : []),
      await x509.AuthorityKeyIdentifierExtension.create(ca.cert.publicKey),
    ],
  });
  return cert.toString('pem');
}

/** A certificate with the right subject but somebody else's key (a CSR mix-up). */
export async function issueForForeignKey(ca: TestCa, subject: string, options: IssueOptions = {}): Promise<string> {
  const keys = await ecKeys();
  return issueFor(ca, keys.publicKey, subject, options);
}

export const SERVER_AUTH_ONLY = [x509.ExtendedKeyUsage.serverAuth];
export const KEY_CERT_SIGN_ONLY = x509.KeyUsageFlags.keyCertSign;
