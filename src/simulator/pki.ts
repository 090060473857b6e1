// @peculiar/x509 resolves its internals through tsyringe, which needs the Reflect metadata API first.
import 'reflect-metadata';
import { randomBytes, webcrypto } from 'node:crypto';
import { mkdir, open, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';

/**
 * The simulator's development PKI. J.P. Morgan issues each client a transport certificate from a CSR
 * (API-NOTES §2.3); the simulator does the same with its own dev CA, and its HTTPS server trusts only
 * that CA, so a client without a certificate, or with one from any other CA, fails the TLS handshake.
 *
 * Keys are ECDSA P-256 (fast to generate, accepted by every TLS stack we use). CSRs may carry RSA or
 * EC keys: `signCsr` certifies whatever public key the CSR holds, after checking its signature.
 */
export interface DevPki {
  caCertPem: string;
  caKeyPem: string;
  serverCertPem: string;
  serverKeyPem: string;
}

export interface SignCsrOptions {
  /** Validity in days from `notBefore` (default 365). */
  days?: number;
  /** Start of validity (default: one minute ago, to tolerate small clock skew). */
  notBefore?: Date;
}

export interface ClientCredential {
  keyPem: string;
  certPem: string;
  csrPem: string;
}

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;

const crypto = webcrypto;
x509.cryptoProvider.set(crypto);

const EC: webcrypto.EcKeyGenParams = { name: 'ECDSA', namedCurve: 'P-256' };
const SIGNING: webcrypto.EcdsaParams = { name: 'ECDSA', hash: 'SHA-256' };
const DAY_MS = 86_400_000;

export const PKI_FILES = {
  caCert: 'ca.crt',
  caKey: 'ca.key',
  serverCert: 'server.crt',
  serverKey: 'server.key',
} as const;

/** A positive serial number (20 hex digits, top bit clear) as RFC 5280 asks. */
function serialNumber(): string {
  const bytes = randomBytes(10);
  bytes[0] = (bytes[0] ?? 0) & 0x7f;
  return bytes.toString('hex');
}

async function generateKeys(): Promise<CryptoKeyPair> {
  return crypto.subtle.generateKey(EC, true, ['sign', 'verify']);
}

async function privateKeyPem(key: CryptoKey): Promise<string> {
  const der = await crypto.subtle.exportKey('pkcs8', key);
  return x509.PemConverter.encode(der, 'PRIVATE KEY');
}

async function importEcPrivateKey(pem: string): Promise<CryptoKey> {
  const der = x509.PemConverter.decodeFirst(pem);
  return crypto.subtle.importKey('pkcs8', der, EC, false, ['sign']);
}

async function createCa(): Promise<{ certPem: string; keyPem: string }> {
  const keys = await generateKeys();
  const notBefore = new Date(Date.now() - 60_000);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serialNumber(),
    name: 'CN=jpm-sync Dev Simulator CA, O=jpm-sync development',
    notBefore,
    notAfter: new Date(notBefore.getTime() + 3650 * DAY_MS),
    signingAlgorithm: SIGNING,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certPem: cert.toString('pem'), keyPem: await privateKeyPem(keys.privateKey) };
}

interface IssueParams {
  caCertPem: string;
  caKeyPem: string;
  subject: string;
  publicKey: x509.PublicKey | CryptoKey;
  notBefore: Date;
  days: number;
  extensions: x509.Extension[];
}

async function issue(params: IssueParams): Promise<string> {
  const ca = new x509.X509Certificate(params.caCertPem);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serialNumber(),
    subject: params.subject,
    issuer: ca.subject,
    notBefore: params.notBefore,
    notAfter: new Date(params.notBefore.getTime() + params.days * DAY_MS),
    signingAlgorithm: SIGNING,
    publicKey: params.publicKey,
    signingKey: await importEcPrivateKey(params.caKeyPem),
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      ...params.extensions,
      await x509.SubjectKeyIdentifierExtension.create(params.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(ca.publicKey),
    ],
  });
  return cert.toString('pem');
}

async function createServer(ca: { certPem: string; keyPem: string }): Promise<{ certPem: string; keyPem: string }> {
  const keys = await generateKeys();
  const certPem = await issue({
    caCertPem: ca.certPem,
    caKeyPem: ca.keyPem,
    subject: 'CN=localhost, O=jpm-sync development',
    publicKey: keys.publicKey,
    notBefore: new Date(Date.now() - 60_000),
    days: 825,
    extensions: [
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension([
        { type: 'dns', value: 'localhost' },
        // The docker compose service name, so containers can reach the simulator with hostname checks on.
        { type: 'dns', value: 'simulator' },
        { type: 'ip', value: '127.0.0.1' },
        { type: 'ip', value: '::1' },
      ]),
    ],
  });
  return { certPem, keyPem: await privateKeyPem(keys.privateKey) };
}

async function readPki(dir: string): Promise<DevPki | undefined> {
  try {
    const [caCertPem, caKeyPem, serverCertPem, serverKeyPem] = await Promise.all(
      [PKI_FILES.caCert, PKI_FILES.caKey, PKI_FILES.serverCert, PKI_FILES.serverKey].map((f) =>
        readFile(join(dir, f), 'utf8'),
      ),
    );
    if (!caCertPem || !caKeyPem || !serverCertPem || !serverKeyPem) {
      return undefined;
    }
    // An expired server certificate would make every handshake fail: regenerate instead of reusing it.
    if (new x509.X509Certificate(serverCertPem).notAfter.getTime() < Date.now() + DAY_MS) {
      return undefined;
    }
    return { caCertPem, caKeyPem, serverCertPem, serverKeyPem };
  } catch {
    return undefined;
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Takes `dir/.lock` (O_EXCL) so parallel test files do not write two different CAs into one folder. */
async function withLock<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  const lock = join(dir, '.lock');
  for (let attempt = 0; ; attempt++) {
    try {
      const handle = await open(lock, 'wx');
      await handle.close();
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 300) {
        throw err;
      }
      // A lock older than 30 s belongs to a process that died mid-write.
      const age = await stat(lock).then(
        (s) => Date.now() - s.mtimeMs,
        () => 0,
      );
      if (age > 30_000) {
        await rm(lock, { force: true });
      }
      await sleep(50);
    }
  }
  try {
    return await fn();
  } finally {
    await rm(lock, { force: true });
  }
}

async function writeAtomic(path: string, content: string, mode: number): Promise<void> {
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(tmp, content, { mode });
  await rename(tmp, path);
}

/**
 * Creates the dev CA and a `localhost`/`127.0.0.1` server certificate in `dir` on first use and
 * reuses them afterwards (private keys are written with mode 0600). Safe to call concurrently from
 * several processes on one folder.
 */
export async function ensureDevPki(dir: string): Promise<DevPki> {
  const existing = await readPki(dir);
  if (existing) {
    return existing;
  }
  await mkdir(dir, { recursive: true, mode: 0o700 });
  return withLock(dir, async () => {
    const again = await readPki(dir);
    if (again) {
      return again;
    }
    const ca = await createCa();
    const server = await createServer(ca);
    await writeAtomic(join(dir, PKI_FILES.caKey), ca.keyPem, 0o600);
    await writeAtomic(join(dir, PKI_FILES.serverKey), server.keyPem, 0o600);
    await writeAtomic(join(dir, PKI_FILES.serverCert), server.certPem, 0o644);
    await writeAtomic(join(dir, PKI_FILES.caCert), ca.certPem, 0o644);
    return { caCertPem: ca.certPem, caKeyPem: ca.keyPem, serverCertPem: server.certPem, serverKeyPem: server.keyPem };
  });
}

/**
 * Issues a client (transport) certificate for a CSR, as J.P. Morgan does at onboarding: the CSR's
 * self-signature is verified first, the subject is copied, and the certificate is limited to TLS
 * client authentication (EKU clientAuth, key usage digitalSignature).
 */
export async function signCsr(pki: DevPki, csrPem: string, opts: SignCsrOptions = {}): Promise<string> {
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(csrPem);
  } catch (err) {
    throw new Error('CSR is not a PEM or DER PKCS#10 certificate request', { cause: err });
  }
  if (!(await csr.verify())) {
    throw new Error('CSR signature does not verify against its own public key');
  }
  return issue({
    caCertPem: pki.caCertPem,
    caKeyPem: pki.caKeyPem,
    subject: csr.subject,
    publicKey: csr.publicKey,
    notBefore: opts.notBefore ?? new Date(Date.now() - 60_000),
    days: opts.days ?? 365,
    extensions: [
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth]),
    ],
  });
}

/** Test and demo convenience: a fresh P-256 key, its CSR, and the certificate the dev CA issues for it. */
export async function createClientCredential(
  pki: DevPki,
  opts: { commonName: string; days?: number; notBefore?: Date },
): Promise<ClientCredential> {
  const keys = await generateKeys();
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: `CN=${opts.commonName.replace(/[,+"\\<>;=]/g, ' ')}, O=jpm-sync development`,
    keys,
    signingAlgorithm: SIGNING,
  });
  const csrPem = csr.toString('pem');
  const signOpts: SignCsrOptions = {};
  if (opts.days !== undefined) {
    signOpts.days = opts.days;
  }
  if (opts.notBefore !== undefined) {
    signOpts.notBefore = opts.notBefore;
  }
  const certPem = await signCsr(pki, csrPem, signOpts);
  return { keyPem: await privateKeyPem(keys.privateKey), certPem, csrPem };
}
