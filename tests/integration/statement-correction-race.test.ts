import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importStatementFile } from '../../src/main/statement-import.ts';
import { upsertBankDayFetches } from '../../src/storage/bank-day-fetches.repo.ts';
import { lockAccountForWrite } from '../../src/storage/transactions.repo.ts';
import { createTestDb, type TestDb } from '../helpers/db.ts';
import { createAccount, createTenancy } from '../factories/tenancy.ts';
import { bai2Groups, type Bai2Item } from '../factories/bai2.ts';
import { camtFile } from '../factories/camt.ts';
import { ingestWire, wireTransaction } from '../factories/transactions.ts';
import { currentDayBalance, scriptedBank, scriptedDeps, scriptedPage } from '../helpers/scripted-bank.ts';
import type { BankClient } from '../../src/sync/bank-client.ts';
import { syncAccountWindow } from '../../src/sync/sync-account.ts';

/**
 * A BAI2 correction group (group status 3) is refused for a day whose posted items are stored. The refusal must hold
 * against a writer storing that day at the same time: an API sync's page queued for the account's write lock before
 * the import looked, and granted it before the import's first page. Each test queues the API page, then the import,
 * behind a transaction holding the lock (both confirmed waiting in pg_locks, no timing); the API page commits the
 * day's posted items first, so the import, which looked before they were there, must still refuse.
 */
const DAY = '2026-11-30';
const item = (type: string, amount: bigint, bankRef: string): Bai2Item => ({
  type,
  amount,
  bankRef,
  custRef: '',
  text: `ITEM ${bankRef}`,
});
const P1 = item('195', 50_000n, 'P1');
const P2changed = item('495', 21_000n, 'P2');

/** The item `ref` of the day as the API's sync page carries it (its bank reference and text as in the statement). */
const apiItem = (acct: string, ref: string, direction: 'CREDIT' | 'DEBIT', amount: string, baiTypeCode: string) =>
  wireTransaction({
    transactionId: `API-${ref}`,
    jpmAccountId: acct,
    asOfDate: DAY,
    direction,
    amount,
    baiTypeCode,
    bankReference: ref,
    shortDescription: `ITEM ${ref}`,
  });

let t: TestDb;
beforeAll(async () => {
  t = await createTestDb();
});
afterAll(async () => {
  await t.drop();
});

/** Transactions of this database waiting for the account's write lock. */
async function waiting(accountId: string): Promise<number> {
  const r = await sql<{ n: number }>`
    select count(*)::int as n from pg_locks l, (select hashtextextended(${`account-write:${accountId}`}, 0) as k) key
    where l.locktype = 'advisory' and not l.granted and l.database = (select oid from pg_database where datname = current_database())
      and l.classid::bigint = (key.k >> 32) & 4294967295 and l.objid::bigint = key.k & 4294967295`.execute(t.db);
  return r.rows[0]!.n;
}

/** Until `n` transactions wait for the account's lock; a writer that ends first fails the test with its outcome. */
async function untilWaiting(accountId: string, n: number, what: string, started: readonly Promise<unknown>[]) {
  const tick = Symbol('tick');
  const ended = Promise.race(started).then(
    () => new Error(`a writer ended before ${what} waited for the account lock`),
    (err: unknown) => (err instanceof Error ? err : new Error(String(err))),
  );
  for (const deadline = Date.now() + 30_000; ;) {
    const w = await waiting(accountId);
    if (w >= n) {
      return;
    }
    if (Date.now() > deadline) {
      throw new Error(`${what} never waited for the account lock (${w} waiting)`);
    }
    const err = await Promise.race([ended, new Promise<typeof tick>((r) => setTimeout(r, 10, tick))]);
    if (err !== tick) {
      throw err;
    }
  }
}

/** Runs `a`, then `b`, each queued behind a transaction holding the account's write lock; settles both. */
async function raced(accountId: string, a: () => Promise<unknown>, b: () => Promise<unknown>) {
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  let locked!: () => void;
  const holding = new Promise<void>((r) => (locked = r));
  const holder = t.db.transaction().execute(async (trx) => {
    await lockAccountForWrite(trx, accountId);
    locked();
    await released;
  });
  const started: Promise<unknown>[] = [];
  try {
    await Promise.race([holding, holder]);
    started.push(a());
    await untilWaiting(accountId, 1, 'the first writer', started);
    started.push(b());
    await untilWaiting(accountId, 2, 'the second writer', started);
  } finally {
    release();
  }
  await holder;
  return Promise.allSettled(started);
}

describe('statement import: a correction group against an API sync storing its day at the same time', () => {
  it('is refused (409) when the API page storing the day commits between its check and its first write', async () => {
    const account = await createAccount(t.db, await createTenancy(t.db));
    const acct = account.jpmAccountId;
    const api = [apiItem(acct, 'P1', 'CREDIT', '500.00', '195'), apiItem(acct, 'P2', 'DEBIT', '200.00', '495')];
    const correction = bai2Groups([
      {
        date: '261130',
        status: '3',
        modifier: '2',
        account: acct,
        summary: [
          ['010', 100_000n],
          ['015', 129_000n],
        ],
        items: [P1, P2changed],
      },
    ]);
    const [apiPage, imported] = await raced(
      account.id,
      () => ingestWire(t.db, account, api),
      () => importStatementFile(t.db, { accountId: account.id, text: correction, trigger: 'manual' }),
    );
    expect(apiPage).toMatchObject({ status: 'fulfilled', value: { inserted: 2 } });
    expect(imported).toMatchObject({
      status: 'rejected',
      reason: { httpStatus: 409, code: 'statement_correction_conflict', details: { days: [DAY] } },
    });
    // Only the API's items: the corrected P2 (210.00) is not stored beside the one it corrects (200.00).
    const stored = await t.db
      .selectFrom('transactions')
      .select(['bank_reference', 'amount_minor', 'status', 'source'])
      .where('account_id', '=', account.id)
      .orderBy('bank_reference')
      .execute();
    expect(stored).toEqual([
      { bank_reference: 'P1', amount_minor: '50000', status: 'posted', source: 'jpm_api' },
      { bank_reference: 'P2', amount_minor: '20000', status: 'posted', source: 'jpm_api' },
    ]);
    const balances = await t.db
      .selectFrom('balances')
      .select('id')
      .where('account_id', '=', account.id)
      .where('source', '<>', 'jpm_api')
      .execute();
    expect(balances).toEqual([]);
    // The import's run says why it stopped (not that importing the file again would complete it).
    const runs = await t.db
      .selectFrom('sync_runs')
      .select(['status', 'error_code'])
      .where('account_id', '=', account.id)
      .execute();
    expect(runs).toEqual([{ status: 'failed', error_code: 'statement_correction_conflict' }]);
  });
});

describe('statement import: a duplicate statement (CpyDplctInd) against an API sync storing its day at the same time', () => {
  it('is refused (409) when the API page storing the day commits between its check and its first write', async () => {
    const account = await createAccount(t.db, await createTenancy(t.db));
    const acct = account.jpmAccountId;
    const api = [apiItem(acct, 'P1', 'CREDIT', '500.00', '195')];
    // The copy writes the item with another bank reference: stored beside the API's, it would be the item twice.
    const copy = camtFile([
      {
        account: acct,
        date: DAY,
        opening: '1000.00',
        closing: '1500.00',
        items: [{ cdtDbt: 'CRDT', amount: '500.00', ref: 'P1-COPY' }],
        copy: 'DUPL',
      },
    ]);
    const [apiPage, imported] = await raced(
      account.id,
      () => ingestWire(t.db, account, api),
      () => importStatementFile(t.db, { accountId: account.id, text: copy, trigger: 'manual' }),
    );
    expect(apiPage).toMatchObject({ status: 'fulfilled', value: { inserted: 1 } });
    expect(imported).toMatchObject({
      status: 'rejected',
      reason: { httpStatus: 409, code: 'statement_copy_conflict', details: { days: [DAY] } },
    });
    const stored = await t.db
      .selectFrom('transactions')
      .select(['bank_reference', 'source'])
      .where('account_id', '=', account.id)
      .execute();
    expect(stored).toEqual([{ bank_reference: 'P1', source: 'jpm_api' }]);
    const balances = await t.db.selectFrom('balances').select('id').where('account_id', '=', account.id).execute();
    expect(balances).toEqual([]);
    // Imported again, the copy of the now stored day is skipped.
    const again = await importStatementFile(t.db, { accountId: account.id, text: copy, trigger: 'manual' });
    expect(again.copiesSkipped).toEqual([DAY]);
    expect(again.counts.inserted).toBe(0);
  });
});

describe('statement import: an interim previous-day report against an API sync completing its day at the same time', () => {
  it('is refused (409) when the day becomes complete between its check and its first write, nothing written', async () => {
    const account = await createAccount(t.db, await createTenancy(t.db));
    const acct = account.jpmAccountId;
    // The API's walk of the day stored its items; the walk's fetch evidence (the day complete) is not written yet.
    await ingestWire(t.db, account, [
      apiItem(acct, 'B2', 'DEBIT', '200.00', '495'),
      apiItem(acct, 'B3', 'DEBIT', '200.00', '495'),
    ]);
    // The interim report's item leaves out the bank reference both API items carry.
    const interim = bai2Groups([
      {
        date: '261130',
        modifier: '1',
        account: acct,
        items: [{ type: '495', amount: 20_000n, bankRef: '', custRef: '', text: 'ITEM' }],
      },
    ]);
    const [evidence, imported] = await raced(
      account.id,
      () =>
        t.db.transaction().execute(async (trx) => {
          await lockAccountForWrite(trx, account.id);
          const at = new Date().toISOString();
          await upsertBankDayFetches(trx, [
            {
              account_id: account.id,
              organization_id: account.organizationId,
              booking_date: DAY,
              sync_run_id: null,
              fetched_at: at,
              read_at: at,
              record_count: 2,
              credit_count: 0,
              debit_count: 2,
              credits_minor: '0',
              debits_minor: '40000',
              repeated_fingerprints: {},
            },
          ]);
        }),
      () => importStatementFile(t.db, { accountId: account.id, text: interim, trigger: 'manual' }),
    );
    expect(evidence).toMatchObject({ status: 'fulfilled' });
    expect(imported).toMatchObject({
      status: 'rejected',
      reason: { httpStatus: 409, code: 'statement_interim_conflict', details: { days: [DAY] } },
    });
    const stored = await t.db
      .selectFrom('transactions')
      .select(['bank_reference', 'source'])
      .where('account_id', '=', account.id)
      .orderBy('bank_reference')
      .execute();
    expect(stored).toEqual([
      { bank_reference: 'B2', source: 'jpm_api' },
      { bank_reference: 'B3', source: 'jpm_api' },
    ]);
    // Imported again, the file is read against the complete report: nothing written.
    const again = await importStatementFile(t.db, { accountId: account.id, text: interim, trigger: 'manual' });
    expect(again.counts).toMatchObject({ inserted: 0, updated: 0 });
    expect(
      await t.db.selectFrom('transactions').select('id').where('account_id', '=', account.id).execute(),
    ).toHaveLength(2);
  });
});

describe('statement import: an interim previous-day report while an API walk of its day is between its last page and its evidence', () => {
  it('is refused (409) and writes nothing; imported again after the walk, it is read against the day', async () => {
    const account = await createAccount(t.db, await createTenancy(t.db));
    const acct = account.jpmAccountId;
    // The API's prior-day walk of DAY: one page holding both $200.00 debits (bank references B2 and B3).
    const records = [apiItem(acct, 'B2', 'DEBIT', '200.00', '495'), apiItem(acct, 'B3', 'DEBIT', '200.00', '495')].map(
      (r) => JSON.stringify(r),
    );
    const inner = scriptedBank(
      [[scriptedPage(records, { pageNumber: 1, totalPages: 1, totalRecords: records.length })]],
      () => currentDayBalance(acct, DAY),
    );
    // The gate: the sync asks for the page after the last only once the last is stored; held there, the walk has
    // stored the day and not yet written what says so.
    let stored!: () => void;
    const lastPageStored = new Promise<void>((r) => (stored = r));
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    const bank: BankClient = {
      transactionPages(query) {
        const pages = inner.transactionPages(query);
        return (async function* () {
          yield* pages;
          stored();
          await released;
        })();
      },
      getBalances: (query) => inner.getBalances(query),
    };
    const sync = syncAccountWindow(scriptedDeps(t.db, bank, '2026-12-01'), {
      runId: null,
      accountId: account.id,
      mode: 'prior_day',
      kinds: ['transactions', 'balances'],
    });
    const interim = bai2Groups([
      {
        date: '261130',
        modifier: '1',
        account: acct,
        items: [{ type: '495', amount: 20_000n, bankRef: '', custRef: '', text: 'ITEM' }],
      },
    ]);
    const rows = async () =>
      (
        await t.db
          .selectFrom('transactions')
          .select(['bank_reference', 'source'])
          .where('account_id', '=', account.id)
          .orderBy('bank_reference')
          .execute()
      ).map((r) => `${r.bank_reference || '-'} ${r.source}`);
    let imported: PromiseSettledResult<unknown>;
    try {
      await Promise.race([lastPageStored, sync]);
      expect(await rows()).toEqual(['B2 jpm_api', 'B3 jpm_api']);
      [imported] = await Promise.allSettled([
        importStatementFile(t.db, { accountId: account.id, text: interim, trigger: 'manual' }),
      ]);
    } finally {
      release();
    }
    await sync;
    expect(imported).toMatchObject({
      status: 'rejected',
      reason: { httpStatus: 409, code: 'statement_interim_conflict', details: { days: [DAY] } },
    });
    expect(await rows()).toEqual(['B2 jpm_api', 'B3 jpm_api']);
    // The walk's evidence written, the file is read against the day: nothing written, no walk left in progress.
    const again = await importStatementFile(t.db, { accountId: account.id, text: interim, trigger: 'manual' });
    expect(again.counts).toMatchObject({ inserted: 0, updated: 0 });
    expect(await rows()).toEqual(['B2 jpm_api', 'B3 jpm_api']);
    expect(
      await t.db.selectFrom('posted_day_walks').select('read_at').where('account_id', '=', account.id).execute(),
    ).toEqual([]);
  });
});
