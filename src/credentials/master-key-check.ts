import type { Secrets } from '../config/index.ts';
import type { Logger } from '../shared/logger.ts';
import type { Database } from '../storage/db.ts';
import { countKeyPairsWrappedByOthers } from '../storage/key-pairs.repo.ts';
import { countSecretsSealedByOthers } from '../storage/webhooks.repo.ts';

interface MasterKeyCheck {
  /** Master key ids (hash prefixes, never key material) that sealed stored secrets but are not configured. */
  missingKeyIds: string[];
  keyPairs: number;
  webhookSecrets: number;
}

/**
 * At start: whether every stored private key and signing webhook secret can be opened with the configured master keys.
 * A CREDENTIALS_MASTER_KEY that is not the one the data was sealed under (a typo that is still valid base64, another
 * environment's key, a previous key removed before `jpm-sync credentials rewrap`) is otherwise only seen as each sync
 * and delivery fails. Logged once at error level with the missing key ids and what they sealed; the process runs on
 * (what the configured keys open keeps working), so a wrong key is never a crash loop.
 */
export async function checkMasterKeys(
  db: Database,
  secrets: Pick<Secrets, 'masterKey' | 'previousMasterKeys'>,
  log: Logger,
): Promise<MasterKeyCheck> {
  const configured = [secrets.masterKey.id, ...secrets.previousMasterKeys.map((k) => k.id)];
  const [keyPairs, webhookSecrets] = await Promise.all([
    countKeyPairsWrappedByOthers(db, configured),
    countSecretsSealedByOthers(db, configured),
  ]);
  const check: MasterKeyCheck = {
    missingKeyIds: [...new Set([...keyPairs, ...webhookSecrets].map((r) => r.keyId))].sort(),
    keyPairs: keyPairs.reduce((n, r) => n + r.count, 0),
    webhookSecrets: webhookSecrets.reduce((n, r) => n + r.count, 0),
  };
  if (check.missingKeyIds.length === 0) {
    log.info({ masterKeyId: secrets.masterKey.id }, 'master keys open every stored secret');
  } else {
    log.error(
      { ...check, masterKeyId: secrets.masterKey.id },
      'stored secrets sealed under master keys that are not configured: check CREDENTIALS_MASTER_KEY and CREDENTIALS_PREVIOUS_MASTER_KEYS',
    );
  }
  return check;
}
