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
type Failure = ResealResult['failed'][number];

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
 * cannot even be read, the run stops and `stopped` says from where nothing was looked at.
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
    let rows: ResealRow[] = [];
    let resealed = 0;
    let writing: string | undefined;
    const unopened: Failure[] = [];
    try {
      await db.transaction().execute(async (trx) => {
        rows = await listEndpointSecretsToReseal(trx, keys.masterKey.id, cursor, batchSize);
        for (const row of rows) {
          let next: Partial<Record<SecretSlot, SealedSecretColumns>>;
          try {
            next = resealRow(row, keys);
          } catch (err) {
            const masterKeyId = (err as { masterKeyId?: string }).masterKeyId ?? '';
            unopened.push({ endpointId: row.id, masterKeyId, reason: errorMessage(err) });
            continue;
          }
          writing = row.id;
          // An earlier secret whose grace has ended signs nothing any more: dropped rather than re-sealed.
          await updateEndpointSealing(trx, row.id, next, row.ended);
          resealed++;
        }
        writing = undefined;
      });
    } catch (err) {
      if (rows.length === 0) {
        result.stopped = { afterEndpointId: cursor, reason: errorMessage(err) };
        break;
      }
      // Nothing of this batch is stored: each of its endpoints is named, none counted.
      const failedAt = writing === undefined ? 'the commit' : `endpoint ${writing}`;
      for (const row of rows) {
        result.failed.push(
          unopened.find((u) => u.endpointId === row.id) ?? {
            endpointId: row.id,
            masterKeyId: sealingKeyOf(row, keys),
            reason:
              row.id === writing
                ? errorMessage(err)
                : `not stored: its batch was rolled back by a database error at ${failedAt} (${errorMessage(err)})`,
          },
        );
      }
      resealed = 0;
      unopened.length = 0;
    }
    result.resealed += resealed;
    result.failed.push(...unopened);
    const last = rows.at(-1);
    if (!last || rows.length < batchSize) {
      break;
    }
    afterId = last.id;
  }
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
