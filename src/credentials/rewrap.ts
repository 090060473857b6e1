import type { Secrets } from '../config/index.ts';
import { errorMessage } from '../shared/errors.ts';
import { createLogger } from '../shared/logger.ts';
import type { Database } from '../storage/db.ts';
import { listKeyPairsToRewrap, updateKeyWrapping } from '../storage/key-pairs.repo.ts';
import { rewrapDataKey } from './envelope.ts';

// Resolved per call: the root logger is configured by main/ after modules are imported.
const log = () => createLogger('credentials');

export interface RewrapResult {
  rewrapped: number;
  /** Key pairs whose master key is not configured (or whose wrapping fails to authenticate). */
  failed: { keyPairId: string; masterKeyId: string; reason: string }[];
}

/**
 * Master-key rotation: re-wraps every data key not yet under `secrets.masterKey`. Set the new key as
 * CREDENTIALS_MASTER_KEY and the old one in CREDENTIALS_PREVIOUS_MASTER_KEYS, run this, then drop
 * the old key once `failed` is empty. Batches commit on their own; running it twice is harmless.
 */
export async function rewrapKeys(
  db: Database,
  secrets: Pick<Secrets, 'masterKey' | 'previousMasterKeys'>,
  options: { batchSize?: number; now?: Date } = {},
): Promise<RewrapResult> {
  const batchSize = options.batchSize ?? 100;
  const result: RewrapResult = { rewrapped: 0, failed: [] };
  let afterId: string | null = null;
  for (;;) {
    const cursor: string | null = afterId;
    const batch = await db.transaction().execute(async (trx) => {
      const rows = await listKeyPairsToRewrap(trx, secrets.masterKey.id, cursor, batchSize);
      for (const row of rows) {
        try {
          const w = rewrapDataKey(
            {
              wrappedDataKey: row.wrapped_data_key,
              dataKeyIv: row.data_key_iv,
              dataKeyAuthTag: row.data_key_auth_tag,
              masterKeyId: row.master_key_id,
            },
            secrets,
            row.id,
          );
          await updateKeyWrapping(trx, row.id, {
            wrapped_data_key: w.wrappedDataKey,
            data_key_iv: w.dataKeyIv,
            data_key_auth_tag: w.dataKeyAuthTag,
            master_key_id: w.masterKeyId,
            rewrapped_at: options.now ?? new Date(),
          });
          result.rewrapped++;
        } catch (err) {
          result.failed.push({ keyPairId: row.id, masterKeyId: row.master_key_id, reason: errorMessage(err) });
        }
      }
      return rows;
    });
    const last = batch.at(-1);
    if (!last || batch.length < batchSize) {
      break;
    }
    afterId = last.id;
  }
  log().info(
    { rewrapped: result.rewrapped, failed: result.failed.length, masterKeyId: secrets.masterKey.id },
    'private keys re-wrapped',
  );
  return result;
}
