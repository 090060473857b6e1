import { errorMessage } from '../shared/errors.ts';
import type { Database, Executor } from './db.ts';

/** What one row's step did: written (counted once its batch commits), or refused with why and the key it names. */
export type RowStep = { written: true } | { written: false; keyId: string; reason: string };

export interface BatchRun {
  /** Rows written, counted once their batch committed. */
  written: number;
  /** Rows not written: refused by their step, or in a batch a database error rolled back (every row of it named). */
  failed: { id: string; keyId: string; reason: string }[];
  /** Set when the rows after `afterId` (null: from the start) could not even be read: none was looked at. */
  stopped?: { afterId: string | null; reason: string };
}

/**
 * Walks rows in batches of `batchSize`, each batch read and written in its own transaction (a master-key rotation:
 * `rewrapKeys`, `resealWebhookSecrets`). A database error rolls its whole batch back, so a row counts as written only
 * once its batch committed; every row of a rolled-back batch is in `failed` (the row being written with the error,
 * the others saying their batch was rolled back, and where), and the run goes on with the next batch. When a batch
 * cannot even be read, the run stops and `stopped` says from where nothing was looked at.
 */
export async function inCommittedBatches<Row extends { id: string }>(
  db: Database,
  options: {
    batchSize: number;
    read: (trx: Executor, afterId: string | null, limit: number) => Promise<Row[]>;
    step: (trx: Executor, row: Row) => Promise<RowStep>;
    /** The key a row of a rolled-back batch names. */
    keyOf: (row: Row) => string;
    /** What a row is called in a failure's reason ("key pair", "endpoint"). */
    noun: string;
  },
): Promise<BatchRun> {
  const run: BatchRun = { written: 0, failed: [] };
  let afterId: string | null = null;
  for (;;) {
    const cursor: string | null = afterId;
    let rows: Row[] = [];
    let written = 0;
    let writing: string | undefined;
    const refused: BatchRun['failed'] = [];
    try {
      await db.transaction().execute(async (trx) => {
        rows = await options.read(trx, cursor, options.batchSize);
        for (const row of rows) {
          writing = row.id;
          const step = await options.step(trx, row);
          if (step.written) {
            written++;
          } else {
            refused.push({ id: row.id, keyId: step.keyId, reason: step.reason });
          }
        }
        writing = undefined;
      });
    } catch (err) {
      if (rows.length === 0) {
        run.stopped = { afterId: cursor, reason: errorMessage(err) };
        break;
      }
      // Nothing of this batch is stored: each of its rows is named, none counted.
      const failedAt = writing === undefined ? 'the commit' : `${options.noun} ${writing}`;
      for (const row of rows) {
        run.failed.push(
          refused.find((u) => u.id === row.id) ?? {
            id: row.id,
            keyId: options.keyOf(row),
            reason:
              row.id === writing
                ? errorMessage(err)
                : `not stored: its batch was rolled back by a database error at ${failedAt} (${errorMessage(err)})`,
          },
        );
      }
      written = 0;
      refused.length = 0;
    }
    run.written += written;
    run.failed.push(...refused);
    const last = rows.at(-1);
    if (!last || rows.length < options.batchSize) {
      break;
    }
    afterId = last.id;
  }
  return run;
}
