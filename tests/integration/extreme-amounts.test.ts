import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uuidv7 } from '../../src/shared/ids.ts';
import { JsonNumber } from '../../src/shared/json.ts';
import { upsertBalances } from '../../src/storage/balances.repo.ts';
import { createSyncRun } from '../../src/storage/sync-runs.repo.ts';
import { onPostedDays } from '../../src/validation/index.ts';
import { createTestDb, type TestDb } from '../helpers/db.ts';
import { startSimBank, type SimBank } from '../helpers/sim-bank.ts';

/**
 * Amounts at the edge of what a row holds, as the bank (the simulator replaying a file, over real mTLS) may write them:
 * exponent form (`5E+16`, `1.0e2`), beyond 2^53, each within Postgres `bigint` minor units, but a day's credits (and
 * debits) summing beyond it. Each record is stored to the minor unit; the day's totals (the bank's tally of the walk and
 * the balance proof) are exact too, so the sync and the proof never fail on them. An amount with more decimals than its
 * currency has, or beyond `bigint`, is a reject naming `amount`, never rounded.
 */
const DAY = '2026-11-03';
const JPM_ACCOUNT = '000000055443322';
const SAMPLE = (
  JSON.parse(
    readFileSync(new URL('../fixtures/jpm/jpmorganchase-payments/uf-transactions.json', import.meta.url), 'utf8'),
  ) as { data: Record<string, unknown>[] }
).data[0]!;

/** One record as the bank writes it: the sample with this id, direction and amount (a JSON number's exact text). */
function record(id: string, direction: 'CREDIT' | 'DEBIT', amount: string): Record<string, unknown> {
  const currency = { code: 'USD', description: 'US Dollar', decimalLocation: 2, currencySequence: 0 };
  return {
    ...structuredClone(SAMPLE),
    account: { ...(SAMPLE.account as Record<string, unknown>), accountId: JPM_ACCOUNT, currency },
    currency,
    transactionId: id,
    asOfDate: DAY,
    valueDate: DAY,
    postCode: 'P',
    debitCreditCode: direction,
    amount: new JsonNumber(amount),
    bankReferenceSearchable: { standardValue: `REF-${id}`, searchValue: `REF-${id}` },
  };
}

describe('extreme amounts from the bank, through the real client over mTLS into Postgres', () => {
  let t: TestDb;
  let env: SimBank;
  let dir: string;

  beforeAll(async () => {
    t = await createTestDb();
    dir = await mkdtemp(join(tmpdir(), 'extreme-amounts-'));
    const data = [
      record('C-EXP', 'CREDIT', '5E+16'), // 5,000,000,000,000,000,000 minor units
      record('C-PLAIN', 'CREDIT', '50000000000000000.00'), // the same again: the day's credits exceed 2^63 - 1
      record('C-SMALL', 'CREDIT', '1.0e2'), // 100.00
      record('D-BIG', 'DEBIT', '9.0e16'),
      record('D-REST', 'DEBIT', '10000000000000100'), // debits equal credits: the day nets to zero
      record('R-SCALE', 'CREDIT', '12.345'), // three decimals in USD: a reject, never 12.34 or 12.35
      record('R-BEYOND', 'CREDIT', '92233720368547758.08'), // 2^63 minor units: no row can hold it
    ];
    await writeFile(join(dir, 'day.json'), JSON.stringify({ data }));
    env = await startSimBank(t.db, {
      today: '2026-11-20',
      replayFile: join(dir, 'day.json'),
      accounts: [{ accountId: JPM_ACCOUNT, currency: 'USD' }],
    });
  });
  afterAll(async () => {
    await env.stop();
    await t.drop();
    await rm(dir, { recursive: true, force: true });
  });

  it('stores each amount exactly, rejects the unrepresentable ones by name, and tallies and proves the day exactly', async () => {
    const account = env.accounts[0]!;
    const runId = await createSyncRun(t.db, {
      organizationId: env.tenancy.organizationId,
      integrationId: env.tenancy.integrationId,
      accountId: account.id,
      trigger: 'manual',
      mode: 'range',
      windowFrom: DAY,
      windowTo: DAY,
      id: uuidv7(),
      windowsTotal: 1,
    });
    const counts = await env.sync(account.id, { mode: 'range', from: DAY, to: DAY, kinds: ['transactions'], runId });
    expect(counts).toMatchObject({ inserted: 5, rejected: 2 });

    const rows = await t.db
      .selectFrom('transactions')
      .select(['jpm_transaction_id', 'direction', 'amount_minor'])
      .where('account_id', '=', account.id)
      .orderBy('jpm_transaction_id')
      .execute();
    expect(rows).toEqual([
      { jpm_transaction_id: 'C-EXP', direction: 'credit', amount_minor: '5000000000000000000' },
      { jpm_transaction_id: 'C-PLAIN', direction: 'credit', amount_minor: '5000000000000000000' },
      { jpm_transaction_id: 'C-SMALL', direction: 'credit', amount_minor: '10000' },
      { jpm_transaction_id: 'D-BIG', direction: 'debit', amount_minor: '9000000000000000000' },
      { jpm_transaction_id: 'D-REST', direction: 'debit', amount_minor: '1000000000000010000' },
    ]);
    const rejects = await t.db
      .selectFrom('sync_rejects')
      .select(['jpm_transaction_id', 'fields', 'reason'])
      .where('account_id', '=', account.id)
      .orderBy('jpm_transaction_id')
      .execute();
    expect(rejects.map((r) => [r.jpm_transaction_id, r.fields])).toEqual([
      ['R-BEYOND', ['amount']],
      ['R-SCALE', ['amount']],
    ]);
    expect(rejects[1]!.reason).toContain('"12.345"');

    // The bank's tally of the walk: the day's credits and debits as the bank reported them, beyond 2^63 - 1.
    const fetch = await t.db
      .selectFrom('bank_day_fetches')
      .select(['record_count', 'credits_minor', 'debits_minor'])
      .where('account_id', '=', account.id)
      .where('booking_date', '=', DAY)
      .executeTakeFirstOrThrow();
    expect({ ...fetch, credits_minor: String(fetch.credits_minor), debits_minor: String(fetch.debits_minor) }).toEqual({
      record_count: 5,
      credits_minor: '10000000000000010000',
      debits_minor: '10000000000000010000',
    });

    // A final balance that opens and closes at 1.00: opening + credits - debits = closing, in exact arithmetic.
    await upsertBalances(t.db, [
      {
        id: uuidv7(),
        organization_id: account.organizationId,
        account_id: account.id,
        as_of_date: DAY,
        kind: 'final',
        currency: 'USD',
        decimal_location: 2,
        opening_ledger_minor: '100',
        opening_available_minor: null,
        ending_ledger_minor: '100',
        ending_available_minor: null,
        record_timestamp: null,
        content_hash: 'h-extreme',
        raw: {},
      },
    ]);
    // The rejects keep the day unproved; once they are resolved the day proves.
    await onPostedDays(t.db, account.id, [DAY], new Date(`${DAY}T23:00:00Z`));
    const unproved = await t.db
      .selectFrom('account_days')
      .select(['state', 'reason', 'credits_minor', 'debits_minor'])
      .where('account_id', '=', account.id)
      .where('day', '=', DAY)
      .executeTakeFirstOrThrow();
    expect({
      ...unproved,
      credits_minor: String(unproved.credits_minor),
      debits_minor: String(unproved.debits_minor),
    }).toEqual({
      state: 'unproved',
      reason: 'rejected_record',
      credits_minor: '10000000000000010000',
      debits_minor: '10000000000000010000',
    });
    await t.db
      .updateTable('sync_rejects')
      .set({ resolved_at: new Date().toISOString(), resolution: 'not_sent_again' })
      .where('account_id', '=', account.id)
      .execute();
    await onPostedDays(t.db, account.id, [DAY], new Date(`${DAY}T23:30:00Z`));
    const proved = await t.db
      .selectFrom('account_days')
      .select(['state', 'difference_minor'])
      .where('account_id', '=', account.id)
      .where('day', '=', DAY)
      .executeTakeFirstOrThrow();
    expect(proved).toEqual({ state: 'proved', difference_minor: null });
  });
});
