import { z } from 'zod';
import { KEY_ALGORITHMS, type CertificateView, type KeyPairView, type testConnection } from '../credentials/index.ts';
import { ENVIRONMENTS } from '../domain/types.ts';
import type { ConnectionTestResult } from '../jpm/connection-test.ts';
import { Id, Instant, iso } from './dto.ts';

/** DTOs of an integration's credentials: key pairs with their CSRs, certificates, the connection test report. */
const DAY_MS = 86_400_000;

export const KeyPairSchema = z
  .object({
    id: Id,
    integrationId: Id,
    environment: z.enum(ENVIRONMENTS),
    algorithm: z.enum(KEY_ALGORITHMS),
    subject: z.string().meta({ description: 'X.500 subject of the CSR' }),
    commonName: z.string(),
    csrPem: z.string().meta({ description: 'The PKCS#10 CSR (PEM) to give J.P. Morgan' }),
    publicKeySha256: z.string(),
    createdBy: z.string(),
    createdAt: Instant,
  })
  .meta({
    id: 'KeyPair',
    description: 'A key pair and its CSR. The private key is sealed at rest and never returned.',
  });

export function toKeyPairDto(k: KeyPairView): z.input<typeof KeyPairSchema> {
  return {
    id: k.id,
    integrationId: k.integrationId,
    environment: k.environment,
    algorithm: k.algorithm,
    subject: k.subject,
    commonName: k.commonName,
    csrPem: k.csrPem,
    publicKeySha256: k.publicKeySha256,
    createdBy: k.createdBy,
    createdAt: iso(k.createdAt),
  };
}

export const CertificateStatus = z.enum(['active', 'retired', 'expired']);

export const CertificateSchema = z
  .object({
    id: Id,
    integrationId: Id,
    keyPairId: Id,
    environment: z.enum(ENVIRONMENTS),
    certificatePem: z.string(),
    fingerprintSha256: z.string(),
    serialNumber: z.string(),
    subjectCn: z.string(),
    issuer: z.string(),
    notBefore: Instant,
    notAfter: Instant,
    daysToExpiry: z.number().int().meta({ description: 'Whole days until notAfter (negative once expired)' }),
    status: CertificateStatus,
    installedBy: z.string(),
    installedAt: Instant,
    retiredBy: z.string().nullable(),
    retiredAt: Instant.nullable(),
    expiredAt: Instant.nullable(),
  })
  .meta({ id: 'Certificate', description: 'A client certificate J.P. Morgan issued for one of our CSRs' });

export function toCertificateDto(c: CertificateView, now: Date): z.input<typeof CertificateSchema> {
  return {
    id: c.id,
    integrationId: c.integrationId,
    keyPairId: c.keyPairId,
    environment: c.environment,
    certificatePem: c.certificatePem,
    fingerprintSha256: c.fingerprintSha256,
    serialNumber: c.serialNumber,
    subjectCn: c.subjectCn,
    issuer: c.issuer,
    notBefore: iso(c.notBefore),
    notAfter: iso(c.notAfter),
    daysToExpiry: Math.floor((c.notAfter.getTime() - now.getTime()) / DAY_MS),
    status: c.status,
    installedBy: c.installedBy,
    installedAt: iso(c.installedAt),
    retiredBy: c.retiredBy,
    retiredAt: iso(c.retiredAt),
    expiredAt: iso(c.expiredAt),
  };
}

const StepSchema = z.object({
  step: z.enum(['credential', 'dns', 'tls', 'balances']),
  ok: z.boolean(),
  code: z.string().nullable(),
  detail: z.string().nullable(),
  durationMs: z.number(),
});

export const ConnectionTestSchema = z
  .object({
    integrationId: Id,
    environment: z.enum(ENVIRONMENTS),
    baseUrl: z.string(),
    ok: z.boolean().meta({ description: 'Certificate accepted and the balance call saw entitled accounts' }),
    failure: z.string().nullable().meta({
      description:
        "no usable credential: its code (no_certificate, certificate_expired…); else the failed step's class: dns, address_not_allowed, unreachable, server_certificate_untrusted, certificate_refused, not_entitled, bank_unavailable, bad_response",
    }),
    credentialId: z.string().nullable().meta({ description: 'The certificate tested' }),
    credentialProblem: z
      .object({ code: z.string(), message: z.string() })
      .nullable()
      .meta({ description: 'Why there is no usable certificate (the bank was not called)' }),
    steps: z.array(StepSchema).meta({
      description: 'credential → DNS → TLS handshake with our certificate → a minimal balance call (entitlement)',
    }),
    tls: z
      .object({
        protocol: z.string(),
        server: z.object({ subject: z.string(), issuer: z.string(), validTo: z.string() }),
      })
      .nullable(),
    entitledAccounts: z.number().int().nullable(),
    bankRequestId: z.string().nullable(),
  })
  .meta({ id: 'ConnectionTestReport' });

export function toConnectionTestDto(
  out: Awaited<ReturnType<typeof testConnection<ConnectionTestResult>>>,
): z.input<typeof ConnectionTestSchema> {
  const r = out.report;
  return {
    integrationId: out.integrationId,
    environment: out.environment,
    baseUrl: out.baseUrl,
    credentialId: out.credentialId,
    ok: r?.ok ?? false,
    failure: out.credentialProblem?.code ?? r?.failure ?? null,
    credentialProblem: out.credentialProblem ?? null,
    steps: (r?.steps ?? []).map((s) => ({
      step: s.step,
      ok: s.ok,
      code: s.code ?? null,
      detail: s.detail ?? null,
      durationMs: s.durationMs,
    })),
    tls: r?.tls ?? null,
    entitledAccounts: r?.entitledAccounts ?? null,
    bankRequestId: r?.requestId ?? null,
  };
}
