// @peculiar/x509 resolves its internals through tsyringe, which needs the Reflect metadata API loaded first.
import 'reflect-metadata';
import { createHash } from 'node:crypto';
import {
  BasicConstraintsExtension,
  ExtendedKeyUsage,
  ExtendedKeyUsageExtension,
  KeyUsageFlags,
  KeyUsagesExtension,
  X509Certificate,
  X509ChainBuilder,
} from '@peculiar/x509';
import { ValidationError } from '../shared/errors.ts';
import { publicKeySha256 } from './csr.ts';

/**
 * Parsing and checking an issued client certificate before it is installed. Every check returns a
 * reason a person can act on; `certificates.ts` refuses the install with all of them.
 */
export interface ParsedCertificate {
  cert: X509Certificate;
  /** The leaf alone, re-encoded as PEM. */
  pem: string;
  /** Certificates that came after the leaf in the same paste, plus any chain/CA given separately. */
  chain: X509Certificate[];
  fingerprintSha256: string;
  serialNumber: string;
  subjectCn: string;
  issuer: string;
  notBefore: Date;
  notAfter: Date;
  publicKeySha256: string;
}

const CERT_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;
const BASE64_LINE = /^[A-Za-z0-9+/]+={0,2}$/;

/**
 * The certificate blocks of a paste, each as a clean PEM. A PEM copied out of YAML, JSON or an
 * indented email has whitespace before (and after) its lines; that is not part of the encoding
 * (RFC 7468 lets a parser ignore it) and is dropped. Anything else between the markers that is not
 * base64 is refused with what to fix: a reply's `>` quoting is not stripped, since a paste that
 * went through a mail client may have been rewrapped or cut too, and the person should paste the
 * certificate as issued.
 */
export function certificatePemBlocks(text: string, field: string): string[] {
  const blocks = text.match(CERT_BLOCK) ?? [];
  return blocks.map((block, i) => {
    const what = `${field}: certificate ${i + 1}`;
    const refuse = (message: string, fix: string): never => {
      throw new ValidationError(`${what} ${message}; ${fix}`, [{ path: field, message }], 'certificate_invalid');
    };
    const body = block
      .split(/\r\n|\r|\n/)
      .slice(1, -1)
      .map((line) => line.trim())
      .filter((line) => line !== '');
    if (body.some((line) => line.startsWith('>'))) {
      refuse(
        "is quoted with '>' (as in a reply email)",
        "remove the '>' at the start of each line, or better, paste the certificate from the file J.P. Morgan issued",
      );
    }
    const bad = body.findIndex((line) => !BASE64_LINE.test(line));
    if (body.length === 0 || bad >= 0) {
      refuse(
        body.length === 0
          ? 'is empty between its BEGIN and END lines'
          : `has a line that is not base64 (line ${bad + 2} of the block)`,
        'paste the certificate unchanged, from -----BEGIN CERTIFICATE----- to -----END CERTIFICATE----- (leading spaces on a line are fine)',
      );
    }
    const base64 = body.join('');
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(base64) || base64.length % 4 !== 0) {
      refuse(
        'is not one base64 text (padding "=" inside it, or a character missing)',
        'paste the certificate unchanged, from -----BEGIN CERTIFICATE----- to -----END CERTIFICATE-----, each certificate in its own block',
      );
    }
    if (!isOneDerElement(Buffer.from(base64, 'base64'))) {
      // A parser reads the first DER element and ignores the rest: whatever follows (another certificate, a private
      // key) would be stored with it and counted in its fingerprint.
      refuse(
        'holds more than one certificate: data follows the certificate inside the same block',
        'paste the certificate unchanged, each certificate between its own BEGIN and END lines (and never a private key)',
      );
    }
    return ['-----BEGIN CERTIFICATE-----', ...body, '-----END CERTIFICATE-----'].join('\n');
  });
}

/** Whether `der` is exactly one DER element (a tag, a definite length, and that many bytes; nothing after it). */
function isOneDerElement(der: Buffer): boolean {
  if (der.length < 2) {
    return false;
  }
  const first = der[1]!;
  let length: number;
  let header: number;
  if (first < 0x80) {
    length = first;
    header = 2;
  } else {
    const octets = first & 0x7f;
    if (octets === 0 || octets > 4 || der.length < 2 + octets) {
      return false;
    }
    length = 0;
    for (let i = 0; i < octets; i++) {
      length = length * 256 + der[2 + i]!;
    }
    header = 2 + octets;
  }
  return header + length === der.length;
}

function certificateBlocks(text: string, field: string): X509Certificate[] {
  return certificatePemBlocks(text, field).map((block, i) => {
    try {
      return new X509Certificate(block);
    } catch {
      throw new ValidationError(
        `${field}: certificate ${i + 1} is base64 but not a valid X.509 certificate; paste the certificate as issued, complete and unchanged`,
        [{ path: field, message: 'not a parsable certificate' }],
        'certificate_invalid',
      );
    }
  });
}

/** Parses a PEM paste (leaf first, optionally followed by its chain). Refuses anything holding a private key. */
export function parseCertificatePem(certificatePem: string, chainPem?: string | null): ParsedCertificate {
  if (/PRIVATE KEY-----/.test(certificatePem) || /PRIVATE KEY-----/.test(chainPem ?? '')) {
    // The key never leaves the service, so nobody should ever paste one in: refuse and store nothing.
    throw new ValidationError(
      'the upload contains a private key; send only the certificate (and chain). The private key never leaves this service',
      [{ path: 'certificatePem', message: 'contains a PRIVATE KEY block' }],
      'certificate_contains_private_key',
    );
  }
  const leafAndChain = certificateBlocks(certificatePem, 'certificatePem');
  const [cert, ...pasted] = leafAndChain;
  if (!cert) {
    throw new ValidationError(
      'certificatePem holds no PEM certificate (-----BEGIN CERTIFICATE-----)',
      [{ path: 'certificatePem', message: 'no certificate found' }],
      'certificate_invalid',
    );
  }
  const chain = [...pasted, ...certificateBlocks(chainPem ?? '', 'chainPem')];
  return {
    cert,
    pem: cert.toString('pem'),
    chain,
    fingerprintSha256: createHash('sha256').update(Buffer.from(cert.rawData)).digest('hex'),
    serialNumber: cert.serialNumber,
    subjectCn: cert.subjectName.getField('CN')[0] ?? '',
    issuer: cert.issuer,
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
    publicKeySha256: publicKeySha256(cert.publicKey.rawData),
  };
}

export function validityProblem(
  notBefore: Date,
  notAfter: Date,
  now: Date,
  what = 'the certificate',
): string | undefined {
  if (now.getTime() < notBefore.getTime()) {
    return `${what} is not yet valid: valid from ${notBefore.toISOString()}`;
  }
  if (now.getTime() >= notAfter.getTime()) {
    return `${what} expired on ${notAfter.toISOString()}`;
  }
  return undefined;
}

/** Key usage, extended key usage and CA flag: a TLS client certificate. */
export function usageProblems(cert: X509Certificate): string[] {
  const problems: string[] = [];
  const basic = cert.getExtension(BasicConstraintsExtension);
  if (basic?.ca) {
    problems.push('the certificate is a CA certificate, not a client certificate');
  }
  const keyUsage = cert.getExtension(KeyUsagesExtension);
  if (keyUsage && (keyUsage.usages & KeyUsageFlags.digitalSignature) === 0) {
    problems.push('key usage does not include digitalSignature, which a TLS client certificate needs');
  }
  const eku = cert.getExtension(ExtendedKeyUsageExtension);
  if (eku && !eku.usages.map(String).includes(ExtendedKeyUsage.clientAuth)) {
    problems.push('extended key usage does not include clientAuth (TLS client authentication)');
  }
  return problems;
}

/** When a chain or CA is given, the leaf must chain to it with valid signatures, every link in date. */
export async function chainProblems(parsed: ParsedCertificate, now: Date): Promise<string[]> {
  if (parsed.chain.length === 0) {
    return [];
  }
  let built: X509Certificate[];
  try {
    built = [...(await new X509ChainBuilder({ certificates: parsed.chain }).build(parsed.cert))];
  } catch {
    return ['the certificate chain could not be built (circular or malformed)'];
  }
  if (built.length < 2) {
    return [
      `the certificate was not issued by the given chain/CA (issuer ${parsed.issuer} not found or signature invalid)`,
    ];
  }
  const problems: string[] = [];
  for (const link of built.slice(1)) {
    const p = validityProblem(link.notBefore, link.notAfter, now, `chain certificate ${link.subject}`);
    if (p) {
      problems.push(p);
    }
    const basic = link.getExtension(BasicConstraintsExtension);
    if (basic && !basic.ca) {
      problems.push(`chain certificate ${link.subject} is not a CA`);
    }
  }
  return problems;
}
