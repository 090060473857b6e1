import type { Secrets } from '../config/index.ts';
import { findUsableCertificateId } from '../storage/certificates.repo.ts';
import type { Executor } from '../storage/db.ts';
import { credentialFor, type JpmCredential } from './credential.ts';

/**
 * A credential source for the J.P. Morgan client (its `CredentialSource`): called before every
 * request, so it checks only which certificate is current (one indexed query) and decrypts the key
 * again only when that changes. Installing a newer certificate or retiring the old one therefore
 * switches the client to the new certificate on its next call, without a restart.
 */
export function credentialSource(
  db: Executor,
  secrets: Pick<Secrets, 'masterKey' | 'previousMasterKeys'>,
  integrationId: string,
  clock: () => Date = () => new Date(),
): () => Promise<JpmCredential> {
  let cached: JpmCredential | undefined;
  return async () => {
    const now = clock();
    const currentId = await findUsableCertificateId(db, integrationId, now);
    if (cached && currentId === cached.id && cached.notAfter.getTime() > now.getTime()) {
      return cached;
    }
    // No usable certificate: credentialFor throws the precise reason (expired, not yet valid, none).
    cached = await credentialFor(db, secrets, integrationId, now);
    return cached;
  };
}
