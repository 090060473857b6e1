import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WireTransaction } from '../../src/jpm/wire.schemas.ts';
import { OccurrenceCounter } from '../../src/normalization/identity.ts';
import { normalizeTransactions } from '../../src/normalization/transactions.ts';
import type { Database } from '../../src/storage/db.ts';
import { ingestTransactionPage, type AccountRef, type WalkClaims } from '../../src/sync/ingest.ts';
import { createAccount, createTenancy } from '../factories/tenancy.ts';
import { wireTransaction } from '../factories/transactions.ts';
import { createTestDb, type TestDb } from '../helpers/db.ts';

/**
 * Identity across the pages of one walk, through the real path (normalization → ingestTransactionPage into
 * Postgres): a page cuts a day anywhere, so what one page matched or stored is known to the next one.
 */
const DAY = '2026-10-05';

/** One of a day's identical $25.00 fees (same amount, reference and BAI code), each with its own id. */
const fee = (jpmAccountId: string, transactionId: string): WireTransaction =>
  wireTransaction({
    transactionId,
    jpmAccountId,
    asOfDate: DAY,
    amount: '25.00',
    direction: 'DEBIT',
    baiTypeCode: '698',
    bankReference: 'FEE',
    shortDescription: 'SERVICE FEE',
  });

/** Stores one walk of the bank's pages as a sync does: one occurrence count and one set of claims for the walk. */
async function walk(db: Database, account: AccountRef, pages: readonly (readonly WireTransaction[])[]) {
  const occurrences = new OccurrenceCounter();
  const claims: WalkClaims = new Set();
  const total = { inserted: 0, updated: 0, unchanged: 0, rejected: 0 };
  for (const records of pages) {
    const page = normalizeTransactions(records, occurrences, 0, { requested: 'prior_day' });
    const counts = await ingestTransactionPage(db, account, { ...page, fetched: records.length }, null, claims);
    for (const k of Object.keys(total) as (keyof typeof total)[]) {
      total[k] += counts[k];
    }
  }
  return total;
}

describe('records with their own ids among look-alikes on several pages of one walk', () => {
  let t: TestDb;
  beforeAll(async () => {
    t = await createTestDb();
  });
  afterAll(async () => {
    await t.drop();
  });

  async function setUp() {
    const account = await createAccount(t.db, await createTenancy(t.db));
    const ref: AccountRef = { id: account.id, organizationId: account.organizationId };
    return { ref, f: (id: string) => fee(account.jpmAccountId, id) };
  }

  async function stored(accountId: string) {
    const rows = await t.db
      .selectFrom('transactions')
      .select(['id', 'jpm_transaction_id'])
      .where('account_id', '=', accountId)
      .orderBy('jpm_transaction_id')
      .execute();
    const decisions = await t.db
      .selectFrom('transaction_decisions')
      .select(['transaction_id', 'decision', 'evidence'])
      .where('account_id', '=', accountId)
      .execute();
    return { rows, decisions };
  }

  it('a new look-alike on page 2 never takes the row a record on page 1 matched by its id', async () => {
    const { ref, f } = await setUp();
    await walk(t.db, ref, [[f('TXN-A'), f('TXN-B')]]);
    const before = await stored(ref.id);
    // A late fee C of the same day; the bank's pages now cut the day [B] | [C, A].
    expect(await walk(t.db, ref, [[f('TXN-B')], [f('TXN-C'), f('TXN-A')]])).toEqual({
      inserted: 1,
      updated: 0,
      unchanged: 2,
      rejected: 0,
    });
    const after = await stored(ref.id);
    expect(after.rows.map((r) => r.jpm_transaction_id)).toEqual(['TXN-A', 'TXN-B', 'TXN-C']);
    // A and B keep their rows; C is a row of its own; nobody was re-identified.
    expect(after.rows.filter((r) => r.jpm_transaction_id !== 'TXN-C')).toEqual(before.rows);
    expect(after.decisions).toEqual([]);
  });
});
