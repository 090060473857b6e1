import { readFileSync } from 'node:fs';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OccurrenceCounter } from '../../src/normalization/identity.ts';
import { normalizeTransactions } from '../../src/normalization/transactions.ts';
import type { WireTransaction } from '../../src/jpm/wire.schemas.ts';
import { parseJsonLossless } from '../../src/shared/json.ts';
import { ingestTransactionPage } from '../../src/sync/ingest.ts';
import { createAccount, createTenancy } from '../factories/tenancy.ts';
import { createTestDb, type TestDb } from '../helpers/db.ts';

const FILES = [
  'tests/fixtures/jpm/unicorn-finance/uf-transactions.json',
  'tests/fixtures/jpm/jpmorganchase-payments/uf-transactions.json',
];

/** Cents straight from the file text, by string surgery only: an independent oracle for toMinorUnits. */
function centsFromText(text: string): { id: string; cents: bigint }[] {
  const out: { id: string; cents: bigint }[] = [];
  const re = /"transactionId"\s*:\s*"([^"]+)"/g;
  const ids = [...text.matchAll(re)].map((m) => m[1]!);
  const amounts = [...text.matchAll(/"amount"\s*:\s*([0-9.]+)/g)].map((m) => m[1]!);
  expect(amounts.length).toBe(ids.length);
  ids.forEach((id, i) => {
    const [whole, frac = ''] = amounts[i]!.split('.');
    out.push({ id, cents: BigInt(whole!) * 100n + BigInt((frac + '00').slice(0, 2)) });
  });
  return out;
}

describe('J.P. Morgan sample transactions', () => {
  let t: TestDb;
  beforeAll(async () => {
    t = await createTestDb();
  });
  afterAll(async () => {
    await t.drop();
  });

  it('all 304 are stored exactly once, to the cent, and a re-import changes nothing', async () => {
    const tenancy = await createTenancy(t.db);
    const expected = new Map<string, bigint>();
    let total = 0;
    for (const file of FILES) {
      const text = readFileSync(file, 'utf8');
      const records = (parseJsonLossless(text) as { data: WireTransaction[] }).data;
      total += records.length;
      for (const { id, cents } of centsFromText(text)) {
        expected.set(id, cents);
      }
      const byAccount = Map.groupBy(records, (r) => r.account.accountId);
      for (const [jpmAccountId, recs] of byAccount) {
        const existing = await t.db
          .selectFrom('bank_accounts')
          .select(['id', 'organization_id'])
          .where('jpm_account_id', '=', jpmAccountId)
          .executeTakeFirst();
        const account = existing
          ? { id: existing.id, organizationId: existing.organization_id }
          : await createAccount(t.db, tenancy, { jpmAccountId });
        for (let pass = 0; pass < 2; pass++) {
          const page = normalizeTransactions(recs, new OccurrenceCounter());
          expect(page.rejects).toEqual([]);
          const counts = await ingestTransactionPage(t.db, account, { ...page, fetched: recs.length }, null);
          expect(pass === 0 ? counts.inserted : counts.unchanged).toBe(recs.length);
          expect(counts.updated).toBe(0);
        }
      }
    }
    expect(total).toBe(304);
    const rows = await t.db
      .selectFrom('transactions')
      .select(['jpm_transaction_id', 'amount_minor', 'status'])
      .execute();
    expect(rows).toHaveLength(304);
    for (const r of rows) {
      expect(BigInt(r.amount_minor)).toBe(expected.get(r.jpm_transaction_id));
    }
    expect(rows.filter((r) => r.status === 'pending')).toHaveLength(49);
    const sum = await sql<{ s: string }>`select sum(amount_minor)::text as s from transactions`.execute(t.db);
    expect(BigInt(sum.rows[0]!.s)).toBe([...expected.values()].reduce((a, b) => a + b, 0n));
    // The narrative column is each record's narrativeText as sent (the insert takes it from the raw record).
    const narratives = await t.db.selectFrom('transactions').select(['narrative', 'raw']).execute();
    expect(narratives.filter((r) => r.narrative !== null).length).toBeGreaterThan(100);
    for (const r of narratives) {
      expect(r.narrative).toEqual((r.raw as { narrativeText?: unknown }).narrativeText ?? null);
    }
  });
});
