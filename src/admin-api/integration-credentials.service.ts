import { listKeyPairs, type KeyPairView } from '../credentials/index.ts';
import type { OrgAccess } from '../http/auth.ts';
import { NotFoundError } from '../shared/errors.ts';
import type { Database } from '../storage/db.ts';
import { integrationOrganization } from './lookup.ts';

/**
 * What the integration credential routes do beyond src/credentials: finding one key pair of an
 * integration under the key's organization scope (another organization's integration → 404).
 */

/** A key pair of the integration, after the integration's scope check; 404 when the integration has no such key pair. */
export async function getKeyPair(
  db: Database,
  access: OrgAccess,
  integrationId: string,
  keyPairId: string,
): Promise<KeyPairView> {
  await integrationOrganization(db, access, integrationId);
  const kp = (await listKeyPairs(db, integrationId)).find((k) => k.id === keyPairId);
  if (!kp) {
    throw new NotFoundError('key pair', keyPairId);
  }
  return kp;
}
