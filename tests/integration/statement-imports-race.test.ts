import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importStatementFile, type StatementImport } from '../../src/main/statement-import.ts';
import { upsertBankDayFetches } from '../../src/storage/bank-day-fetches.repo.ts';
import { createTestDb, type TestDb } from '../helpers/db.ts';
import { createAccount, createTenancy } from '../factories/tenancy.ts';
import { bai2Groups, type Bai2Item } from '../factories/bai2.ts';
import { camtFile } from '../factories/camt.ts';
import { wireTransaction } from '../factories/transactions.ts';
import { currentDayBalance, scriptedBank, scriptedDeps, scriptedPage } from '../helpers/scripted-bank.ts';
import type { BankClient } from '../../src/sync/bank-client.ts';
import { syncAccountWindow } from '../../src/sync/sync-account.ts';
import { finishStandaloneRun, startStandaloneRun } from '../../src/sync/sync-run.ts';

/**
 * Two statement imports of one account and day at the same time. A final (complete) report stores the day's items
 * page by page and then, in a transaction of its own, the day's fetch evidence (what says the day is stored in full).
 * Each test holds the final import between the two: a transaction of the test has written, uncommitted, an evidence
 * row of the day, so the import's own evidence write waits for it (confirmed waiting in pg_stat_activity, no timing).
 * Meanwhile the second import runs to its end; then the test's row is rolled back and the final import completes.
 */
const DAY = '2026-11-30';
const debit = (bankRef: string, custRef = ''): Bai2Item => ({
  type: '495',
  amount: 20_000n,
  bankRef,
  custRef,
  text: `ITEM ${bankRef}`,
});

let t: TestDb;
beforeAll(async () => {
  t = await createTestDb();
});
afterAll(async () => {
  await t.drop();
});

/** Sessions of this database waiting for a lock in an insert into bank_day_fetches. */
async function evidenceWriters(): Promise<number> {
  const r = await sql<{ n: number }>`
    select count(*)::int as n from pg_stat_activity
    where datname = current_database() and wait_event_type = 'Lock' and query ilike '%insert into bank_day_fetches%'`.execute(
    t.db,
  );
  return r.rows[0]!.n;
}

/**
 * Runs `held` until it waits to write the evidence of `day`, then `meanwhile` to its end, then lets `held` go on.
 * Settles both.
 */
async function heldAtEvidence(
  account: { id: string; organizationId: string },
  day: string,
  held: () => Promise<unknown>,
  meanwhile: () => Promise<unknown>,
): Promise<[PromiseSettledResult<unknown>, PromiseSettledResult<unknown>]> {
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  let written!: () => void;
  const holding = new Promise<void>((r) => (written = r));
  const rolledBack = new Error('rolled back');
  const holder = t.db
    .transaction()
    .execute(async (trx) => {
      const at = new Date().toISOString();
      await upsertBankDayFetches(trx, [
        {
          account_id: account.id,
          organization_id: account.organizationId,
          booking_date: day,
          sync_run_id: null,
          fetched_at: at,
          read_at: at,
          record_count: 0,
          credit_count: 0,
          debit_count: 0,
          credits_minor: '0',
          debits_minor: '0',
          repeated_fingerprints: {},
        },
      ]);
      written();
      await released;
      throw rolledBack;
    })
    .catch((err: unknown) => {
      if (err !== rolledBack) {
        throw err;
      }
    });
  let first: Promise<unknown> | undefined;
  let second: PromiseSettledResult<unknown> | undefined;
  try {
    await Promise.race([holding, holder]);
    first = held();
    const ended = first.then(
      () => new Error('the held import ended before it waited to write its evidence'),
      (err: unknown) => (err instanceof Error ? err : new Error(String(err))),
    );
    for (const deadline = Date.now() + 30_000; (await evidenceWriters()) === 0;) {
      if (Date.now() > deadline) {
        throw new Error('the held import never waited to write its evidence');
      }
      const tick = Symbol('tick');
      const err = await Promise.race([ended, new Promise<typeof tick>((r) => setTimeout(r, 10, tick))]);
      if (err !== tick) {
        throw err;
      }
    }
    [second] = await Promise.allSettled([meanwhile()]);
  } finally {
    release();
  }
  await holder;
  const [firstSettled] = await Promise.allSettled([first]);
  return [firstSettled, second];
}

const rowsOf = async (accountId: string) =>
  (
    await t.db
      .selectFrom('transactions')
      .select(['bank_reference', 'customer_reference', 'amount_minor', 'status', 'source'])
      .where('account_id', '=', accountId)
      .orderBy('bank_reference')
      .orderBy('customer_reference')
      .orderBy('amount_minor')
      .execute()
  ).map((r) => `${r.bank_reference || '-'}/${r.customer_reference || '-'} ${r.amount_minor} ${r.status} ${r.source}`);

describe('an interim previous-day BAI2 file imported while a final report of its day is being stored', () => {
  it('is refused (409) and writes nothing; imported again once the final report is stored, it is read against it', async () => {
    const account = await createAccount(t.db, await createTenancy(t.db));
    const acct = account.jpmAccountId;
    const final = bai2Groups([{ date: '261130', modifier: '2', account: acct, items: [debit('B2'), debit('B3')] }], {
      fileId: 'FINAL',
    });
    // The interim report's item leaves out the bank reference both final items carry.
    const interim = bai2Groups([{ date: '261130', modifier: '1', account: acct, items: [debit('')] }], {
      fileId: 'INTERIM',
    });
    const [finalImport, interimImport] = await heldAtEvidence(
      account,
      DAY,
      () => importStatementFile(t.db, { accountId: account.id, text: final, trigger: 'manual' }),
      () => importStatementFile(t.db, { accountId: account.id, text: interim, trigger: 'manual' }),
    );
    expect(finalImport).toMatchObject({ status: 'fulfilled', value: { counts: { inserted: 2 } } });
    expect(interimImport).toMatchObject({
      status: 'rejected',
      reason: { httpStatus: 409, code: 'statement_interim_conflict', details: { days: [DAY] } },
    });
    // The final report's items only: no third $200.00 debit beside them.
    expect(await rowsOf(account.id)).toEqual(['B2/- 20000 posted bai2', 'B3/- 20000 posted bai2']);
    // Imported again, it is read against the final report: of one channel an item without the bank reference the
    // stored ones carry is an item beyond them, so refused before anything is written.
    const again = await importStatementFile(t.db, { accountId: account.id, text: interim, trigger: 'manual' }).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(again).toMatchObject({ httpStatus: 409, code: 'statement_interim_conflict' });
    expect(await rowsOf(account.id)).toEqual(['B2/- 20000 posted bai2', 'B3/- 20000 posted bai2']);
    expect(
      await t.db.selectFrom('posted_day_walks').select('read_at').where('account_id', '=', account.id).execute(),
    ).toEqual([]);
  });

  it('against a camt.053 of the day: refused (409) while it is stored, then read and writes nothing', async () => {
    const account = await createAccount(t.db, await createTenancy(t.db));
    const acct = account.jpmAccountId;
    const final = camtFile([
      {
        account: acct,
        date: DAY,
        opening: '1000.00',
        closing: '600.00',
        items: [
          { cdtDbt: 'DBIT', amount: '200.00', ref: 'B2' },
          { cdtDbt: 'DBIT', amount: '200.00', ref: 'B3' },
        ],
      },
    ]);
    const interim = bai2Groups([{ date: '261130', modifier: '1', account: acct, items: [debit('')] }]);
    const [finalImport, interimImport] = await heldAtEvidence(
      account,
      DAY,
      () => importStatementFile(t.db, { accountId: account.id, text: final, trigger: 'manual' }),
      () => importStatementFile(t.db, { accountId: account.id, text: interim, trigger: 'manual' }),
    );
    expect(finalImport).toMatchObject({ status: 'fulfilled', value: { counts: { inserted: 2 } } });
    expect(interimImport).toMatchObject({
      status: 'rejected',
      reason: { httpStatus: 409, code: 'statement_interim_conflict', details: { days: [DAY] } },
    });
    expect(await rowsOf(account.id)).toEqual(['B2/- 20000 posted camt053', 'B3/- 20000 posted camt053']);
    const again: StatementImport = await importStatementFile(t.db, {
      accountId: account.id,
      text: interim,
      trigger: 'manual',
    });
    expect(again.counts).toMatchObject({ inserted: 0, updated: 0 });
    expect(await rowsOf(account.id)).toEqual(['B2/- 20000 posted camt053', 'B3/- 20000 posted camt053']);
  });
});

describe('an interim previous-day BAI2 file of days an API sync that failed part-way left part-stored', () => {
  it('is refused (409) naming the failed run and how to complete the days; a later sync of each day lets it be read', async () => {
    const tenancy = await createTenancy(t.db);
    const account = await createAccount(t.db, tenancy);
    const acct = account.jpmAccountId;
    const apiItem = (ref: string, day: string) =>
      JSON.stringify(
        wireTransaction({
          transactionId: `API-${ref}`,
          jpmAccountId: acct,
          asOfDate: day,
          direction: 'DEBIT',
          amount: '200.00',
          baiTypeCode: '495',
          bankReference: ref,
          shortDescription: `ITEM ${ref}`,
        }),
      );
    const balances = () => currentDayBalance(acct, '2026-12-01');
    const rangeSync = (bank: BankClient, from: string, to: string, runId: string | null) =>
      syncAccountWindow(scriptedDeps(t.db, bank, '2026-12-01'), {
        runId,
        accountId: account.id,
        mode: 'range',
        from,
        to,
        kinds: ['transactions', 'balances'],
      });
    // A range sync of 27-30 November: page 1 of 2 stored (30 November's $200.00 debit B2), then the bank fails.
    const inner = scriptedBank(
      [[scriptedPage([apiItem('B2', DAY)], { pageNumber: 1, totalPages: 2, totalRecords: 2 })]],
      balances,
    );
    const failing: BankClient = {
      transactionPages(query) {
        const pages = inner.transactionPages(query);
        return (async function* () {
          yield* pages;
          throw new Error('the bank stopped answering');
        })();
      },
      getBalances: (query) => inner.getBalances(query),
    };
    const runId = await startStandaloneRun(t.db, {
      organizationId: account.organizationId,
      integrationId: tenancy.integrationId,
      accountId: account.id,
      trigger: 'manual',
      mode: 'range',
      windowFrom: '2026-11-27',
      windowTo: DAY,
      source: 'jpm_api',
    });
    await expect(rangeSync(failing, '2026-11-27', DAY, runId)).rejects.toThrow('the bank stopped answering');
    await finishStandaloneRun(t.db, runId, 'failed', {
      code: 'jpm_unavailable',
      message: 'the bank stopped answering',
    });

    // The interim report's item leaves out the bank reference B2 carries: written now it could be B2 twice.
    const interimOf = (date: string) =>
      bai2Groups([{ date, modifier: '1', account: acct, items: [debit('')] }], { fileId: `INTERIM${date}` });
    const refused = (await importStatementFile(t.db, {
      accountId: account.id,
      text: interimOf('261130'),
      trigger: 'manual',
    }).then(
      () => undefined,
      (err: unknown) => err,
    )) as { httpStatus: number; code: string; message: string; details: Record<string, unknown> } | undefined;
    expect(refused).toMatchObject({
      httpStatus: 409,
      code: 'statement_interim_conflict',
      details: { days: [DAY], walks: [{ days: [DAY], runId, runStatus: 'failed' }] },
    });
    // The operator is told which run left the day so, that it failed, and what completes the day.
    expect(refused!.message).toContain(`sync run ${runId}: failed (jpm_unavailable)`);
    expect(refused!.message).toContain(`POST /v1/accounts/${account.id}/sync-runs with mode range`);
    expect(await rowsOf(account.id)).toEqual(['B2/- 20000 posted jpm_api']);

    // A later sync of 30 November alone completes that day: the file is then read against it, nothing written.
    await rangeSync(
      scriptedBank([[scriptedPage([apiItem('B2', DAY)], { pageNumber: 1, totalPages: 1, totalRecords: 1 })]], balances),
      DAY,
      DAY,
      null,
    );
    const read = await importStatementFile(t.db, {
      accountId: account.id,
      text: interimOf('261130'),
      trigger: 'manual',
    });
    expect(read.counts).toMatchObject({ inserted: 0, updated: 0 });
    expect(await rowsOf(account.id)).toEqual(['B2/- 20000 posted jpm_api']);
    // So is a camt.052 of it: its pending B2 is resolved against the day (the failed run's mark says nothing of a day
    // stored in full since).
    const pending = await importStatementFile(t.db, {
      accountId: account.id,
      text: camtFile([{ account: acct, date: DAY, items: [{ cdtDbt: 'DBIT', amount: '200.00', ref: 'B2' }] }], {
        report: true,
      }),
      trigger: 'manual',
    });
    expect(pending.counts).toMatchObject({ inserted: 1, superseded: 1 });
    // 28 November is still a day the failed run may have stored part of: refused, naming it.
    await expect(
      importStatementFile(t.db, { accountId: account.id, text: interimOf('261128'), trigger: 'manual' }),
    ).rejects.toMatchObject({ code: 'statement_interim_conflict', details: { days: ['2026-11-28'] } });
    // A sync of the failed run's other days (28 November's $200.00 debit B4) completes them too: the mark is gone, and
    // the file is read against that day (its item is B4 without the reference): nothing written.
    await rangeSync(
      scriptedBank(
        [[scriptedPage([apiItem('B4', '2026-11-28')], { pageNumber: 1, totalPages: 1, totalRecords: 1 })]],
        balances,
      ),
      '2026-11-27',
      '2026-11-29',
      null,
    );
    expect(
      await t.db.selectFrom('posted_day_walks').select('read_at').where('account_id', '=', account.id).execute(),
    ).toEqual([]);
    const later = await importStatementFile(t.db, {
      accountId: account.id,
      text: interimOf('261128'),
      trigger: 'manual',
    });
    expect(later.counts).toMatchObject({ inserted: 0, updated: 0 });
    expect((await rowsOf(account.id)).filter((r) => !r.includes(' superseded '))).toEqual([
      'B2/- 20000 posted jpm_api',
      'B4/- 20000 posted jpm_api',
    ]);
  });
});

describe('an intraday report (camt.052) of a day whose final report is stored, or being stored', () => {
  const files = (acct: string) => ({
    final: camtFile([
      {
        account: acct,
        date: DAY,
        opening: '1000.00',
        closing: '800.00',
        items: [{ cdtDbt: 'DBIT', amount: '200.00', ref: 'B2' }],
      },
    ]),
    // Pending: B2 (posted in the final report) and B9 (which never posted).
    intraday: camtFile(
      [
        {
          account: acct,
          date: DAY,
          items: [
            { cdtDbt: 'DBIT', amount: '200.00', ref: 'B2' },
            { cdtDbt: 'DBIT', amount: '300.00', ref: 'B9' },
          ],
        },
      ],
      { report: true, msgId: 'CAMT-052' },
    ),
  });
  const live = async (accountId: string) =>
    (await rowsOf(accountId)).filter((r) => !r.includes(' superseded ') && !r.includes(' removed '));

  it('imported after it: its pending items are resolved against the final report (no item pending beside its posted row)', async () => {
    const account = await createAccount(t.db, await createTenancy(t.db));
    const { final, intraday } = files(account.jpmAccountId);
    await importStatementFile(t.db, { accountId: account.id, text: final, trigger: 'manual' });
    const imported = await importStatementFile(t.db, { accountId: account.id, text: intraday, trigger: 'manual' });
    expect(imported.counts).toMatchObject({ superseded: 1, removed: 1 });
    expect(await live(account.id)).toEqual(['B2/- 20000 posted camt053']);
    // As when the intraday report came first.
    const other = await createAccount(t.db, await createTenancy(t.db));
    const theirs = files(other.jpmAccountId);
    await importStatementFile(t.db, { accountId: other.id, text: theirs.intraday, trigger: 'manual' });
    await importStatementFile(t.db, { accountId: other.id, text: theirs.final, trigger: 'manual' });
    expect(await live(other.id)).toEqual(['B2/- 20000 posted camt053']);
  });

  it('imported while the final report is being stored: refused (409), nothing written; imported again, resolved', async () => {
    const account = await createAccount(t.db, await createTenancy(t.db));
    const { final, intraday } = files(account.jpmAccountId);
    const [finalImport, intradayImport] = await heldAtEvidence(
      account,
      DAY,
      () => importStatementFile(t.db, { accountId: account.id, text: final, trigger: 'manual' }),
      () => importStatementFile(t.db, { accountId: account.id, text: intraday, trigger: 'manual' }),
    );
    expect(finalImport).toMatchObject({ status: 'fulfilled', value: { counts: { inserted: 1 } } });
    expect(intradayImport).toMatchObject({
      status: 'rejected',
      reason: { httpStatus: 409, code: 'statement_intraday_conflict', details: { days: [DAY] } },
    });
    expect(await rowsOf(account.id)).toEqual(['B2/- 20000 posted camt053']);
    await importStatementFile(t.db, { accountId: account.id, text: intraday, trigger: 'manual' });
    expect(await live(account.id)).toEqual(['B2/- 20000 posted camt053']);
  });
});

describe('two final reports of one day with different content (a corrected statement) at the same time', () => {
  it('stores each item once and keeps the evidence of the report read later, though the other writes its evidence last', async () => {
    const account = await createAccount(t.db, await createTenancy(t.db));
    const acct = account.jpmAccountId;
    // The first report holds 29 November too, whose evidence it writes first: held there (before it writes any of
    // 30 November's), while the corrected report of 30 November alone writes its own.
    const first = bai2Groups(
      [
        { date: '261129', modifier: '2', account: acct, items: [debit('B1')] },
        { date: '261130', modifier: '2', account: acct, items: [debit('B2'), debit('B3')] },
      ],
      { fileId: 'FIRST' },
    );
    // The corrected report: B3 and a B4 the first one lacked.
    const corrected = camtFile([
      {
        account: acct,
        date: DAY,
        opening: '1000.00',
        closing: '400.00',
        items: [
          { cdtDbt: 'DBIT', amount: '200.00', ref: 'B2' },
          { cdtDbt: 'DBIT', amount: '200.00', ref: 'B3' },
          { cdtDbt: 'DBIT', amount: '200.00', ref: 'B4' },
        ],
      },
    ]);
    // The first report's import began reading first and is held before its evidence while the corrected one runs.
    const [firstImport, correctedImport] = await heldAtEvidence(
      account,
      '2026-11-29',
      () => importStatementFile(t.db, { accountId: account.id, text: first, trigger: 'manual' }),
      () => importStatementFile(t.db, { accountId: account.id, text: corrected, trigger: 'manual' }),
    );
    expect(firstImport).toMatchObject({ status: 'fulfilled' });
    expect(correctedImport).toMatchObject({ status: 'fulfilled' });
    expect(await rowsOf(account.id)).toEqual([
      'B1/- 20000 posted bai2',
      'B2/- 20000 posted bai2',
      'B3/- 20000 posted bai2',
      'B4/- 20000 posted camt053',
    ]);
    // The day's evidence is the report read later (the corrected one: three debits), not overwritten by the first.
    expect(
      await t.db
        .selectFrom('bank_day_fetches')
        .select(['record_count', 'debits_minor'])
        .where('account_id', '=', account.id)
        .where('booking_date', '=', DAY)
        .executeTakeFirstOrThrow(),
    ).toEqual({ record_count: 3, debits_minor: '60000' });
    expect(
      await t.db.selectFrom('posted_day_walks').select('read_at').where('account_id', '=', account.id).execute(),
    ).toEqual([]);
  });
});

describe('a final statement import while a backfill (range) window of its day is between its last page and its evidence', () => {
  it("stores each item once, and the day is the later reading (the file's): no walk mark left", async () => {
    const account = await createAccount(t.db, await createTenancy(t.db));
    const acct = account.jpmAccountId;
    const record = JSON.stringify(
      wireTransaction({
        transactionId: 'API-B2',
        jpmAccountId: acct,
        asOfDate: DAY,
        direction: 'DEBIT',
        amount: '200.00',
        baiTypeCode: '495',
        bankReference: 'B2',
        shortDescription: 'ITEM B2',
      }),
    );
    const inner = scriptedBank([[scriptedPage([record], { pageNumber: 1, totalPages: 1, totalRecords: 1 })]], () =>
      currentDayBalance(acct, '2026-12-01'),
    );
    // The gate: the window asks for the page after the last only once the last is stored.
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
    const window = syncAccountWindow(scriptedDeps(t.db, bank, '2026-12-01'), {
      runId: null,
      accountId: account.id,
      mode: 'range',
      from: DAY,
      to: DAY,
      kinds: ['transactions', 'balances'],
    });
    // The file: B2 (the API's item) and B4, which the bank posted after the window read the day.
    const final = camtFile([
      {
        account: acct,
        date: DAY,
        opening: '1000.00',
        closing: '600.00',
        items: [
          { cdtDbt: 'DBIT', amount: '200.00', ref: 'B2' },
          { cdtDbt: 'DBIT', amount: '200.00', ref: 'B4' },
        ],
      },
    ]);
    let imported: PromiseSettledResult<StatementImport>;
    try {
      await Promise.race([lastPageStored, window]);
      [imported] = await Promise.allSettled([
        importStatementFile(t.db, { accountId: account.id, text: final, trigger: 'manual' }),
      ]);
    } finally {
      release();
    }
    await window;
    expect(imported).toMatchObject({ status: 'fulfilled', value: { counts: { inserted: 1 } } });
    expect(await rowsOf(account.id)).toEqual(['B2/- 20000 posted jpm_api', 'B4/- 20000 posted camt053']);
    expect(
      await t.db
        .selectFrom('bank_day_fetches')
        .select(['record_count', 'debits_minor'])
        .where('account_id', '=', account.id)
        .where('booking_date', '=', DAY)
        .executeTakeFirstOrThrow(),
    ).toEqual({ record_count: 2, debits_minor: '40000' });
    expect(
      await t.db.selectFrom('posted_day_walks').select('read_at').where('account_id', '=', account.id).execute(),
    ).toEqual([]);
  });
});
