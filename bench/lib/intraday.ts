/**
 * What intraday syncs leave in a history, added to the backfilled (posted-only) database before the read
 * benchmarks: two of every three posted items were first seen intraday as pending items that the posted
 * record superseded (so 40 % of all rows are superseded pending items, as in a user's 20-day history with
 * three intraday syncs a day), and one posted item in a hundred has a withdrawn intraday twin that never
 * posted (status `removed`). Each pending row has its `added` and `modified` change events, and each posted row that
 * superseded one its `modified` event (its `supersedes` link).
 *
 * Written with SQL in one statement per kind rather than through the pipeline (the simulator's intraday
 * clock would need a sync per day and account): the rows have the shape the supersede step writes
 * (post code I, `superseded_by` set, version 2, the posted row's raw record), which is what the read paths see.
 */
import { sql } from 'kysely';
import type { Database } from '../../src/storage/db.ts';
import { round } from './env.ts';
import { runSearchStepToEnd } from './search-step.ts';

export interface IntradayHistory {
  superseded: number;
  removed: number;
  events: number;
  seconds: number;
  shareSuperseded: number;
  /** The search step applying the new rows' events afterwards, as the worker would (not part of `seconds`). */
  searchStepSeconds: number;
}

export async function addIntradayHistory(db: Database): Promise<IntradayHistory> {
  const started = performance.now();
  const columns =
    sql.raw(`id, organization_id, account_id, status, direction, amount_minor, currency, decimal_location, booking_date, value_date,
    bai_type_code, bai_summary_code, bank_reference, customer_reference, description, jpm_transaction_id, post_code, fingerprint_key,
    content_hash, raw, superseded_by, version, first_seen_at, updated_at`);
  const superseded = await sql`
    insert into transactions (${columns})
    select gen_random_uuid(), organization_id, account_id, 'superseded', direction, amount_minor, currency, decimal_location, booking_date,
      value_date, bai_type_code, bai_summary_code, bank_reference, customer_reference, description, jpm_transaction_id, 'I',
      'I' || substr(fingerprint_key, 2), content_hash, raw, id, 2, first_seen_at - interval '14 hours', first_seen_at
    from transactions where status = 'posted' and abs(hashtext(id::text)) % 3 <> 0`.execute(db);
  const removed = await sql`
    insert into transactions (${columns})
    select gen_random_uuid(), organization_id, account_id, 'removed', direction, amount_minor + 1, currency, decimal_location, booking_date,
      value_date, bai_type_code, bai_summary_code, bank_reference, customer_reference, description, 'W' || jpm_transaction_id, 'I',
      'I' || substr(fingerprint_key, 2) || 'w', content_hash, raw, null, 2, first_seen_at - interval '14 hours', first_seen_at
    from transactions where status = 'posted' and abs(hashtext(id::text || 'w')) % 100 = 0`.execute(db);
  // A posted row that superseded a pending one shows it (`supersedes`): version 2 and a `modified` event of its own,
  // as the supersede step writes them.
  await sql`
    update transactions set version = version + 1
    where status = 'posted' and id in (select superseded_by from transactions where status = 'superseded')`.execute(db);
  const events = await sql`
    insert into change_events (organization_id, account_id, entity, entity_id, kind, created_at)
    select organization_id, account_id, 'transaction', id, k.kind, first_seen_at
    from transactions cross join (values ('added'), ('modified')) as k(kind)
    where post_code = 'I'
    union all
    select organization_id, account_id, 'transaction', id, 'modified', updated_at
    from transactions where status = 'posted' and version = 2`.execute(db);
  const counts = await sql<{ superseded: string; total: string }>`
    select count(*) filter (where status = 'superseded')::text as superseded, count(*)::text as total from transactions`.execute(
    db,
  );
  const s = Number(counts.rows[0]?.superseded ?? 0);
  const seconds = round((performance.now() - started) / 1000, 1);
  // Text search: the step applies the new rows as the worker's loop would, so `q=` is measured with it caught up.
  await runSearchStepToEnd(db);
  return {
    superseded: Number(superseded.numAffectedRows ?? 0n),
    removed: Number(removed.numAffectedRows ?? 0n),
    events: Number(events.numAffectedRows ?? 0n),
    seconds,
    searchStepSeconds: round((performance.now() - started) / 1000 - seconds, 1),
    shareSuperseded: round(s / Number(counts.rows[0]?.total ?? 1), 3),
  };
}

/**
 * Returns the database to "never analyzed": removes the planner statistics of every table (the benchmark
 * databases belong to the superuser), as on a machine where autovacuum is off and nothing ran ANALYZE, or
 * right after a bulk load outran autoanalyze. pg_class's row and page counts stay (without them the planner
 * derives the same from the table's size).
 */
export async function forgetStatistics(db: Database): Promise<number> {
  const r = await sql<{ n: string }>`
    with d as (delete from pg_statistic where starelid in (select oid from pg_class where relnamespace = 'public'::regnamespace) returning 1)
    select count(*)::text as n from d`.execute(db);
  return Number(r.rows[0]?.n ?? 0);
}

/** ANALYZE of the whole database; returns its seconds. */
export async function analyzeAll(db: Database): Promise<number> {
  const started = performance.now();
  await sql`analyze`.execute(db);
  return round((performance.now() - started) / 1000, 1);
}
