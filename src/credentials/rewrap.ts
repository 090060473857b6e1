import type { Secrets } from '../config/index.ts';
import { errorMessage } from '../shared/errors.ts';
import { createLogger } from '../shared/logger.ts';
import { inCommittedBatches } from '../storage/batches.ts';
import type { Database } from '../storage/db.ts';
import { listKeyPairsToRewrap, updateKeyWrapping } from '../storage/key-pairs.repo.ts';
import { rewrapDataKey } from './envelope.ts';

// Resolved per call: the root logger is configured by main/ after modules are imported.
const log = () => createLogger('credentials');

export interface RewrapResult {
  /** Key pairs now wrapped under the current master key (counted once their batch committed). */
  rewrapped: number;
  /**
   * Key pairs not re-wrapped: their master key is not configured (or their wrapping fails to authenticate), or a
   * database error rolled their batch back (every key pair of that batch is named).
   */
  failed: { keyPairId: string; masterKeyId: string; reason: string }[];
  /** Set when the key pairs after `afterKeyPairId` (null: from the start) could not even be read: none was looked at. */
  stopped?: { afterKeyPairId: string | null; reason: string };
}

/**
 * Master-key rotation: re-wraps every data key not yet under `secrets.masterKey`. Set the new key as
 * CREDENTIALS_MASTER_KEY and the old one in CREDENTIALS_PREVIOUS_MASTER_KEYS, run this, then drop
 * the old key once `failed` is empty and nothing `stopped`. Batches commit on their own; running it twice is
 * harmless. A database error rolls its whole batch back, so a key pair counts as re-wrapped only once its batch
 * committed; every key pair of a rolled-back batch is in `failed`, and the run goes on with the next batch. When a
 * batch cannot even be read, the run stops and `stopped` says from where nothing was looked at (`inCommittedBatches`).
 */
export async function rewrapKeys(
  db: Database,
  secrets: Pick<Secrets, 'masterKey' | 'previousMasterKeys'>,
  options: { batchSize?: number; now?: Date } = {},
): Promise<RewrapResult> {
  const run = await inCommittedBatches(db, {
    batchSize: options.batchSize ?? 100,
    noun: 'key pair',
    read: (trx, afterId, limit) => listKeyPairsToRewrap(trx, secrets.masterKey.id, afterId, limit),
    keyOf: (row) => row.master_key_id,
    step: async (trx, row) => {
      let w: ReturnType<typeof rewrapDataKey>;
      try {
        w = rewrapDataKey(
          {
            wrappedDataKey: row.wrapped_data_key,
            dataKeyIv: row.data_key_iv,
            dataKeyAuthTag: row.data_key_auth_tag,
            masterKeyId: row.master_key_id,
          },
          secrets,
          row.id,
        );
      } catch (err) {
        return { written: false, keyId: row.master_key_id, reason: errorMessage(err) };
      }
      await updateKeyWrapping(trx, row.id, {
        wrapped_data_key: w.wrappedDataKey,
        data_key_iv: w.dataKeyIv,
        data_key_auth_tag: w.dataKeyAuthTag,
        master_key_id: w.masterKeyId,
        rewrapped_at: options.now ?? new Date(),
      });
      return { written: true };
    },
  });
  const result: RewrapResult = {
    rewrapped: run.written,
    failed: run.failed.map((f) => ({ keyPairId: f.id, masterKeyId: f.keyId, reason: f.reason })),
    ...(run.stopped ? { stopped: { afterKeyPairId: run.stopped.afterId, reason: run.stopped.reason } } : {}),
  };
  log().info(
    {
      rewrapped: result.rewrapped,
      failed: result.failed.length,
      stopped: result.stopped !== undefined,
      masterKeyId: secrets.masterKey.id,
    },
    'private keys re-wrapped',
  );
  return result;
}
