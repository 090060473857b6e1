import { sql, type Kysely } from 'kysely';

/**
 * A day's totals as `numeric`: every amount of a row fits `bigint` minor units (larger ones are rejects), but a day's
 * credits or debits, the bank's tally of a walk (`bank_day_fetches`) and the proof's difference (`account_days`) may
 * sum beyond it (two credits of 50,000,000,000,000,000.00 USD). In `bigint` such a day failed the sync and the proof
 * ("out of range") on every attempt; `numeric` holds every whole number exactly.
 *
 * Changing a column's type rewrites these two tables (one row per account-day).
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    alter table bank_day_fetches
      alter column credits_minor type numeric,
      alter column debits_minor type numeric`.execute(db);
  await sql`
    alter table account_days
      alter column credits_minor type numeric,
      alter column debits_minor type numeric,
      alter column difference_minor type numeric`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`
    alter table account_days
      alter column credits_minor type bigint,
      alter column debits_minor type bigint,
      alter column difference_minor type bigint`.execute(db);
  await sql`
    alter table bank_day_fetches
      alter column credits_minor type bigint,
      alter column debits_minor type bigint`.execute(db);
}
