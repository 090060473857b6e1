import { sql, type Kysely } from 'kysely';

/**
 * Which channel a fact came from: the J.P. Morgan API (`jpm_api`) or a statement file the customer
 * imported (`bai2`, `camt053`, `camt052`). Recorded on every transaction row and each of its earlier
 * versions (the channel whose record made the change), on every decision, balance and sync run.
 * Everything stored before statement files existed came from the API, hence the default. Adding a
 * column with a constant default rewrites no table.
 */
const TABLES = ['transactions', 'transaction_versions', 'transaction_decisions', 'balances', 'sync_runs'] as const;

export async function up(db: Kysely<any>): Promise<void> {
  for (const table of TABLES) {
    await sql`alter table ${sql.table(table)} add column source text not null default 'jpm_api'`.execute(db);
    // NOT VALID: every existing row holds the default; new rows are checked from now on.
    await sql`alter table ${sql.table(table)} add constraint ${sql.id(`${table}_source_check`)}
      check (source in ('jpm_api', 'bai2', 'camt053', 'camt052')) not valid`.execute(db);
  }
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const table of TABLES) {
    await sql`alter table ${sql.table(table)} drop column source`.execute(db);
  }
}
