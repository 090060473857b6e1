import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importStatementFile } from '../../src/main/statement-import.ts';
import { createTestDb, type TestDb } from '../helpers/db.ts';
import { createAccount, createTenancy } from '../factories/tenancy.ts';
import { bai2Groups } from '../factories/bai2.ts';

/**
 * Statement files as banks other than our simulator write them, through the real import path and
 * Postgres: each test is a file shape our tidy samples do not have.
 */
let t: TestDb;
beforeAll(async () => {
  t = await createTestDb();
});
afterAll(async () => {
  await t.drop();
});

interface CamtEntry {
  amount: string;
  cdtDbt: 'CRDT' | 'DBIT';
  day: string;
  ref: string;
  /** The entry's `Sts/Cd`: BOOK when not given. */
  status?: string;
}

function camtBalance(code: string, amount: string, day: string): string {
  return (
    `<Bal><Tp><CdOrPrtry><Cd>${code}</Cd></CdOrPrtry></Tp><Amt Ccy="USD">${amount}</Amt>` +
    `<CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>${day}</Dt></Dt></Bal>`
  );
}

function camtStmt(account: string, id: string, balances: string[], entries: CamtEntry[], pagination = ''): string {
  return [
    `<Stmt><Id>${id}</Id>${pagination}<Acct><Id><Othr><Id>${account}</Id></Othr></Id><Ccy>USD</Ccy></Acct>`,
    ...balances,
    ...entries.map(
      (e) =>
        `<Ntry><Amt Ccy="USD">${e.amount}</Amt><CdtDbtInd>${e.cdtDbt}</CdtDbtInd><Sts><Cd>${e.status ?? 'BOOK'}</Cd></Sts>` +
        `<BookgDt><Dt>${e.day}</Dt></BookgDt>${e.ref === '' ? '' : `<AcctSvcrRef>${e.ref}</AcctSvcrRef>`}` +
        `<BkTxCd><Prtry><Cd>${e.cdtDbt === 'CRDT' ? '195' : '495'}</Cd></Prtry></BkTxCd></Ntry>`,
    ),
    '</Stmt>',
  ].join('\n');
}

function camtDocument(id: string, statements: string[], groupHeader = ''): string {
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"><BkToCstmrStmt>',
    `<GrpHdr><MsgId>${id}</MsgId><CreDtTm>2026-12-01T02:00:00</CreDtTm>${groupHeader}</GrpHdr>`,
    ...statements,
    '</BkToCstmrStmt></Document>',
  ].join('\n');
}

function camt053(account: string, id: string, balances: string[], entries: CamtEntry[]): string {
  return camtDocument(id, [camtStmt(account, id, balances, entries)]);
}

describe('camt.053: an opening balance dated the previous statement day (PRCD, the previously closed balance)', () => {
  it("is the opening of the statement's day: the previous day's balance, fetch evidence and proof stay as they were", async () => {
    const account = await createAccount(t.db, await createTenancy(t.db));
    const friday = camt053(
      account.jpmAccountId,
      'FRI',
      [camtBalance('OPBD', '1000.00', '2026-11-27'), camtBalance('CLBD', '1150.00', '2026-11-27')],
      [
        { amount: '200.00', cdtDbt: 'CRDT', day: '2026-11-27', ref: 'F1' },
        { amount: '50.00', cdtDbt: 'DBIT', day: '2026-11-27', ref: 'F2' },
      ],
    );
    const first = await importStatementFile(t.db, { accountId: account.id, text: friday, trigger: 'manual' });
    expect(first.days).toEqual(['2026-11-27']);
    const snapshot = async (day: string) => ({
      balances: await t.db
        .selectFrom('balances')
        .select(['kind', 'opening_ledger_minor', 'ending_ledger_minor'])
        .where('account_id', '=', account.id)
        .where('as_of_date', '=', day)
        .execute(),
      fetches: await t.db
        .selectFrom('bank_day_fetches')
        .select(['record_count', 'credits_minor', 'debits_minor'])
        .where('account_id', '=', account.id)
        .where('booking_date', '=', day)
        .execute(),
      proof: await t.db
        .selectFrom('account_days')
        .select(['state', 'opening_ledger_minor', 'closing_ledger_minor'])
        .where('account_id', '=', account.id)
        .where('day', '=', day)
        .execute(),
    });
    const fridayBefore = await snapshot('2026-11-27');
    expect(fridayBefore.balances).toEqual([
      { kind: 'final', opening_ledger_minor: '100000', ending_ledger_minor: '115000' },
    ]);
    expect(fridayBefore.proof).toEqual([
      expect.objectContaining({ opening_ledger_minor: '100000', closing_ledger_minor: '115000' }),
    ]);

    // Monday's statement states Friday's closing as its PRCD, dated Friday (as e.g. German banks write it).
    const monday = camt053(
      account.jpmAccountId,
      'MON',
      [camtBalance('PRCD', '1150.00', '2026-11-27'), camtBalance('CLBD', '1175.00', '2026-11-30')],
      [{ amount: '25.00', cdtDbt: 'CRDT', day: '2026-11-30', ref: 'M1' }],
    );
    const second = await importStatementFile(t.db, { accountId: account.id, text: monday, trigger: 'manual' });
    expect(second.days).toEqual(['2026-11-30']);
    expect(second.status).toBe('succeeded');
    expect(await snapshot('2026-11-27')).toEqual(fridayBefore);
    const mondayAfter = await snapshot('2026-11-30');
    expect(mondayAfter.balances).toEqual([
      { kind: 'final', opening_ledger_minor: '115000', ending_ledger_minor: '117500' },
    ]);
    expect(mondayAfter.proof).toEqual([
      expect.objectContaining({ state: fridayBefore.proof[0]!.state, opening_ledger_minor: '115000' }),
    ]);
  });
});

describe('camt.053: a statement split into pages (StmtPgntn, MsgPgntn)', () => {
  const page = (n: number, last: boolean) => `<StmtPgntn><PgNb>${n}</PgNb><LastPgInd>${last}</LastPgInd></StmtPgntn>`;
  // One identical $25.00 fee without references on each page: two items of the day.
  const fee: CamtEntry = { amount: '25.00', cdtDbt: 'DBIT', day: '2026-11-30', ref: '' };
  const feeRows = (accountId: string) =>
    t.db
      .selectFrom('transactions')
      .select(['fingerprint_key'])
      .where('account_id', '=', accountId)
      .orderBy('fingerprint_key')
      .execute();

  it('pages in separate files are refused, each naming its page, and store nothing (one fee would be taken for the other)', async () => {
    const account = await createAccount(t.db, await createTenancy(t.db));
    const first = camtDocument('P1', [
      camtStmt(account.jpmAccountId, 'S1', [camtBalance('OPBD', '100.00', '2026-11-30')], [fee], page(1, false)),
    ]);
    const second = camtDocument('P2', [
      camtStmt(account.jpmAccountId, 'S1', [camtBalance('CLBD', '50.00', '2026-11-30')], [fee], page(2, true)),
    ]);
    for (const [text, line] of [
      [first, 4],
      [second, 4],
    ] as const) {
      await expect(importStatementFile(t.db, { accountId: account.id, text, trigger: 'manual' })).rejects.toMatchObject(
        {
          code: 'statement_incomplete',
          httpStatus: 400,
          message: expect.stringMatching(new RegExp(`^line ${line}: .*page`)) as unknown,
        },
      );
    }
    // A message split into pages (GrpHdr/MsgPgntn) likewise.
    const message = camtDocument(
      'M2',
      [camtStmt(account.jpmAccountId, 'S1', [], [fee])],
      '<MsgPgntn><PgNb>2</PgNb><LastPgInd>true</LastPgInd></MsgPgntn>',
    );
    await expect(
      importStatementFile(t.db, { accountId: account.id, text: message, trigger: 'manual' }),
    ).rejects.toMatchObject({ code: 'statement_incomplete' });
    expect(await feeRows(account.id)).toEqual([]);
    const runs = await t.db.selectFrom('sync_runs').select('id').where('account_id', '=', account.id).execute();
    expect(runs).toEqual([]);
  });

  it('every page of the statement in one file: both fees stored', async () => {
    const account = await createAccount(t.db, await createTenancy(t.db));
    const text = camtDocument(
      'ALL',
      [
        camtStmt(account.jpmAccountId, 'S1', [camtBalance('OPBD', '100.00', '2026-11-30')], [fee], page(1, false)),
        camtStmt(account.jpmAccountId, 'S1', [camtBalance('CLBD', '50.00', '2026-11-30')], [fee], page(2, true)),
      ],
      '<MsgPgntn><PgNb>1</PgNb><LastPgInd>true</LastPgInd></MsgPgntn>',
    );
    const result = await importStatementFile(t.db, { accountId: account.id, text, trigger: 'manual' });
    expect(result.status).toBe('succeeded');
    expect((await feeRows(account.id)).map((r) => r.fingerprint_key.split(':').at(-1))).toEqual(['1', '2']);
  });
});

describe('camt.053: an entry whose status is not BOOK', () => {
  it('a future-dated entry (Sts FUTR) is not stored as posted; a status of no known code refuses the file', async () => {
    const account = await createAccount(t.db, await createTenancy(t.db));
    const statement = (status: string) =>
      camt053(
        account.jpmAccountId,
        'FUT',
        [camtBalance('OPBD', '100.00', '2026-11-30'), camtBalance('CLBD', '125.00', '2026-11-30')],
        [
          { amount: '25.00', cdtDbt: 'CRDT', day: '2026-11-30', ref: 'BOOKED-1' },
          { amount: '40.00', cdtDbt: 'CRDT', day: '2026-12-01', ref: 'FUTURE-1', status },
        ],
      );
    const result = await importStatementFile(t.db, {
      accountId: account.id,
      text: statement('FUTR'),
      trigger: 'manual',
    });
    expect(result.days).toEqual(['2026-11-30']);
    const rows = await t.db
      .selectFrom('transactions')
      .select(['bank_reference', 'status'])
      .where('account_id', '=', account.id)
      .orderBy('bank_reference')
      .execute();
    expect(rows).toEqual([
      { bank_reference: 'BOOKED-1', status: 'posted' },
      { bank_reference: 'FUTURE-1', status: 'pending' },
    ]);
    await expect(
      importStatementFile(t.db, { accountId: account.id, text: statement('RJCT'), trigger: 'manual' }),
    ).rejects.toMatchObject({ code: 'statement_invalid', message: expect.stringContaining('Sts') as unknown });
  });
});

describe('a balance from a file that disagrees with the stored one', () => {
  it('replaces the amounts the file carries and keeps those it leaves out (a BAI2 file with ledger figures only)', async () => {
    const account = await createAccount(t.db, await createTenancy(t.db));
    const day = '2026-11-30';
    const camt = camt053(
      account.jpmAccountId,
      'FULL',
      [
        camtBalance('OPBD', '1000.00', day),
        camtBalance('CLBD', '1000.00', day),
        camtBalance('OPAV', '990.00', day),
        camtBalance('CLAV', '995.00', day),
      ],
      [],
    );
    await importStatementFile(t.db, { accountId: account.id, text: camt, trigger: 'manual' });
    const balance = () =>
      t.db
        .selectFrom('balances')
        .select([
          'kind',
          'opening_ledger_minor',
          'ending_ledger_minor',
          'opening_available_minor',
          'ending_available_minor',
          'source',
        ])
        .where('account_id', '=', account.id)
        .execute();
    expect(await balance()).toEqual([
      {
        kind: 'final',
        opening_ledger_minor: '100000',
        ending_ledger_minor: '100000',
        opening_available_minor: '99000',
        ending_available_minor: '99500',
        source: 'camt053',
      },
    ]);

    // The BAI2 file of the day states the ledger amounts only (010, 015), its closing another than the stored one.
    const ledgerOnly = bai2Groups([
      {
        date: '261130',
        modifier: '2',
        account: account.jpmAccountId,
        summary: [
          ['010', 100_000n],
          ['015', 101_000n],
        ],
        items: [],
      },
    ]);
    const imported = await importStatementFile(t.db, { accountId: account.id, text: ledgerOnly, trigger: 'manual' });
    expect(imported.counts.balances).toBe(1);
    const replaced = [
      {
        kind: 'final',
        opening_ledger_minor: '100000',
        ending_ledger_minor: '101000',
        opening_available_minor: '99000',
        ending_available_minor: '99500',
        source: 'bai2',
      },
    ];
    expect(await balance()).toEqual(replaced);

    // The same file again confirms the row: nothing written.
    const again = await importStatementFile(t.db, { accountId: account.id, text: ledgerOnly, trigger: 'manual' });
    expect(again.counts.balances).toBe(0);
    expect(await balance()).toEqual(replaced);
  });
});
