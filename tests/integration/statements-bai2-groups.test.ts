import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importStatementFile } from '../../src/main/statement-import.ts';
import { createTestDb, type TestDb } from '../helpers/db.ts';
import { createAccount, createTenancy } from '../factories/tenancy.ts';
import { bai2Groups, type Bai2Item } from '../factories/bai2.ts';

/**
 * What a BAI2 group header says about its group (as-of-date modifier, group status), through the real import
 * path and Postgres.
 */
let t: TestDb;
beforeAll(async () => {
  t = await createTestDb();
});
afterAll(async () => {
  await t.drop();
});

const DAY = '2026-11-30';
const item = (type: string, amount: bigint, bankRef: string): Bai2Item => ({
  type,
  amount,
  bankRef,
  custRef: '',
  text: `ITEM ${bankRef}`,
});
const P1 = item('195', 50_000n, 'P1');
const P2 = item('495', 20_000n, 'P2');
const P3 = item('495', 7_500n, 'P3');

async function rows(accountId: string) {
  return t.db
    .selectFrom('transactions')
    .select(['bank_reference', 'status', 'source'])
    .where('account_id', '=', accountId)
    .orderBy('bank_reference')
    .orderBy('status')
    .execute();
}

async function evidence(accountId: string) {
  return t.db
    .selectFrom('bank_day_fetches')
    .select(['booking_date', 'record_count'])
    .where('account_id', '=', accountId)
    .execute();
}

/** How many sync runs the account has. */
const runCount = (accountId: string) =>
  t.db
    .selectFrom('sync_runs')
    .select((eb) => eb.fn.countAll().as('n'))
    .where('account_id', '=', accountId)
    .executeTakeFirstOrThrow();

/** Imports a statement file for the account, as an operator's upload does. */
const importFor = (accountId: string, text: string) =>
  importStatementFile(t.db, { accountId, text, trigger: 'manual' });

/** What an import was refused with, or null when it was not. */
const refusalOf = (imported: Promise<unknown>) =>
  imported.then(
    () => null,
    (err: unknown) => err,
  );

describe('BAI2: an interim previous-day group (as-of-date modifier 1)', () => {
  it("adds its items but is not the day's complete report: no pending item removed, no fetch evidence, no final balance", async () => {
    const account = await createAccount(t.db, await createTenancy(t.db));
    const acct = account.jpmAccountId;
    // The day's intraday report (interim same-day): P1 and P2 pending.
    const sameDay = bai2Groups([{ date: '261130', modifier: '3', account: acct, items: [P1, P2] }]);
    const intraday = await importFor(account.id, sameDay);
    expect(intraday.counts.inserted).toBe(2);

    // Early next morning, an interim previous-day report holding P1 only (P2 not posted yet, or not yet reported).
    const interim = bai2Groups([
      {
        date: '261130',
        modifier: '1',
        account: acct,
        summary: [
          ['010', 100_000n],
          ['015', 150_000n],
        ],
        items: [P1],
      },
    ]);
    const early = await importFor(account.id, interim);
    expect(early.status).toBe('succeeded');
    expect(early.counts.removed).toBe(0);
    expect(early.days).toEqual([]);
    expect(await rows(account.id)).toEqual([
      { bank_reference: 'P1', status: 'pending', source: 'bai2' },
      { bank_reference: 'P1', status: 'posted', source: 'bai2' },
      { bank_reference: 'P2', status: 'pending', source: 'bai2' },
    ]);
    expect(await evidence(account.id)).toEqual([]);
    const finals = await t.db
      .selectFrom('balances')
      .select(['kind'])
      .where('account_id', '=', account.id)
      .where('kind', '=', 'final')
      .execute();
    expect(finals).toEqual([]);
    const run = await t.db
      .selectFrom('sync_runs')
      .select(['mode', 'window_from', 'window_to'])
      .where('id', '=', early.runId)
      .executeTakeFirstOrThrow();
    expect({ ...run, window_from: String(run.window_from), window_to: String(run.window_to) }).toEqual({
      mode: 'range',
      window_from: DAY,
      window_to: DAY,
    });

    // The final previous-day report: P1 and P3 posted; now P2 is known never to have posted.
    const final = bai2Groups([
      {
        date: '261130',
        modifier: '2',
        account: acct,
        summary: [
          ['010', 100_000n],
          ['015', 142_500n],
        ],
        items: [P1, P3],
      },
    ]);
    const late = await importFor(account.id, final);
    expect(late.days).toEqual([DAY]);
    expect(late.counts).toEqual(expect.objectContaining({ inserted: 1, superseded: 1, removed: 1 }));
    expect(await rows(account.id)).toEqual([
      { bank_reference: 'P1', status: 'posted', source: 'bai2' },
      { bank_reference: 'P1', status: 'superseded', source: 'bai2' },
      { bank_reference: 'P2', status: 'removed', source: 'bai2' },
      { bank_reference: 'P3', status: 'posted', source: 'bai2' },
    ]);
    expect((await evidence(account.id)).map((e) => [String(e.booking_date), e.record_count])).toEqual([[DAY, 2]]);
  });
});

describe('BAI2: variable-length records (the 01 record leaves the physical record length blank)', () => {
  it('an 88 record after a record longer than 80 characters starts a new word, as after any other', async () => {
    const account = await createAccount(t.db, await createTenancy(t.db));
    const text = 'PAYMENT FROM ACME CORPORATION FOR INVOICE NUMBER 12345 DATED THE THIRTIETH OF';
    const tag = 'B/O CUSTOMER: ACME CORPORATION 1 MAIN STREET NEW YORK NY 10001 UNITED STATES OF';
    const file = bai2Groups(
      [
        {
          date: '261130',
          modifier: '2',
          account: account.jpmAccountId,
          summary: [
            ['010', 100_000n],
            ['015', 150_000n],
          ],
          items: [{ ...P1, text, more: ['NOVEMBER', tag, 'AMERICA'] }],
        },
      ],
      { recordLength: '' },
    );
    const lines = file.split('\r\n');
    expect(lines.filter((l) => l.length > 80).map((l) => l.slice(0, 3))).toEqual(['16,', '88,']);
    await importFor(account.id, file);
    const row = await t.db
      .selectFrom('transactions')
      .select(['description', 'narrative'])
      .where('account_id', '=', account.id)
      .executeTakeFirstOrThrow();
    expect(row.narrative).toEqual({
      'B/O CUSTOMER': 'ACME CORPORATION 1 MAIN STREET NEW YORK NY 10001 UNITED STATES OF AMERICA',
    });
    expect(row.description).toBe(
      'PAYMENT FROM ACME CORPORATION FOR INVOICE NUMBER 12345 DATED THE THIRTIETH OF NOVEMBER | ' +
        'B/O CUSTOMER: ACME CORPORATION 1 MAIN STREET NEW YORK NY 10001 UNITED STATES OF AMERICA',
    );
  });
});

describe('BAI2: a correction group (group status 3)', () => {
  const P2changed = { ...P2, amount: 21_000n };
  const summary: [string, bigint][] = [
    ['010', 100_000n],
    ['015', 130_000n],
  ];

  it('for a day already stored is refused (409), naming the day, and stores nothing', async () => {
    const account = await createAccount(t.db, await createTenancy(t.db));
    const acct = account.jpmAccountId;
    const original = bai2Groups([{ date: '261130', modifier: '2', account: acct, summary, items: [P1, P2] }]);
    await importFor(account.id, original);
    const before = await rows(account.id);
    const runsBefore = await runCount(account.id);

    const correction = bai2Groups([
      { date: '261130', status: '3', modifier: '2', account: acct, summary, items: [P1, P2changed] },
    ]);
    const refused = await refusalOf(importFor(account.id, correction));
    expect(refused).toMatchObject({ httpStatus: 409, code: 'statement_correction_conflict' });
    expect((refused as Error).message).toContain('2026-11-30');
    expect(await rows(account.id)).toEqual(before);
    const runsAfter = await runCount(account.id);
    expect(runsAfter).toEqual(runsBefore);
  });

  it('for a day with nothing stored is the report of that day', async () => {
    const account = await createAccount(t.db, await createTenancy(t.db));
    const correction = bai2Groups([
      { date: '261130', status: '3', modifier: '2', account: account.jpmAccountId, summary, items: [P1, P2changed] },
    ]);
    const imported = await importFor(account.id, correction);
    expect(imported.days).toEqual([DAY]);
    expect(imported.counts.inserted).toBe(2);
  });
});

describe('BAI2: one account and as-of date reported in several groups of one file', () => {
  const opening: [string, bigint] = ['010', 100_000n];
  const finalOf = (items: Bai2Item[], closing: bigint, acct: string) => ({
    date: '261130',
    modifier: '2',
    account: acct,
    summary: [opening, ['015', closing]] as [string, bigint][],
    items,
  });
  const balancesOf = async (accountId: string) =>
    (
      await t.db
        .selectFrom('balances')
        .select(['kind', 'opening_ledger_minor', 'ending_ledger_minor'])
        .where('account_id', '=', accountId)
        .orderBy('kind')
        .execute()
    ).map((b) => [b.kind, String(b.opening_ledger_minor), String(b.ending_ledger_minor)]);

  it('a final previous-day group sent twice (a resend appended to the file) is stored once', async () => {
    const account = await createAccount(t.db, await createTenancy(t.db));
    const group = finalOf([P1, P2], 130_000n, account.jpmAccountId);
    const file = bai2Groups([group, group]);
    const imported = await importFor(account.id, file);
    expect(imported.status).toBe('succeeded');
    expect(imported.days).toEqual([DAY]);
    expect(await rows(account.id)).toEqual([
      { bank_reference: 'P1', status: 'posted', source: 'bai2' },
      { bank_reference: 'P2', status: 'posted', source: 'bai2' },
    ]);
    expect(await balancesOf(account.id)).toEqual([['final', '100000', '130000']]);
    expect((await evidence(account.id)).map((e) => [String(e.booking_date), e.record_count])).toEqual([[DAY, 2]]);
  });

  it("an interim previous-day group then the day's final group: the final report wins, each item once", async () => {
    const account = await createAccount(t.db, await createTenancy(t.db));
    const acct = account.jpmAccountId;
    const file = bai2Groups([
      { date: '261130', modifier: '1', account: acct, items: [P1] },
      finalOf([P1, P3], 142_500n, acct),
    ]);
    const imported = await importFor(account.id, file);
    expect(imported.days).toEqual([DAY]);
    expect(await rows(account.id)).toEqual([
      { bank_reference: 'P1', status: 'posted', source: 'bai2' },
      { bank_reference: 'P3', status: 'posted', source: 'bai2' },
    ]);
    expect(await balancesOf(account.id)).toEqual([['final', '100000', '142500']]);
    expect((await evidence(account.id)).map((e) => [String(e.booking_date), e.record_count])).toEqual([[DAY, 2]]);
  });

  it('two final groups that differ: the later one is the report of the day', async () => {
    const account = await createAccount(t.db, await createTenancy(t.db));
    const acct = account.jpmAccountId;
    const file = bai2Groups([finalOf([P1, P2], 130_000n, acct), finalOf([P1, P3], 142_500n, acct)]);
    const imported = await importFor(account.id, file);
    expect(imported.days).toEqual([DAY]);
    expect(await rows(account.id)).toEqual([
      { bank_reference: 'P1', status: 'posted', source: 'bai2' },
      { bank_reference: 'P3', status: 'posted', source: 'bai2' },
    ]);
    expect(await balancesOf(account.id)).toEqual([['final', '100000', '142500']]);
  });

  it('a later file with a different final report of a stored day adds its new items and leaves the day unproved', async () => {
    const account = await createAccount(t.db, await createTenancy(t.db));
    const acct = account.jpmAccountId;
    const first = bai2Groups([finalOf([P1, P2], 130_000n, acct)], { fileId: 'FIRST' });
    await importFor(account.id, first);
    const later = bai2Groups([finalOf([P1, P3], 142_500n, acct)], { fileId: 'LATER' });
    const imported = await importFor(account.id, later);
    expect(imported.counts.inserted).toBe(1);
    expect(await rows(account.id)).toEqual([
      { bank_reference: 'P1', status: 'posted', source: 'bai2' },
      { bank_reference: 'P2', status: 'posted', source: 'bai2' },
      { bank_reference: 'P3', status: 'posted', source: 'bai2' },
    ]);
    const day = await t.db
      .selectFrom('account_days')
      .select(['state'])
      .where('account_id', '=', account.id)
      .executeTakeFirstOrThrow();
    expect(day.state).not.toBe('proved');
  });

  it("an interim previous-day file after the day's final report, holding an item the final lacks, is refused (409)", async () => {
    const account = await createAccount(t.db, await createTenancy(t.db));
    const acct = account.jpmAccountId;
    await importFor(account.id, bai2Groups([finalOf([P1, P2], 130_000n, acct)], { fileId: 'FINAL' }));
    const before = await rows(account.id);
    const interim = bai2Groups([{ date: '261130', modifier: '1', account: acct, items: [P1, P3] }], {
      fileId: 'MORNING',
    });
    const refused = await refusalOf(importFor(account.id, interim));
    expect(refused).toMatchObject({ httpStatus: 409, code: 'statement_interim_conflict' });
    expect((refused as Error).message).toContain('2026-11-30');
    expect(await rows(account.id)).toEqual(before);
    // One that adds nothing to the stored report is read (and stores nothing).
    const subset = bai2Groups([{ date: '261130', modifier: '1', account: acct, items: [P2] }], { fileId: 'EARLY' });
    const read = await importFor(account.id, subset);
    expect(read.counts.inserted).toBe(0);
    expect(await rows(account.id)).toEqual(before);
  });

  it("an interim previous-day file after the day's final report: an item of a stored amount but another reference is beyond it (409)", async () => {
    const account = await createAccount(t.db, await createTenancy(t.db));
    const acct = account.jpmAccountId;
    const Q1: Bai2Item = { ...item('495', 3_000n, ''), custRef: 'C-1' };
    await importFor(account.id, bai2Groups([finalOf([P1, P2, Q1], 127_000n, acct)], { fileId: 'FINAL' }));
    const before = await rows(account.id);
    // P9 has P2's direction and amount but its own bank reference: another item, which the final report lacks.
    const P9 = item('495', 20_000n, 'P9');
    const byBankRef = bai2Groups([{ date: '261130', modifier: '1', account: acct, items: [P1, P9] }], {
      fileId: 'MORNING',
    });
    const refused = await refusalOf(importFor(account.id, byBankRef));
    expect(refused).toMatchObject({ httpStatus: 409, code: 'statement_interim_conflict' });
    // The customer reference where the bank reference is left out on both sides.
    const noBankRef = { ...Q1, custRef: 'C-2' };
    const byCustRef = bai2Groups([{ date: '261130', modifier: '1', account: acct, items: [noBankRef] }], {
      fileId: 'MORNING2',
    });
    await expect(importFor(account.id, byCustRef)).rejects.toMatchObject({
      httpStatus: 409,
      code: 'statement_interim_conflict',
    });
    expect(await rows(account.id)).toEqual(before);
    // An item that leaves out the reference the stored BAI2 item carries would be stored beside it (one channel's
    // items match by their references): beyond the stored report too.
    const unreferenced = bai2Groups(
      [{ date: '261130', modifier: '1', account: acct, items: [{ ...P2, bankRef: '' }] }],
      {
        fileId: 'EARLY',
      },
    );
    await expect(importFor(account.id, unreferenced)).rejects.toMatchObject({
      httpStatus: 409,
      code: 'statement_interim_conflict',
    });
    // The stored items with their own references are read, storing nothing.
    const same = bai2Groups([{ date: '261130', modifier: '1', account: acct, items: [Q1, P2, P1] }], {
      fileId: 'EARLY2',
    });
    const read = await importFor(account.id, same);
    expect(read.counts.inserted).toBe(0);
    expect(await rows(account.id)).toEqual(before);
  });

  it('two interim same-day groups: every item of either once (a later intraday report adds to the earlier)', async () => {
    const account = await createAccount(t.db, await createTenancy(t.db));
    const acct = account.jpmAccountId;
    const file = bai2Groups([
      { date: '261130', modifier: '3', account: acct, items: [P1, P2] },
      { date: '261130', modifier: '3', account: acct, items: [P1, P3] },
    ]);
    const imported = await importFor(account.id, file);
    expect(imported.counts.inserted).toBe(3);
    expect(await rows(account.id)).toEqual([
      { bank_reference: 'P1', status: 'pending', source: 'bai2' },
      { bank_reference: 'P2', status: 'pending', source: 'bai2' },
      { bank_reference: 'P3', status: 'pending', source: 'bai2' },
    ]);
  });

  it('an intraday group then the previous-day group of the same date: the posted items supersede the pending', async () => {
    const account = await createAccount(t.db, await createTenancy(t.db));
    const acct = account.jpmAccountId;
    const file = bai2Groups([
      { date: '261130', modifier: '3', account: acct, items: [P1, P2] },
      finalOf([P1, P3], 142_500n, acct),
    ]);
    const imported = await importFor(account.id, file);
    expect(imported.days).toEqual([DAY]);
    const live = (await rows(account.id)).filter((r) => r.status === 'posted' || r.status === 'pending');
    expect(live).toEqual([
      { bank_reference: 'P1', status: 'posted', source: 'bai2' },
      { bank_reference: 'P3', status: 'posted', source: 'bai2' },
    ]);
  });

  it('an interim group after the final group of its day, holding items the final lacks, is refused whole (400)', async () => {
    const account = await createAccount(t.db, await createTenancy(t.db));
    const acct = account.jpmAccountId;
    const file = bai2Groups([
      finalOf([P1, P2], 130_000n, acct),
      { date: '261130', modifier: '1', account: acct, items: [P1, P3] },
    ]);
    const refused = await refusalOf(importFor(account.id, file));
    expect(refused).toMatchObject({ httpStatus: 400, code: 'statement_groups_conflict' });
    expect((refused as Error).message).toContain('2026-11-30');
    expect((refused as Error).message).toMatch(/line \d+/);
    expect(await rows(account.id)).toEqual([]);
  });

  it('an interim group after the final group of its day that adds nothing is taken as part of it', async () => {
    const account = await createAccount(t.db, await createTenancy(t.db));
    const acct = account.jpmAccountId;
    const file = bai2Groups([
      finalOf([P1, P2], 130_000n, acct),
      { date: '261130', modifier: '1', account: acct, items: [P2] },
    ]);
    const imported = await importFor(account.id, file);
    expect(imported.days).toEqual([DAY]);
    expect(await rows(account.id)).toEqual([
      { bank_reference: 'P1', status: 'posted', source: 'bai2' },
      { bank_reference: 'P2', status: 'posted', source: 'bai2' },
    ]);
  });
});
