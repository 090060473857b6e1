import type { Secrets } from '../config/index.ts';
import { errorMessage } from '../shared/errors.ts';
import { createLogger } from '../shared/logger.ts';
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

type RewrapRow = Awaited<ReturnType<typeof listKeyPairsToRewrap>>[number];
type Failure = RewrapResult['failed'][number];

/**
 * Master-key rotation: re-wraps every data key not yet under `secrets.masterKey`. Set the new key as
 * CREDENTIALS_MASTER_KEY and the old one in CREDENTIALS_PREVIOUS_MASTER_KEYS, run this, then drop
 * the old key once `failed` is empty and nothing `stopped`. Batches commit on their own; running it twice is
 * harmless. A database error rolls its whole batch back, so a key pair counts as re-wrapped only once its batch
 * committed; every key pair of a rolled-back batch is in `failed`, and the run goes on with the next batch. When a
 * batch cannot even be read, the run stops and `stopped` says from where nothing was looked at.
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
    let rows: RewrapRow[] = [];
    let rewrapped = 0;
    let writing: string | undefined;
    const unopened: Failure[] = [];
    try {
      await db.transaction().execute(async (trx) => {
        rows = await listKeyPairsToRewrap(trx, secrets.masterKey.id, cursor, batchSize);
        for (const row of rows) {
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
            unopened.push({ keyPairId: row.id, masterKeyId: row.master_key_id, reason: errorMessage(err) });
            continue;
          }
          writing = row.id;
          await updateKeyWrapping(trx, row.id, {
            wrapped_data_key: w.wrappedDataKey,
            data_key_iv: w.dataKeyIv,
            data_key_auth_tag: w.dataKeyAuthTag,
            master_key_id: w.masterKeyId,
            rewrapped_at: options.now ?? new Date(),
          });
          rewrapped++;
        }
        writing = undefined;
      });
    } catch (err) {
      if (rows.length === 0) {
        result.stopped = { afterKeyPairId: cursor, reason: errorMessage(err) };
        break;
      }
      // Nothing of this batch is stored: each of its key pairs is named, none counted.
      const failedAt = writing === undefined ? 'the commit' : `key pair ${writing}`;
      for (const row of rows) {
        result.failed.push(
          unopened.find((u) => u.keyPairId === row.id) ?? {
            keyPairId: row.id,
            masterKeyId: row.master_key_id,
            reason:
              row.id === writing
                ? errorMessage(err)
                : `not stored: its batch was rolled back by a database error at ${failedAt} (${errorMessage(err)})`,
          },
        );
      }
      rewrapped = 0;
      unopened.length = 0;
    }
    result.rewrapped += rewrapped;
    result.failed.push(...unopened);
    const last = rows.at(-1);
    if (!last || rows.length < batchSize) {
      break;
    }
    afterId = last.id;
  }
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
