import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importStatementFile } from '../../src/main/statement-import.ts';
import { createTestDb, type TestDb } from '../helpers/db.ts';
import { createAccount, createTenancy } from '../factories/tenancy.ts';
import { camtFile, type CamtItem, type CamtStatement } from '../factories/camt.ts';

/**
 * camt.053 / camt.052 statements marked as a copy or duplicate of one sent before (`CpyDplctInd` COPY, DUPL,
 * CODU), through the real import path and Postgres: nothing twice, nothing stored overwritten.
 */
let t: TestDb;
beforeAll(async () => {
  t = await createTestDb();
});
afterAll(async () => {
  await t.drop();
});

const DAY = '2026-11-30';
const NEXT = '2026-12-01';
const A: CamtItem = { cdtDbt: 'CRDT', amount: '500.00', ref: 'A1' };
const B: CamtItem = { cdtDbt: 'DBIT', amount: '200.00', ref: 'B1' };
const C: CamtItem = { cdtDbt: 'DBIT', amount: '75.00', ref: 'C1' };

async function rows(accountId: string) {
  return (
    await t.db
      .selectFrom('transactions')
      .select(['bank_reference', 'status', 'booking_date'])
      .where('account_id', '=', accountId)
      .orderBy('booking_date')
      .orderBy('bank_reference')
      .execute()
  ).map((r) => [String(r.booking_date), r.bank_reference, r.status]);
}

async function balances(accountId: string) {
  return (
    await t.db
      .selectFrom('balances')
      .select(['as_of_date', 'kind', 'opening_ledger_minor', 'ending_ledger_minor'])
      .where('account_id', '=', accountId)
      .orderBy('as_of_date')
      .execute()
  ).map((b) => [String(b.as_of_date), b.kind, String(b.opening_ledger_minor), String(b.ending_ledger_minor)]);
}

const refusal = (p: Promise<unknown>) =>
  p.then(
    () => null,
    (err: unknown) => err as Error & { httpStatus?: number; code?: string },
  );

async function setup() {
  const account = await createAccount(t.db, await createTenancy(t.db));
  const original = (extra: Partial<CamtStatement> = {}): CamtStatement => ({
    account: account.jpmAccountId,
    date: DAY,
    opening: '1000.00',
    closing: '1300.00',
    items: [A, B],
    ...extra,
  });
  const run = (text: string) => importStatementFile(t.db, { accountId: account.id, text, trigger: 'manual' });
  return { account, original, run };
}

describe('camt: a duplicate of a statement already imported', () => {
  it.each(['DUPL', 'COPY', 'CODU'])(
    '%s that differs from what is stored changes nothing of the stored day and says so',
    async (copy) => {
      const { account, original, run } = await setup();
      await run(camtFile([original()], { msgId: 'ORIGINAL' }));
      const before = { rows: await rows(account.id), balances: await balances(account.id) };
      // The copy as regenerated later: another closing balance, one item with another bank reference.
      const dup = camtFile([original({ copy, closing: '1225.00', items: [A, C] })], { msgId: 'RESENT' });
      const imported = await run(dup);
      expect(imported.counts).toEqual(expect.objectContaining({ inserted: 0, updated: 0, balances: 0 }));
      expect(imported.days).toEqual([]);
      expect(imported.copiesSkipped).toEqual([DAY]);
      expect({ rows: await rows(account.id), balances: await balances(account.id) }).toEqual(before);
    },
  );

  it("a duplicate of a day nothing is stored of is that day's report (the original never arrived)", async () => {
    const { account, original, run } = await setup();
    const imported = await run(camtFile([original({ copy: 'DUPL' })]));
    expect(imported.days).toEqual([DAY]);
    expect(imported.copiesSkipped).toEqual([]);
    expect(await rows(account.id)).toEqual([
      [DAY, 'A1', 'posted'],
      [DAY, 'B1', 'posted'],
    ]);
    expect(await balances(account.id)).toEqual([[DAY, 'final', '100000', '130000']]);
  });

  it('a duplicate covering a stored day and a new one imports the new day only', async () => {
    const { account, original, run } = await setup();
    await run(camtFile([original()]));
    const imported = await run(
      camtFile([
        original({ copy: 'DUPL', closing: '1225.00', items: [A, C] }),
        original({ copy: 'DUPL', date: NEXT, opening: '1300.00', closing: '1225.00', items: [C] }),
      ]),
    );
    expect(imported.days).toEqual([NEXT]);
    expect(imported.copiesSkipped).toEqual([DAY]);
    expect(await rows(account.id)).toEqual([
      [DAY, 'A1', 'posted'],
      [DAY, 'B1', 'posted'],
      [NEXT, 'C1', 'posted'],
    ]);
    expect(await balances(account.id)).toEqual([
      [DAY, 'final', '100000', '130000'],
      [NEXT, 'final', '130000', '122500'],
    ]);
  });
});

describe('camt: a duplicate in the same file as its original', () => {
  it('an identical duplicate after its original is stored once', async () => {
    const { account, original, run } = await setup();
    const imported = await run(camtFile([original(), original({ copy: 'DUPL' })]));
    expect(imported.days).toEqual([DAY]);
    expect(await rows(account.id)).toEqual([
      [DAY, 'A1', 'posted'],
      [DAY, 'B1', 'posted'],
    ]);
    expect(await balances(account.id)).toEqual([[DAY, 'final', '100000', '130000']]);
  });

  it('an identical duplicate before its original is stored once', async () => {
    const { account, original, run } = await setup();
    await run(camtFile([original({ copy: 'CODU' }), original()]));
    expect(await rows(account.id)).toEqual([
      [DAY, 'A1', 'posted'],
      [DAY, 'B1', 'posted'],
    ]);
  });

  it('a duplicate that differs from its original refuses the file (400), nothing stored', async () => {
    const { account, original, run } = await setup();
    const err = await refusal(run(camtFile([original(), original({ copy: 'DUPL', items: [A, C] })])));
    expect(err).toMatchObject({ httpStatus: 400, code: 'statement_duplicate_differs' });
    expect(err?.message).toContain(DAY);
    expect(err?.message).toMatch(/line \d+/);
    expect(await rows(account.id)).toEqual([]);
    expect(await balances(account.id)).toEqual([]);
  });

  it("a copy of another statement (another Id) of the same day is not that statement's copy: both are stored", async () => {
    // As two statements of one day (morning and afternoon), the first sent again as a copy.
    const { account, original, run } = await setup();
    const morning = original({ id: 'STMT-253', copy: 'CODU', closing: '1500.00', items: [A] });
    const afternoon = original({ id: 'STMT-254', opening: '1500.00', closing: '1425.00', items: [C] });
    await run(camtFile([morning, afternoon]));
    expect(await rows(account.id)).toEqual([
      [DAY, 'A1', 'posted'],
      [DAY, 'C1', 'posted'],
    ]);
  });

  it("a copy of a stored day is skipped, not the day's other statement in the same file", async () => {
    const { account, original, run } = await setup();
    await run(camtFile([original({ id: 'STMT-253', items: [A] })]));
    const imported = await run(
      camtFile([
        original({ id: 'STMT-253', copy: 'DUPL', items: [A, B] }),
        original({ id: 'STMT-254', opening: '1300.00', closing: '1225.00', items: [C] }),
      ]),
    );
    expect(imported.copiesSkipped).toEqual([DAY]);
    expect(await rows(account.id)).toEqual([
      [DAY, 'A1', 'posted'],
      [DAY, 'C1', 'posted'],
    ]);
  });

  it('an unknown CpyDplctInd code refuses the file (400), naming the codes read', async () => {
    const { account, original, run } = await setup();
    const err = await refusal(run(camtFile([original({ copy: 'XXXX' })])));
    expect(err).toMatchObject({ httpStatus: 400, code: 'statement_invalid' });
    expect(err?.message).toContain('CpyDplctInd');
    expect(await rows(account.id)).toEqual([]);
  });
});

describe('camt.052: a duplicate intraday report', () => {
  it('does not replace the current-day balance stored from a later report', async () => {
    const { account, run } = await setup();
    const report = (closing: string, items: CamtItem[], copy?: string) =>
      camtFile(
        [{ account: account.jpmAccountId, date: DAY, opening: '1000.00', closing, items, ...(copy ? { copy } : {}) }],
        { report: true },
      );
    await run(report('1300.00', [A, B]));
    const before = { rows: await rows(account.id), balances: await balances(account.id) };
    const imported = await run(report('1500.00', [A], 'DUPL'));
    expect(imported.copiesSkipped).toEqual([DAY]);
    expect({ rows: await rows(account.id), balances: await balances(account.id) }).toEqual(before);
  });
});

describe('camt: the same statement twice in one file, unmarked', () => {
  it('is stored once when it says the same (a statement sent twice)', async () => {
    const { account, original, run } = await setup();
    const imported = await run(camtFile([original(), original()]));
    expect(imported.days).toEqual([DAY]);
    expect(await rows(account.id)).toEqual([
      [DAY, 'A1', 'posted'],
      [DAY, 'B1', 'posted'],
    ]);
    expect(await balances(account.id)).toEqual([[DAY, 'final', '100000', '130000']]);
  });

  it('refuses the file (400) when the repeat differs, nothing stored', async () => {
    const { account, original, run } = await setup();
    const err = await refusal(run(camtFile([original(), original({ items: [A, C], closing: '1425.00' })])));
    expect(err).toMatchObject({ httpStatus: 400, code: 'statement_duplicate_differs' });
    expect(err?.message).toMatch(/^line \d+: the statement repeats the Id of the statement of line \d+/);
    expect(await rows(account.id)).toEqual([]);
  });
});
