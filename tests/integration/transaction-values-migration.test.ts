import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { createMigrator } from '../../src/storage/migrator.ts';
import { listTransactions } from '../../src/storage/read.repo.ts';
import { createAccount, createTenancy } from '../factories/tenancy.ts';
import { ingestWire, wireTransaction } from '../factories/transactions.ts';
import { createTestDb } from '../helpers/db.ts';

/**
 * The accounts' values migration (20261210T010000000Z) on a database whose search step had applied every stored row
 * before it (its position after their events, so a `currency=` page no longer finds them through the change feed):
 * its fill alone must hold each account's currencies and BAI type codes.
 */
const VALUES = '20261210T010000000Z-transaction-values';

describe('the accounts values migration', () => {
  it("fills every account's currencies and BAI codes from the rows stored before it, so their pages find them", async () => {
    const t = await createTestDb();
    try {
      // Back to the release before it: the later migrations down, then this one.
      for (;;) {
        const down = await createMigrator(t.db).migrateDown();
        expect(down.error).toBeUndefined();
        const names = down.results?.map((r) => r.migrationName) ?? [];
        expect(names).toHaveLength(1);
        if (names[0] === VALUES) {
          break;
        }
      }
      const tenancy = await createTenancy(t.db);
      const [eur, usd] = [await createAccount(t.db, tenancy), await createAccount(t.db, tenancy)];
      await ingestWire(t.db, eur, [
        wireTransaction({ transactionId: 'E-1', jpmAccountId: eur.jpmAccountId, currency: 'EUR', baiTypeCode: '451' }),
        wireTransaction({ transactionId: 'E-2', jpmAccountId: eur.jpmAccountId, currency: 'EUR' }),
      ]);
      await ingestWire(t.db, usd, [wireTransaction({ transactionId: 'U-1', jpmAccountId: usd.jpmAccountId })]);
      // The search step of the release before: its position past every event, no values written.
      await sql`
        update transaction_search_state set (position_xid, position_id) =
          (select e.xid, e.id from change_events e order by e.xid desc, e.id desc limit 1)`.execute(t.db);
      const up = await createMigrator(t.db).migrateToLatest();
      expect(up.error).toBeUndefined();
      const values = await sql<{ field: string; value: string; account_id: string }>`
        select field, value, account_id from transaction_values order by field, value, account_id`.execute(t.db);
      expect(values.rows).toEqual(
        [
          { field: 'bai_type_code', value: '399', account_id: eur.id },
          { field: 'bai_type_code', value: '399', account_id: usd.id },
          { field: 'bai_type_code', value: '451', account_id: eur.id },
          { field: 'currency', value: 'EUR', account_id: eur.id },
          { field: 'currency', value: 'USD', account_id: usd.id },
        ].sort((a, b) =>
          `${a.field} ${a.value} ${a.account_id}`.localeCompare(`${b.field} ${b.value} ${b.account_id}`),
        ),
      );
      const page = (filter: Parameters<typeof listTransactions>[1]) =>
        listTransactions(t.db, filter, { sort: 'firstSeen', limit: 10 }).then((rows) =>
          rows.map((r) => r.jpm_transaction_id).sort(),
        );
      expect(await page({ currency: 'EUR' })).toEqual(['E-1', 'E-2']);
      expect(await page({ organizationId: tenancy.organizationId, baiCode: '451' })).toEqual(['E-1']);
      expect(await page({ currency: 'USD', baiCode: '399' })).toEqual(['U-1']);
      expect(await page({ currency: 'GBP' })).toEqual([]);
    } finally {
      await t.drop();
    }
  });
});
