// @peculiar/x509 resolves its internals through tsyringe, which needs the Reflect metadata API loaded first.
import 'reflect-metadata';
import { createPrivateKey } from 'node:crypto';
import { X509Certificate } from '@peculiar/x509';
import type { Secrets } from '../config/index.ts';
import type { JpmEnvironment } from '../domain/types.ts';
import { AppError, NotFoundError } from '../shared/errors.ts';
import { listCertificates, listUsableCertificates } from '../storage/certificates.repo.ts';
import type { Executor } from '../storage/db.ts';
import { findIntegrationLifecycle } from '../storage/integration-lifecycle.repo.ts';
import { findKeyPairSealed } from '../storage/key-pairs.repo.ts';
import { openPrivateKey } from './envelope.ts';

/**
 * What the J.P. Morgan client needs for mTLS. `keyPem` is not enumerable, so spreading, logging or
 * JSON-serializing a credential never carries the private key along; read it by name.
 * For the bank client only: no function meant for the API returns this.
 */
export interface JpmCredential {
  /** The certificate id: changes when the active certificate changes (e.g. to rebuild a dispatcher). */
  id: string;
  integrationId: string;
  environment: JpmEnvironment;
  baseUrl: string;
  /** Client certificate, followed by any intermediate certificates installed with it. */
  certPem: string;
  /** PKCS#8 PEM. Non-enumerable. */
  readonly keyPem: string;
  /** Server CA bundle to trust (simulator or a test gateway); undefined = the system roots. */
  caPem?: string;
  notAfter: Date;
}

const CERT_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** Intermediates only: a self-issued root in the chain is for checking, not for sending. */
function presentedChain(chainPem: string | null): string[] {
  return (chainPem?.match(CERT_BLOCK) ?? []).filter((block) => {
    const c = new X509Certificate(block);
    return c.subject !== c.issuer;
  });
}

/**
 * The newest active certificate of the integration's environment that is valid at `now`, with its
 * decrypted key. Throws `certificate_expired` when only expired certificates exist (so a sync
 * reports "certificate expired" instead of TLS noise), `certificate_not_yet_valid` when the only
 * ones start in the future and `no_certificate` when there is none.
 */
export async function credentialFor(
  ex: Executor,
  secrets: Pick<Secrets, 'masterKey' | 'previousMasterKeys'>,
  integrationId: string,
  now: Date = new Date(),
): Promise<JpmCredential> {
  const integration = await findIntegrationLifecycle(ex, integrationId);
  if (!integration) {
    throw new NotFoundError('integration', integrationId);
  }
  const environment = integration.environment as JpmEnvironment;
  const [cert] = await listUsableCertificates(ex, integrationId, environment, now);
  if (!cert) {
    throw await noCredentialError(ex, integrationId, environment, now);
  }
  const sealed = await findKeyPairSealed(ex, cert.key_pair_id);
  if (!sealed) {
    throw new AppError(`certificate ${cert.id} has no key pair`, {
      code: 'key_pair_missing',
      httpStatus: 500,
      expose: false,
    });
  }
  const der = openPrivateKey(
    {
      privateKeyCiphertext: sealed.private_key_ciphertext,
      privateKeyIv: sealed.private_key_iv,
      privateKeyAuthTag: sealed.private_key_auth_tag,
      wrappedDataKey: sealed.wrapped_data_key,
      dataKeyIv: sealed.data_key_iv,
      dataKeyAuthTag: sealed.data_key_auth_tag,
      masterKeyId: sealed.master_key_id,
    },
    secrets,
    sealed.id,
  );
  let keyPem: string;
  try {
    keyPem = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' })
      .export({ format: 'pem', type: 'pkcs8' })
      .toString();
  } finally {
    der.fill(0);
  }
  const credential: Omit<JpmCredential, 'keyPem'> = {
    id: cert.id,
    integrationId,
    environment,
    baseUrl: integration.base_url,
    certPem: [cert.certificate_pem.trim(), ...presentedChain(cert.chain_pem)].join('\n') + '\n',
    ...(integration.server_ca_pem ? { caPem: integration.server_ca_pem } : {}),
    notAfter: cert.not_after,
  };
  Object.defineProperty(credential, 'keyPem', { value: keyPem, enumerable: false, writable: false });
  return credential as JpmCredential;
}

async function noCredentialError(
  ex: Executor,
  integrationId: string,
  environment: JpmEnvironment,
  now: Date,
): Promise<AppError> {
  const all = (await listCertificates(ex, integrationId, { environment })).filter((c) => c.status !== 'retired');
  const expired = all.filter((c) => c.status === 'expired' || c.not_after.getTime() <= now.getTime());
  const future = all.filter((c) => c.status === 'active' && c.not_before.getTime() > now.getTime());
  if (future.length > 0) {
    const from = future.map((c) => c.not_before.getTime()).reduce((a, b) => Math.min(a, b));
    return new AppError(
      `the ${environment} certificate of integration ${integrationId} is not valid until ${new Date(from).toISOString()}`,
      {
        code: 'certificate_not_yet_valid',
        httpStatus: 409,
        retryable: false,
        expose: true,
        details: { integrationId, environment },
      },
    );
  }
  if (expired.length > 0) {
    const last = expired.map((c) => c.not_after.getTime()).reduce((a, b) => Math.max(a, b));
    return new AppError(
      `the ${environment} certificate of integration ${integrationId} expired on ${new Date(last).toISOString()}; install a renewed certificate`,
      {
        code: 'certificate_expired',
        httpStatus: 409,
        retryable: false,
        expose: true,
        details: { integrationId, environment, expiredAt: new Date(last).toISOString() },
      },
    );
  }
  return new AppError(
    `integration ${integrationId} has no active ${environment} certificate; generate a CSR and install the issued certificate`,
    {
      code: 'no_certificate',
      httpStatus: 409,
      retryable: false,
      expose: true,
      details: { integrationId, environment },
    },
  );
}
