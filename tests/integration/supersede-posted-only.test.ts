import { Kysely, PostgresDialect, sql, type CompiledQuery } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPool, type DB } from '../../src/storage/db.ts';
import { resolvePending } from '../../src/sync/supersede.ts';
import { createAccount, createTenancy } from '../factories/tenancy.ts';
import { ingestWire, wireTransaction } from '../factories/transactions.ts';
import { createTestDb, type TestDb } from '../helpers/db.ts';

/**
 * Pending → posted resolution of dates without a pending row (every date of a backfill) has nothing to match:
 * it must not read the dates' posted rows (a backfill read each stored row back twice that way, only to drop it).
 * Statements are recorded as the pool sends them; Postgres is real.
 */
describe('pending resolution of dates with posted rows only', () => {
  const DAYS = ['2026-11-02', '2026-11-03'];
  let t: TestDb;
  let account: { id: string; organizationId: string; jpmAccountId: string };
  let sent: CompiledQuery[] = [];
  let rec: Kysely<DB>;

  beforeAll(async () => {
    t = await createTestDb();
    account = await createAccount(t.db, await createTenancy(t.db));
    rec = new Kysely<DB>({
      dialect: new PostgresDialect({ pool: createPool({ url: t.url, poolMax: 1 }) }),
      log(event) {
        if (event.level === 'query') {
          sent.push(event.query);
        }
      },
    });
    await ingestWire(
      t.db,
      account,
      DAYS.flatMap((day, d) =>
        [1, 2, 3].map((i) =>
          wireTransaction({
            transactionId: `P-${d}-${i}`,
            jpmAccountId: account.jpmAccountId,
            asOfDate: day,
            amount: `${i}0.00`,
            bankReference: `BR-${d}-${i}`,
          }),
        ),
      ),
    );
  });
  afterAll(async () => {
    await rec?.destroy();
    await t?.drop();
  });

  it('resolves nothing and reads no posted row', async () => {
    sent = [];
    expect(await resolvePending(rec, account, DAYS, null)).toEqual({ superseded: 0, removed: 0 });
    expect(sent.length).toBeGreaterThan(0);
    expect(sent.filter((q) => /status\s*=\s*'posted'/.test(q.sql)).map((q) => q.sql.replace(/\s+/g, ' '))).toEqual([]);
  });

  it('still supersedes a pending row of such a date once there is one', async () => {
    await ingestWire(t.db, account, [
      wireTransaction({
        transactionId: 'I-0-1',
        postCode: 'I',
        jpmAccountId: account.jpmAccountId,
        asOfDate: DAYS[0]!,
        amount: '10.00',
        bankReference: 'BR-0-1',
      }),
    ]);
    expect(await resolvePending(rec, account, DAYS, null)).toEqual({ superseded: 1, removed: 0 });
    const rows = await sql<{ status: string; by: string | null }>`
      select p.status, q.jpm_transaction_id as by from transactions p left join transactions q on q.id = p.superseded_by
      where p.account_id = ${account.id} and p.jpm_transaction_id = 'I-0-1'`.execute(t.db);
    expect(rows.rows).toEqual([{ status: 'superseded', by: 'P-0-1' }]);
  });
});
