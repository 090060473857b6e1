import { errorMessage } from '../shared/errors.ts';
import { createLogger } from '../shared/logger.ts';
import { inCommittedBatches } from '../storage/batches.ts';
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
  /** Endpoints whose secrets are now under the current master key (counted once their batch committed). */
  resealed: number;
  /**
   * Endpoints not re-sealed: a secret that could not be opened (its master key is not configured, or the row was
   * altered), or a batch rolled back by a database error (every endpoint of that batch is named).
   */
  failed: { endpointId: string; masterKeyId: string; reason: string }[];
  /** Set when the endpoints after `afterEndpointId` (null: from the start) could not even be read: none was looked at. */
  stopped?: { afterEndpointId: string | null; reason: string };
}

type ResealRow = Awaited<ReturnType<typeof listEndpointSecretsToReseal>>[number];

/** The row's secrets sealed under the current key; throws (with the key that sealed it) when one cannot be opened. */
function resealRow(row: ResealRow, keys: SealingKeys): Partial<Record<SecretSlot, SealedSecretColumns>> {
  const next: Partial<Record<SecretSlot, SealedSecretColumns>> = {};
  for (const [slot, sealed] of Object.entries(row.slots) as [SecretSlot, NonNullable<typeof row.slots.secret>][]) {
    if (sealed.keyId === keys.masterKey.id) {
      continue;
    }
    try {
      next[slot] = sealSecret(openSecret(sealed, keys, row.id, sealed.version), keys, row.id, sealed.version);
    } catch (err) {
      throw Object.assign(new Error(errorMessage(err)), { masterKeyId: sealed.keyId });
    }
  }
  return next;
}

/** The current key of the first slot not under it (what a failure names). */
function sealingKeyOf(row: ResealRow, keys: SealingKeys): string {
  return Object.values(row.slots).find((s) => s.keyId !== keys.masterKey.id)?.keyId ?? '';
}

/**
 * Master-key rotation for webhook signing secrets (the counterpart of `rewrapKeys` for private keys): every secret
 * of an endpoint (current, and the earlier ones of a rotation) not sealed under `keys.masterKey` is opened with the
 * key that sealed it (one of `keys.previousMasterKeys`) and sealed again under the current key, same secret, same
 * version; an earlier secret whose grace has ended is dropped instead. Receivers notice nothing. Batches commit on
 * their own; running it twice is harmless.
 *
 * A database error rolls its whole batch back, so an endpoint counts as re-sealed only once its batch committed;
 * every endpoint of a rolled-back batch is in `failed`, and the run goes on with the next batch. When a batch
 * cannot even be read, the run stops and `stopped` says from where nothing was looked at (`inCommittedBatches`).
 */
export async function resealWebhookSecrets(
  db: Database,
  keys: SealingKeys,
  options: { batchSize?: number } = {},
): Promise<ResealResult> {
  const run = await inCommittedBatches<ResealRow>(db, {
    batchSize: options.batchSize ?? 100,
    noun: 'endpoint',
    read: (trx, afterId, limit) => listEndpointSecretsToReseal(trx, keys.masterKey.id, afterId, limit),
    keyOf: (row) => sealingKeyOf(row, keys),
    step: async (trx, row) => {
      let next: Partial<Record<SecretSlot, SealedSecretColumns>>;
      try {
        next = resealRow(row, keys);
      } catch (err) {
        return {
          written: false,
          keyId: (err as { masterKeyId?: string }).masterKeyId ?? '',
          reason: errorMessage(err),
        };
      }
      // An earlier secret whose grace has ended signs nothing any more: dropped rather than re-sealed.
      await updateEndpointSealing(trx, row.id, next, row.ended);
      return { written: true };
    },
  });
  const result: ResealResult = {
    resealed: run.written,
    failed: run.failed.map((f) => ({ endpointId: f.id, masterKeyId: f.keyId, reason: f.reason })),
    ...(run.stopped ? { stopped: { afterEndpointId: run.stopped.afterId, reason: run.stopped.reason } } : {}),
  };
  log().info(
    {
      resealed: result.resealed,
      failed: result.failed.length,
      stopped: result.stopped !== undefined,
      masterKeyId: keys.masterKey.id,
    },
    'webhook secrets re-sealed',
  );
  return result;
}
