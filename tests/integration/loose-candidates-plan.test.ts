import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findLooseCandidates } from '../../src/storage/transactions.repo.ts';
import { createAccount, createTenancy } from '../factories/tenancy.ts';
import { ingestWire, wireTransaction } from '../factories/transactions.ts';
import { createTestDb, type TestDb } from '../helpers/db.ts';

/**
 * A page of the API's records that inserts anything looks for rows of another channel the same items may already
 * have (the loose cross-channel match). On an account no file was imported for there are none, and the look-up must
 * find that without reading the day's API rows (a backfill made it on every page). Rows read are counted by
 * Postgres (`pg_stat_get_xact_tuples_fetched` of the table and its indexes, this transaction's own), on a table never analyzed.
 */
describe('loose cross-channel candidates of an API page', () => {
  const DAY = '2026-11-02';
  let t: TestDb;
  let account: { id: string; organizationId: string; jpmAccountId: string };
  const amounts = Array.from({ length: 300 }, (_, i) => `${(i % 50) + 1}00`);

  beforeAll(async () => {
    t = await createTestDb();
    account = await createAccount(t.db, await createTenancy(t.db));
    await ingestWire(
      t.db,
      account,
      amounts.map((minor, i) =>
        wireTransaction({
          transactionId: `P-${i}`,
          jpmAccountId: account.jpmAccountId,
          asOfDate: DAY,
          amount: `${Number(minor) / 100}.00`,
          bankReference: `BR-${i}`,
        }),
      ),
    );
  });
  afterAll(async () => {
    await t?.drop();
  });

  /** Rows this transaction fetched from `transactions`: by bitmap scans (the table's count) and index scans (each index's). */
  const FETCHED = sql`select (pg_stat_get_xact_tuples_fetched('transactions'::regclass)
    + (select coalesce(sum(pg_stat_get_xact_tuples_fetched(indexrelid)), 0) from pg_index where indrelid = 'transactions'::regclass))::text as n`;

  async function fetched(onlyApi: boolean): Promise<{ rows: number; read: number }> {
    return t.db.transaction().execute(async (trx) => {
      const before = await sql<{ n: string }>`${FETCHED}`.execute(trx);
      const rows = await findLooseCandidates(trx, account.id, [DAY], amounts, onlyApi);
      const after = await sql<{ n: string }>`${FETCHED}`.execute(trx);
      return { rows: rows.length, read: Number(after.rows[0]!.n) - Number(before.rows[0]!.n) };
    });
  }

  it('reads no row of the API on an account without file rows', async () => {
    // The look-up without the channel predicate reads the day's rows: the measure sees them.
    expect(await fetched(false)).toEqual({ rows: 300, read: 300 });
    expect(await fetched(true)).toEqual({ rows: 0, read: 0 });
  });

  it('finds a file row of the day, reading only it', async () => {
    await sql`update transactions set source = 'bai2' where account_id = ${account.id} and jpm_transaction_id = 'P-7'`.execute(
      t.db,
    );
    const found = await t.db
      .transaction()
      .execute(async (trx) => findLooseCandidates(trx, account.id, [DAY], amounts, true));
    expect(found.map((r) => [r.jpm_transaction_id, r.source])).toEqual([['P-7', 'bai2']]);
    expect(await fetched(true)).toEqual({ rows: 1, read: 1 });
  });
});
