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

describe('BAI2: an interim previous-day group (as-of-date modifier 1)', () => {
  it("adds its items but is not the day's complete report: no pending item removed, no fetch evidence, no final balance", async () => {
    const account = await createAccount(t.db, await createTenancy(t.db));
    const acct = account.jpmAccountId;
    // The day's intraday report (interim same-day): P1 and P2 pending.
    const sameDay = bai2Groups([{ date: '261130', modifier: '3', account: acct, items: [P1, P2] }]);
    const intraday = await importStatementFile(t.db, { accountId: account.id, text: sameDay, trigger: 'manual' });
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
    const early = await importStatementFile(t.db, { accountId: account.id, text: interim, trigger: 'manual' });
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
    const late = await importStatementFile(t.db, { accountId: account.id, text: final, trigger: 'manual' });
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
    await importStatementFile(t.db, { accountId: account.id, text: file, trigger: 'manual' });
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
    await importStatementFile(t.db, { accountId: account.id, text: original, trigger: 'manual' });
    const before = await rows(account.id);
    const runsBefore = await t.db
      .selectFrom('sync_runs')
      .select((eb) => eb.fn.countAll().as('n'))
      .where('account_id', '=', account.id)
      .executeTakeFirstOrThrow();

    const correction = bai2Groups([
      { date: '261130', status: '3', modifier: '2', account: acct, summary, items: [P1, P2changed] },
    ]);
    const refused = await importStatementFile(t.db, {
      accountId: account.id,
      text: correction,
      trigger: 'manual',
    }).then(
      () => null,
      (err: unknown) => err,
    );
    expect(refused).toMatchObject({ httpStatus: 409, code: 'statement_correction_conflict' });
    expect((refused as Error).message).toContain('2026-11-30');
    expect(await rows(account.id)).toEqual(before);
    const runsAfter = await t.db
      .selectFrom('sync_runs')
      .select((eb) => eb.fn.countAll().as('n'))
      .where('account_id', '=', account.id)
      .executeTakeFirstOrThrow();
    expect(runsAfter).toEqual(runsBefore);
  });

  it('for a day with nothing stored is the report of that day', async () => {
    const account = await createAccount(t.db, await createTenancy(t.db));
    const correction = bai2Groups([
      { date: '261130', status: '3', modifier: '2', account: account.jpmAccountId, summary, items: [P1, P2changed] },
    ]);
    const imported = await importStatementFile(t.db, { accountId: account.id, text: correction, trigger: 'manual' });
    expect(imported.days).toEqual([DAY]);
    expect(imported.counts.inserted).toBe(2);
  });
});
