import { errorMessage } from '../shared/errors.ts';
import { createLogger } from '../shared/logger.ts';
import type { Database } from '../storage/db.ts';
import {
  listEndpointSecretsToReseal,
  updateEndpointSealing,
  type SealedSecretColumns,
  type SecretSlot,
} from '../storage/webhooks.repo.ts';
import { openSecret, sealSecret, type SealingKeys } from './webhook-signing.ts';

// Resolved per call: the root logger is configured by main/ after modules are imported.
const log = () => createLogger('events');

export interface ResealResult {
  resealed: number;
  /** Endpoints with a secret that could not be opened (its master key is not configured, or the row was altered). */
  failed: { endpointId: string; masterKeyId: string; reason: string }[];
}

/**
 * Master-key rotation for webhook signing secrets (the counterpart of `rewrapKeys` for private keys): every secret
 * of an endpoint (current, and the earlier ones of a rotation) not sealed under `keys.masterKey` is opened with the
 * key that sealed it (one of `keys.previousMasterKeys`) and sealed again under the current key, same secret, same
 * version; an earlier secret whose grace has ended is dropped instead. Receivers notice nothing. Batches commit on
 * their own; running it twice is harmless.
 */
export async function resealWebhookSecrets(
  db: Database,
  keys: SealingKeys,
  options: { batchSize?: number } = {},
): Promise<ResealResult> {
  const batchSize = options.batchSize ?? 100;
  const result: ResealResult = { resealed: 0, failed: [] };
  let afterId: string | null = null;
  for (;;) {
    const cursor: string | null = afterId;
    const batch = await db.transaction().execute(async (trx) => {
      const rows = await listEndpointSecretsToReseal(trx, keys.masterKey.id, cursor, batchSize);
      for (const row of rows) {
        const next: Partial<Record<SecretSlot, SealedSecretColumns>> = {};
        try {
          for (const [slot, sealed] of Object.entries(row.slots) as [
            SecretSlot,
            NonNullable<typeof row.slots.secret>,
          ][]) {
            if (sealed.keyId === keys.masterKey.id) {
              continue;
            }
            try {
              next[slot] = sealSecret(openSecret(sealed, keys, row.id, sealed.version), keys, row.id, sealed.version);
            } catch (err) {
              throw Object.assign(new Error(errorMessage(err)), { masterKeyId: sealed.keyId });
            }
          }
          // An earlier secret whose grace has ended signs nothing any more: dropped rather than re-sealed.
          await updateEndpointSealing(trx, row.id, next, row.ended);
          result.resealed++;
        } catch (err) {
          result.failed.push({
            endpointId: row.id,
            masterKeyId: (err as { masterKeyId?: string }).masterKeyId ?? '',
            reason: errorMessage(err),
          });
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
    { resealed: result.resealed, failed: result.failed.length, masterKeyId: keys.masterKey.id },
    'webhook secrets re-sealed',
  );
  return result;
}
