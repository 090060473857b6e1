/**
 * What each index on `transactions` and `change_events` costs ingestion: COPY of the same rows into the bare
 * table (primary key, and for transactions the identity key) and into the bare table plus one index (or plus
 * the foreign keys), on the first rows of the backfilled tables. The README's index table comes from here.
 * `transaction_search` (text search, filled after commit by the search step, not by ingestion) is measured the
 * same way and listed on its own: its trigram GIN is what moved off the ingest path.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { backfilledDb, startResult, type RunContext } from './lib/context.ts';
import { indexCosts } from './lib/copy.ts';
import { round, target, type BenchResult } from './lib/env.ts';

const ROWS = Number(process.env.BENCH_INDEX_COST_ROWS ?? 50_000);

export async function runIndexCosts(ctx: RunContext): Promise<BenchResult> {
  const source = await backfilledDb(ctx);
  const finish = startResult(ctx, 'index-costs', 'COPY cost of each index and of the foreign keys, per row');
  const dir = await mkdtemp(join(tmpdir(), 'jpm-sync-bench-index-'));
  try {
    await sql`checkpoint`.execute(source.db);
    const transactions = await indexCosts(source.url, dir, 'transactions', ROWS);
    const changeEvents = await indexCosts(source.url, dir, 'change_events', ROWS);
    const search = await indexCosts(source.url, dir, 'transaction_search', ROWS);
    // Indexes and foreign keys only: the raw record's compression is a storage choice, reported on its own row.
    const sum = (xs: { name: string; extraMicrosecondsPerRow: number }[]) =>
      round(
        xs
          .filter((x) => !x.name.startsWith('raw compressed'))
          .reduce((n, x) => n + Math.max(0, x.extraMicrosecondsPerRow), 0),
        1,
      );
    const bareUs = (m: { backendCpuMicrosecondsPerRow: number }) => m.backendCpuMicrosecondsPerRow;
    return finish({
      parameters: { rowsPerCopy: ROWS },
      figures: {
        transactions: {
          bareMicrosecondsPerRow: bareUs(transactions.bare),
          bare: transactions.bare,
          indexes: transactions.costs,
          extraMicrosecondsPerRowAll: sum(transactions.costs),
        },
        changeEvents: {
          bareMicrosecondsPerRow: bareUs(changeEvents.bare),
          bare: changeEvents.bare,
          indexes: changeEvents.costs,
          extraMicrosecondsPerRowAll: sum(changeEvents.costs),
        },
        // Not on the ingest path: the search step pays it after commit.
        transactionSearch: {
          bareMicrosecondsPerRow: bareUs(search.bare),
          bare: search.bare,
          indexes: search.costs,
          extraMicrosecondsPerRowAll: sum(search.costs),
        },
      },
      targets: [target('indexes measured', transactions.costs.length + changeEvents.costs.length, '>=', 1)],
      notes: [
        'Each figure: COPY FROM STDIN of the same file (the first rows of the table in id order) after a checkpoint, into a fresh table; extra µs per row = median over three pairs of (CPU of the COPY backend per row with the index) − (the same for the bare table run just before it). The wall-time differences are in pairsWallMicrosecondsPerRow.',
        'Backend CPU, not wall time: on a machine shared with other work the wall time of one COPY swings with the load, its own CPU far less. WAL writing and checkpoints by other server processes are not in it.',
        "transactionSearch: the search table (transaction id, organization, description), filled after commit by the search step; its costs are not paid by ingestion but by that step (see the backfill result's searchStep).",
        'The bare table compresses jsonb with the server default (pglz); "raw compressed with lz4" is the real table\'s storage choice for the raw record, measured against it (a negative cost is a saving).',
      ],
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
