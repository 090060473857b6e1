import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importStatementFile } from '../../src/main/statement-import.ts';
import { parseStatement } from '../../src/statements/index.ts';
import { createTestDb, type TestDb } from '../helpers/db.ts';
import { createAccount, createTenancy } from '../factories/tenancy.ts';

/**
 * Public BAI2 and camt sample files (tests/fixtures/statements/README.md names their sources and licences) imported
 * through the real import path into Postgres: every entry of the account stored once, nothing rejected that the file
 * states correctly, and a second import storing nothing.
 */
let t: TestDb;
beforeAll(async () => {
  t = await createTestDb();
});
afterAll(async () => {
  await t.drop();
});

const SAMPLES: { file: string; account: string; currency: string; decimals: number; balanceRejects?: number }[] = [
  { file: 'svb_us_example.bai2', account: '1234567890', currency: 'USD', decimals: 2 },
  { file: 'nwb_example.bai2', account: '88888888 600004', currency: 'GBP', decimals: 2 },
  { file: 'citi_example.bai2', account: '77777777', currency: 'GBP', decimals: 2 },
  { file: 'moov-sample1.bai2', account: '10200123456', currency: 'CAD', decimals: 2 },
  { file: 'moov-sample2.bai2', account: '4589761203', currency: 'USD', decimals: 2 },
  { file: 'camt052.v2.xml', account: 'CH2801234000123456789', currency: 'SEK', decimals: 2 },
  { file: 'camt053.v2.five.decimals.xml', account: 'NL26VAYB8060476890', currency: 'EUR', decimals: 2 },
  // Two successive statements of one day (08:00-12:30, then the rest of the day), the second opening with the
  // first's close: the day opens with the first's opening and closes with the second's closing balance.
  { file: 'camt053.v2.multi.statement.xml', account: 'NL26VAYB8060476890', currency: 'EUR', decimals: 2 },
];

describe('public statement samples', () => {
  it("camt053.v2.multi.statement.xml: the day's balance stored once, opening 18.15 and closing 20.00", async () => {
    const text = readFileSync('tests/fixtures/statements/public/camt053.v2.multi.statement.xml', 'utf8');
    const account = await createAccount(t.db, await createTenancy(t.db), {
      jpmAccountId: 'NL26VAYB8060476890',
      currency: 'EUR',
      decimalLocation: 2,
    });
    const run = await importStatementFile(t.db, { accountId: account.id, text, trigger: 'manual' });
    expect(run.status).toBe('succeeded');
    const rows = await t.db.selectFrom('balances').selectAll().where('account_id', '=', account.id).execute();
    expect(rows.map((r) => [r.as_of_date, r.kind, r.opening_ledger_minor, r.ending_ledger_minor])).toEqual([
      ['2014-12-31', 'final', '1815', '2000'],
    ]);
  });

  it.each(SAMPLES)('$file: every entry of the account stored once', async (s) => {
    const text = readFileSync(`tests/fixtures/statements/public/${s.file}`, 'utf8');
    const parsed = parseStatement(text);
    const entries = parsed.accounts.filter((a) => a.accountNumber === s.account).flatMap((a) => a.entries);
    expect(entries.length).toBeGreaterThan(0);
    const account = await createAccount(t.db, await createTenancy(t.db), {
      jpmAccountId: s.account,
      currency: s.currency,
      decimalLocation: s.decimals,
    });
    const first = await importStatementFile(t.db, { accountId: account.id, text, trigger: 'manual' });
    expect(first.counts.inserted).toBe(entries.length);
    expect(first.counts.rejected).toBe(s.balanceRejects ?? 0);
    expect(first.status).toBe(s.balanceRejects ? 'partial' : 'succeeded');
    const stored = await t.db
      .selectFrom('transactions')
      .select(['amount_minor', 'direction'])
      .where('account_id', '=', account.id)
      .where('status', 'in', ['posted', 'pending'])
      .execute();
    const sum = (rows: { amount_minor: string | bigint; direction: string }[]) =>
      rows.map((r) => `${r.direction}:${BigInt(r.amount_minor)}`).sort();
    expect(sum(stored)).toEqual(sum(entries.map((e) => ({ amount_minor: e.amountMinor, direction: e.direction }))));
    const balances = await t.db.selectFrom('balances').selectAll().where('account_id', '=', account.id).execute();
    expect(balances.length).toBe(parsed.accounts.find((a) => a.accountNumber === s.account)!.balances.length);
    const again = await importStatementFile(t.db, { accountId: account.id, text, trigger: 'manual' });
    expect(again.counts).toEqual(expect.objectContaining({ inserted: 0, updated: 0 }));
  });
});
