import { sql } from 'kysely';
import type { Executor } from './db.ts';

/**
 * Statistics after bulk work. Autovacuum is off on our machines, and in production a backfill outruns
 * autoanalyze; the read queries are index-backed without statistics (tests/integration/query-plans.test.ts),
 * but the validation and maintenance queries still plan better with them. After a sync window or a purge the
 * caller hands us the tables it wrote; we ANALYZE those whose changes since their last analyze pass
 * autovacuum's own rule (50 rows + 10 % of the table), at most once a minute per table and process, skipping a
 * table another session is analyzing. ANALYZE samples at most 30,000 rows, so its cost does not grow with the
 * table, and the 10 % rule makes the number of analyzes during a backfill grow with the logarithm of its size.
 */
export const BULK_WRITTEN_TABLES = [
  'transactions',
  'change_events',
  'transaction_versions',
  'transaction_decisions',
  'balances',
  'transaction_search',
] as const;
export type BulkWrittenTable = (typeof BULK_WRITTEN_TABLES)[number];

const ANALYZE_THRESHOLD_ROWS = 50;
const ANALYZE_SCALE_FACTOR = 0.1;
export const ANALYZE_MIN_INTERVAL_MS = 60_000;

const lastAnalyzed = new Map<string, number>();

/** Analyzes the tables among `tables` that changed enough since their last analyze; returns their names. */
export async function analyzeChangedTables(
  ex: Executor,
  tables: readonly BulkWrittenTable[],
  options: { now?: number; minIntervalMs?: number } = {},
): Promise<string[]> {
  const now = options.now ?? Date.now();
  const minInterval = options.minIntervalMs ?? ANALYZE_MIN_INTERVAL_MS;
  const due = tables.filter((t) => now - (lastAnalyzed.get(t) ?? -Infinity) >= minInterval);
  if (due.length === 0) {
    return [];
  }
  const stale = await sql<{ relname: BulkWrittenTable }>`
    select s.relname from pg_stat_user_tables s join pg_class c on c.oid = s.relid
    where s.schemaname = current_schema() and s.relname = any(${due}::text[])
      and s.n_mod_since_analyze >= ${ANALYZE_THRESHOLD_ROWS} + ${ANALYZE_SCALE_FACTOR} * greatest(c.reltuples, 0)
    order by s.relname`.execute(ex);
  const analyzed: string[] = [];
  for (const { relname } of stale.rows) {
    // The name comes from the fixed list above (checked by the query), never from input.
    if (!(BULK_WRITTEN_TABLES as readonly string[]).includes(relname)) {
      continue;
    }
    lastAnalyzed.set(relname, now);
    await sql`analyze (skip_locked) ${sql.table(relname)}`.execute(ex);
    analyzed.push(relname);
  }
  return analyzed;
}
