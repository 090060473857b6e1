import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importStatementFile } from '../../src/main/statement-import.ts';
import { eachDay, type IsoDate } from '../../src/shared/time.ts';
import { accountDayView } from '../../src/simulator/index.ts';
import { renderBai2, renderCamt052, renderCamt053 } from '../../src/simulator/statements.ts';
import { createDb } from '../../src/storage/db.ts';
import { lockAccountForWrite } from '../../src/storage/transactions.repo.ts';
import type { BankClient } from '../../src/sync/bank-client.ts';
import { syncAccountWindow } from '../../src/sync/sync-account.ts';
import { onPostedDays } from '../../src/validation/index.ts';
import { createTestDb, type TestDb } from '../helpers/db.ts';
import { createAccount, createTenancy } from '../factories/tenancy.ts';
import { ingestWire, wireTransaction } from '../factories/transactions.ts';
import { startValidationSim, type ValidationSim } from '../helpers/validation-sim.ts';
import { bai2File } from '../factories/bai2.ts';

/**
 * Statement files and the API over one simulated ledger: a BAI2 file and a camt.053 file of the same
 * days, then an API sync over a range that overlaps them. Every posted item the bank reports for any
 * of those days must be stored once (three identical fees stay three), every business day must be
 * proved, and a file imported again must change no data row.
 */
const TODAY: IsoDate = '2026-11-30';
const FILE_FROM: IsoDate = '2026-10-26';
const FILE_TO: IsoDate = '2026-11-06';
const API_FROM: IsoDate = '2026-11-02';
const API_TO: IsoDate = '2026-11-20';
const DATA_TABLES = [
  'transactions',
  'transaction_versions',
  'transaction_decisions',
  'change_events',
  'balances',
  'sync_rejects',
  'bank_day_fetches',
  'account_days',
];

describe('statement files and the API: one identity across channels', () => {
  let t: TestDb;
  let env: ValidationSim;
  let account: ValidationSim['accounts'][number];
  let bai2: string;
  let camt: string;

  beforeAll(async () => {
    t = await createTestDb();
    env = await startValidationSim(t.db, { today: TODAY, historyDays: 40, accounts: 2, txPerDay: 12 });
    account = env.accounts[0]!;
    const window = { accountIds: [account.jpmAccountId], from: FILE_FROM, to: FILE_TO, clock: env.sim.clock() };
    bai2 = renderBai2(env.sim.ledger, window);
    camt = renderCamt053(env.sim.ledger, window);
  });
  afterAll(async () => {
    await env.stop();
    await t.drop();
  });

  const stats = async () => {
    await sql`select pg_stat_clear_snapshot()`.execute(t.db);
    return (
      await sql<{ relname: string; w: string }>`
      select relname, (n_tup_ins + n_tup_upd + n_tup_del)::text as w from pg_stat_user_tables
      where relname = any(${DATA_TABLES}::text[]) order by relname`.execute(t.db)
    ).rows;
  };

  /** Imports through a pool of its own that is closed afterwards, so its backends' statistics are flushed. */
  async function importAlone(text: string) {
    const db = createDb({ url: t.url, poolMax: 2 });
    try {
      return await importStatementFile(db, { accountId: account.id, text, trigger: 'manual', now: env.now });
    } finally {
      await db.destroy();
      await new Promise((r) => setTimeout(r, 300));
    }
  }

  it('BAI2, then camt.053 of the same days, then the API over an overlapping range: each item once, every day proved', async () => {
    // Its own pool, closed at the end, so the statistics of these writes are flushed before the next test reads them.
    const db = createDb({ url: t.url, poolMax: 2 });
    try {
      await importsThenApi(db);
    } finally {
      await db.destroy();
      await new Promise((r) => setTimeout(r, 300));
    }
  });

  async function importsThenApi(db: ReturnType<typeof createDb>): Promise<void> {
    const first = await importStatementFile(db, { accountId: account.id, text: bai2, trigger: 'manual', now: env.now });
    expect(first.format).toBe('bai2');
    expect(first.status).toBe('succeeded');
    expect(first.counts.rejected).toBe(0);
    expect(first.counts.inserted).toBeGreaterThan(50);
    expect(first.days).toEqual(eachDay(FILE_FROM, FILE_TO).filter((d) => env.sim.ledger.calendar.isBusinessDay(d)));

    // The same items in the other format: nothing new, nothing changed.
    const second = await importStatementFile(db, {
      accountId: account.id,
      text: camt,
      trigger: 'manual',
      now: env.now,
    });
    expect(second.format).toBe('camt053');
    expect(second.counts).toMatchObject({ inserted: 0, updated: 0, unchanged: first.counts.inserted, rejected: 0 });

    await syncAccountWindow(
      { ...env.syncDeps, db },
      {
        runId: null,
        accountId: account.id,
        mode: 'range',
        from: API_FROM,
        to: API_TO,
        kinds: ['transactions', 'balances'],
      },
    );
    const days = eachDay(FILE_FROM, API_TO).filter((d) => env.sim.ledger.calendar.isBusinessDay(d));
    await onPostedDays(db, account.id, days, env.now());

    // Held against the bank's own view of each day: the same multiset of (direction, amount), nothing more.
    const rows = await t.db
      .selectFrom('transactions')
      .select(['booking_date', 'direction', 'amount_minor', 'source', 'status'])
      .where('account_id', '=', account.id)
      .where('status', '=', 'posted')
      .execute();
    for (const day of days) {
      const bank = accountDayView(env.sim.ledger, env.sim.clock(), account.jpmAccountId, day);
      expect(bank.state).toBe('closed');
      const ours = rows.filter((r) => r.booking_date === day);
      expect(ours.map((r) => `${r.direction}:${r.amount_minor}`).sort(), day).toEqual(
        bank.records.map((r) => `${r.direction === 'CREDIT' ? 'credit' : 'debit'}:${r.amountMinor}`).sort(),
      );
    }
    const proofs = await t.db
      .selectFrom('account_days')
      .select(['day', 'state', 'reason'])
      .where('account_id', '=', account.id)
      .execute();
    expect(proofs.filter((p) => p.state !== 'proved')).toEqual([]);
    expect(proofs).toHaveLength(days.length);
  }

  it('records which channel reported each row, and the cross-channel match as a decision with its evidence', async () => {
    const bySource = await sql<{ source: string; n: string }>`
      select source, count(*)::text as n from transactions where account_id = ${account.id} group by source order by source`.execute(
      t.db,
    );
    expect(bySource.rows.map((r) => r.source)).toEqual(['bai2', 'jpm_api']);
    // Days only in the file stay the file's rows; the overlap became the API's rows, one decision each.
    const fileOnly = await sql<{ n: string }>`
      select count(*)::text as n from transactions where account_id = ${account.id} and booking_date < ${API_FROM} and source <> 'bai2'`.execute(
      t.db,
    );
    expect(fileOnly.rows[0]!.n).toBe('0');
    const overlap = await sql<{ n: string; d: string; v: string }>`
      select count(*)::text as n,
        count(*) filter (where exists (select 1 from transaction_decisions d where d.transaction_id = t.id
          and d.rule = 'same_fingerprint_across_channels' and d.source = 'jpm_api' and d.evidence->>'previousSource' = 'bai2'))::text as d,
        count(*) filter (where exists (select 1 from transaction_versions v where v.transaction_id = t.id and v.source = 'jpm_api'
          and v.previous->>'source' = 'bai2'))::text as v
      from transactions t where account_id = ${account.id} and booking_date between ${API_FROM} and ${FILE_TO}`.execute(
      t.db,
    );
    expect(Number(overlap.rows[0]!.n)).toBeGreaterThan(10);
    expect(overlap.rows[0]!.d).toBe(overlap.rows[0]!.n);
    expect(overlap.rows[0]!.v).toBe(overlap.rows[0]!.n);
    // Identical items (the simulator's three identical fees) are there, from both channels, each its own row.
    const identical = await sql<{ sources: string[]; n: string }>`
      select array_agg(distinct source order by source) as sources, count(*)::text as n from transactions where account_id = ${account.id}
      group by booking_date, split_part(fingerprint_key, ':', 2) having count(*) > 1`.execute(t.db);
    expect(identical.rows.length).toBeGreaterThan(1);
    expect(new Set(identical.rows.flatMap((r) => r.sources))).toEqual(new Set(['bai2', 'jpm_api']));
    const runs = await t.db
      .selectFrom('sync_runs')
      .select(['source', 'mode', 'status'])
      .where('account_id', '=', account.id)
      .where('source', '<>', 'jpm_api')
      .execute();
    expect(runs.map((r) => `${r.source}:${r.mode}:${r.status}`).sort()).toEqual([
      'bai2:range:succeeded',
      'camt053:range:succeeded',
    ]);
  });

  it('a file imported again, after the API took over its overlap, writes no data row', async () => {
    const before = await stats();
    const again = await importAlone(bai2);
    const camtAgain = await importAlone(camt);
    expect(again.counts).toMatchObject({ inserted: 0, updated: 0, rejected: 0, balances: 0 });
    expect(camtAgain.counts).toMatchObject({ inserted: 0, updated: 0, rejected: 0, balances: 0 });
    expect(await stats()).toEqual(before);
  });

  it('a tampered control total, or an amount changed under its totals, is refused with the line and writes nothing', async () => {
    const before = await stats();
    const lines = bai2.split('\r\n');
    const trailer = lines.findIndex((l) => l.startsWith('49,'));
    const total = /^49,(-?\d+),/.exec(lines[trailer]!)![1]!;
    const tampered = [...lines];
    tampered[trailer] = lines[trailer]!.replace(`49,${total},`, `49,${BigInt(total) + 1n},`);
    await expect(importAlone(tampered.join('\r\n'))).rejects.toMatchObject({
      code: 'statement_control_total',
      message: expect.stringContaining(`line ${trailer + 1}:`) as unknown,
    });
    const detail = lines.findIndex((l) => l.startsWith('16,'));
    const altered = [...lines];
    altered[detail] = lines[detail]!.replace(
      /^16,(\d{3}),(\d+),/,
      (_m, code: string, amount: string) => `16,${code},${BigInt(amount) + 100n},`,
    );
    await expect(importAlone(altered.join('\r\n'))).rejects.toMatchObject({
      code: 'statement_control_total',
      message: expect.stringContaining(`line ${trailer + 1}:`) as unknown,
    });
    expect(await stats()).toEqual(before);
  });

  it("a camt.052 intraday report, then the day's camt.053: pending rows, then superseded by the posted ones (or removed)", async () => {
    const other = env.accounts[1]!;
    const report = renderCamt052(env.sim.ledger, [other.jpmAccountId], { today: TODAY, progress: 1 });
    const intraday = await importStatementFile(t.db, {
      accountId: other.id,
      text: report,
      trigger: 'manual',
      now: env.now,
    });
    expect(intraday.format).toBe('camt052');
    expect(intraday.counts.inserted).toBeGreaterThan(3);
    expect(intraday.days).toEqual([]);
    const run = await t.db
      .selectFrom('sync_runs')
      .select(['mode', 'source', 'status'])
      .where('id', '=', intraday.runId)
      .executeTakeFirstOrThrow();
    expect(run).toEqual({ mode: 'intraday', source: 'camt052', status: 'succeeded' });
    const pending = await t.db
      .selectFrom('transactions')
      .select(['id', 'status', 'post_code', 'source'])
      .where('account_id', '=', other.id)
      .execute();
    expect(pending.every((r) => r.status === 'pending' && r.post_code === 'I' && r.source === 'camt052')).toBe(true);
    const balance = await t.db
      .selectFrom('balances')
      .select(['kind', 'source'])
      .where('account_id', '=', other.id)
      .execute();
    expect(balance).toEqual([{ kind: 'current_day', source: 'camt052' }]);

    const nextDay = env.sim.ledger.calendar.nextBusinessDay(TODAY);
    const statement = renderCamt053(env.sim.ledger, {
      accountIds: [other.jpmAccountId],
      from: TODAY,
      to: TODAY,
      clock: { today: nextDay, progress: 0 },
    });
    const posted = await importStatementFile(t.db, {
      accountId: other.id,
      text: statement,
      trigger: 'manual',
      now: env.now,
    });
    expect(posted.days).toEqual([TODAY]);
    expect(posted.counts.superseded + posted.counts.removed).toBe(pending.length);
    expect(posted.counts.superseded).toBeGreaterThan(0);
    const left = await t.db
      .selectFrom('transactions')
      .select(['status'])
      .where('account_id', '=', other.id)
      .where('status', '=', 'pending')
      .execute();
    expect(left).toEqual([]);
    const decisions = await t.db
      .selectFrom('transaction_decisions')
      .select(['decision', 'source'])
      .where('account_id', '=', other.id)
      .where('decision', '=', 'superseded')
      .execute();
    expect(decisions.length).toBe(posted.counts.superseded);
    expect(decisions.every((d) => d.source === 'camt053')).toBe(true);
  });

  it('a file without a section for the account is refused, naming what it holds', async () => {
    const other = env.accounts[1]!;
    const text = renderBai2(env.sim.ledger, {
      accountIds: [other.jpmAccountId],
      from: FILE_FROM,
      to: FILE_TO,
      clock: env.sim.clock(),
    });
    await expect(importStatementFile(t.db, { accountId: account.id, text, trigger: 'manual' })).rejects.toMatchObject({
      code: 'statement_account_missing',
      httpStatus: 400,
      message: expect.stringContaining(`****${other.jpmAccountId.slice(-4)}`) as unknown,
    });
  });
});

/**
 * A file of more items than ingestion stores in one page (1000), whose day holds three identical
 * $25.00 fees with two on the first page and one on the second: the third fee is a fee of its own,
 * not the first one seen again.
 */
describe('a statement file larger than one page of ingestion', () => {
  const DAY: IsoDate = '2026-11-02';
  const DISTINCT = 998;
  const FEE = { bankReference: '6680134283FA', customerReference: 'INV-182442', amountMinor: 2500n };
  let t: TestDb;

  beforeAll(async () => {
    t = await createTestDb();
  });
  afterAll(async () => {
    await t.drop();
  });

  /** One day, one account: 998 distinct checks paid, then the three identical fees (records 999 to 1001). */
  function straddlingFile(jpmAccountId: string): string {
    const items = [
      ...Array.from({ length: DISTINCT }, (_, i) => ({
        type: '475',
        amount: 10_000n + BigInt(i),
        bankRef: `CHK${i}`,
        custRef: `${1000 + i}`,
        text: 'CHECK PAID',
      })),
      ...Array.from({ length: 3 }, () => ({
        type: '698',
        amount: FEE.amountMinor,
        bankRef: FEE.bankReference,
        custRef: FEE.customerReference,
        text: 'SERVICE FEE',
      })),
    ];
    return bai2File(jpmAccountId, items, 'STRADDLE');
  }

  const feeRows = (accountId: string) =>
    t.db
      .selectFrom('transactions')
      .select(['fingerprint_key', 'source', 'jpm_transaction_id'])
      .where('account_id', '=', accountId)
      .where('booking_date', '=', DAY)
      .where('bai_type_code', '=', '698')
      .orderBy('fingerprint_key')
      .execute();
  const rowCount = async (accountId: string) =>
    Number(
      (
        await t.db
          .selectFrom('transactions')
          .select((eb) => eb.fn.countAll<string>().as('n'))
          .where('account_id', '=', accountId)
          .executeTakeFirstOrThrow()
      ).n,
    );

  it('identical items of a day split across two pages stay one row each; the same file again stores nothing', async () => {
    const account = await createAccount(t.db, await createTenancy(t.db));
    const text = straddlingFile(account.jpmAccountId);
    const first = await importStatementFile(t.db, { accountId: account.id, text, trigger: 'manual' });
    expect(first.status).toBe('succeeded');
    expect(first.counts).toMatchObject({
      fetched: DISTINCT + 3,
      inserted: DISTINCT + 3,
      updated: 0,
      unchanged: 0,
      rejected: 0,
    });
    expect(await rowCount(account.id)).toBe(DISTINCT + 3);
    const fees = await feeRows(account.id);
    expect(fees.map((f) => f.fingerprint_key.split(':')[2])).toEqual(['1', '2', '3']);
    expect(new Set(fees.map((f) => f.fingerprint_key.split(':')[1])).size).toBe(1);

    const again = await importStatementFile(t.db, { accountId: account.id, text, trigger: 'manual' });
    expect(again.counts).toMatchObject({ inserted: 0, updated: 0, unchanged: DISTINCT + 3, rejected: 0 });
    expect(await rowCount(account.id)).toBe(DISTINCT + 3);
  });

  it('the same file after the API stored the three fees: the fees are not stored again', async () => {
    const account = await createAccount(t.db, await createTenancy(t.db));
    await ingestWire(
      t.db,
      account,
      Array.from({ length: 3 }, (_, i) =>
        wireTransaction({
          transactionId: `FEE-${i + 1}`,
          jpmAccountId: account.jpmAccountId,
          asOfDate: DAY,
          valueDate: null,
          direction: 'DEBIT',
          amount: '25.00',
          baiTypeCode: '698',
          bankReference: FEE.bankReference,
          customerReference: FEE.customerReference,
          shortDescription: 'SERVICE FEE',
        }),
      ),
    );
    const result = await importStatementFile(t.db, {
      accountId: account.id,
      text: straddlingFile(account.jpmAccountId),
      trigger: 'manual',
    });
    expect(result.counts).toMatchObject({ inserted: DISTINCT, updated: 0, unchanged: 3, rejected: 0 });
    expect(await rowCount(account.id)).toBe(DISTINCT + 3);
    expect((await feeRows(account.id)).map((f) => `${f.source}:${f.jpm_transaction_id}`).sort()).toEqual([
      'jpm_api:FEE-1',
      'jpm_api:FEE-2',
      'jpm_api:FEE-3',
    ]);
  });
});

/**
 * A look-alike group a page of ingestion cuts: the file's fee with customer reference A is record 1000 and the
 * same fee with reference B record 1001, the API's two fees carry no reference. Once the API has taken both rows
 * over, the file imported again finds them by alias, whatever its pages hold of the group.
 */
describe('a field one channel leaves out, the look-alike group across a page of ingestion', () => {
  const DAY: IsoDate = '2026-11-02';
  const CHECKS = 999;
  let t: TestDb;

  beforeAll(async () => {
    t = await createTestDb();
  });
  afterAll(async () => {
    await t.drop();
  });

  function file(jpmAccountId: string): string {
    const items = [
      ...Array.from({ length: CHECKS }, (_, i) => ({
        type: '475',
        amount: 10_000n + BigInt(i),
        bankRef: `CHK${i}`,
        custRef: `${1000 + i}`,
        text: 'CHECK PAID',
      })),
      ...['FEE-A', 'FEE-B'].map((custRef) => ({
        type: '698',
        amount: 2500n,
        bankRef: '6680134283FA',
        custRef,
        text: 'SERVICE FEE',
      })),
    ];
    const opening = 100_000_000n;
    const closing = items.reduce((b, i) => b - i.amount, opening);
    const account = [
      `03,${jpmAccountId},USD,010,${opening},,,015,${closing},,/`,
      ...items.map((i) => `16,${i.type},${i.amount},0,${i.bankRef},${i.custRef},${i.text}`),
    ];
    const accountTotal = items.reduce((sum, i) => sum + i.amount, opening + closing);
    const group = ['02,CUSTOMER,021000021,1,261102,,USD,2/', ...account, `49,${accountTotal},${account.length + 1}/`];
    const lines = [
      '01,021000021,CUSTOMER,261103,0200,ACROSS,80,,2/',
      ...group,
      `98,${accountTotal},1,${group.length + 1}/`,
    ];
    lines.push(`99,${accountTotal},1,${lines.length + 1}/`);
    return `${lines.join('\r\n')}\r\n`;
  }

  const feeRows = (accountId: string) =>
    t.db
      .selectFrom('transactions')
      .select(['id', 'source', 'jpm_transaction_id', 'customer_reference', 'data_quality'])
      .where('account_id', '=', accountId)
      .where('bai_type_code', '=', '698')
      .orderBy('jpm_transaction_id')
      .execute();

  it("file, then the API without the references, then the file again: the fees stay two rows, neither stating one of the file's references", async () => {
    const account = await createAccount(t.db, await createTenancy(t.db));
    const text = file(account.jpmAccountId);
    const first = await importStatementFile(t.db, { accountId: account.id, text, trigger: 'manual' });
    expect(first.counts).toMatchObject({ inserted: CHECKS + 2, rejected: 0 });
    const api = await ingestWire(
      t.db,
      account,
      ['FEE-1', 'FEE-2'].map((transactionId) =>
        wireTransaction({
          transactionId,
          jpmAccountId: account.jpmAccountId,
          asOfDate: DAY,
          valueDate: null,
          direction: 'DEBIT',
          amount: '25.00',
          baiTypeCode: '698',
          bankReference: '6680134283FA',
          customerReference: '',
          shortDescription: 'SERVICE FEE',
        }),
      ),
    );
    expect(api).toMatchObject({ inserted: 0, updated: 2 });
    const fees = await feeRows(account.id);
    // The API's record took each row over; the reference it left out is never kept from the file (which API id is
    // FEE-A cannot be known), only noted; the file's references stay in the rows' versions.
    expect(fees.map((f) => `${f.source}:${f.jpm_transaction_id}:${f.customer_reference}`)).toEqual([
      'jpm_api:FEE-1:',
      'jpm_api:FEE-2:',
    ]);
    expect(fees.map((f) => f.data_quality)).toEqual(
      fees.map(() => [{ field: 'customerReference', problem: 'left out by jpm_api; not kept from bai2' }]),
    );
    const previous = await t.db
      .selectFrom('transaction_versions')
      .select('previous')
      .where(
        'transaction_id',
        'in',
        fees.map((f) => f.id),
      )
      .execute();
    expect(previous.map((v) => (v.previous as { customer_reference: string }).customer_reference).sort()).toEqual([
      'FEE-A',
      'FEE-B',
    ]);

    const again = await importStatementFile(t.db, { accountId: account.id, text, trigger: 'manual' });
    expect(again.counts).toMatchObject({ inserted: 0, updated: 0, unchanged: CHECKS + 2, rejected: 0 });
    expect(await feeRows(account.id)).toEqual(fees);
    // The API again: nothing changes either.
    expect(
      await ingestWire(
        t.db,
        account,
        ['FEE-1', 'FEE-2'].map((transactionId) =>
          wireTransaction({
            transactionId,
            jpmAccountId: account.jpmAccountId,
            asOfDate: DAY,
            valueDate: null,
            direction: 'DEBIT',
            amount: '25.00',
            baiTypeCode: '698',
            bankReference: '6680134283FA',
            customerReference: '',
            shortDescription: 'SERVICE FEE',
          }),
        ),
      ),
    ).toMatchObject({ inserted: 0, updated: 0, unchanged: 2 });
  });

  it('an intraday item is never matched loosely: a camt.052 line of another $500 credit than the pending one is stored', async () => {
    const account = await createAccount(t.db, await createTenancy(t.db));
    const today: IsoDate = '2026-11-30';
    // P1 from the API: pending, the bank's id, no references.
    await ingestWire(t.db, account, [
      wireTransaction({
        transactionId: 'P1',
        jpmAccountId: account.jpmAccountId,
        asOfDate: today,
        valueDate: null,
        direction: 'CREDIT',
        amount: '500.00',
        postCode: 'I',
        baiTypeCode: '195',
        bankReference: '',
        customerReference: '',
        shortDescription: 'INCOMING WIRE',
      }),
    ]);
    // P2 in a camt.052: another $500 credit, EndToEndId INV-2 and no AcctSvcrRef.
    const bal = (code: string, amount: string) =>
      `<Bal><Tp><CdOrPrtry><Cd>${code}</Cd></CdOrPrtry></Tp><Amt Ccy="USD">${amount}</Amt><CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>${today}</Dt></Dt></Bal>`;
    const report = [
      '<?xml version="1.0" encoding="UTF-8"?>',
      '<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.052.001.08">',
      `<BkToCstmrAcctRpt><GrpHdr><MsgId>INTRADAY-P2</MsgId><CreDtTm>${today}T12:00:00</CreDtTm></GrpHdr>`,
      `<Rpt><Id>${account.jpmAccountId}-${today}</Id><Acct><Id><Othr><Id>${account.jpmAccountId}</Id></Othr></Id><Ccy>USD</Ccy></Acct>`,
      bal('OPBD', '1000.00'),
      bal('ITBD', '1500.00'),
      bal('ITAV', '1500.00'),
      `<Ntry><Amt Ccy="USD">500.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts><Cd>PDNG</Cd></Sts><BookgDt><Dt>${today}</Dt></BookgDt><ValDt><Dt>${today}</Dt></ValDt>` +
        '<BkTxCd><Prtry><Cd>195</Cd><Issr>BAI</Issr></Prtry></BkTxCd><NtryDtls><TxDtls><Refs><EndToEndId>INV-2</EndToEndId></Refs></TxDtls></NtryDtls>' +
        '<AddtlNtryInf>INCOMING WIRE</AddtlNtryInf></Ntry>',
      '</Rpt>',
      '</BkToCstmrAcctRpt></Document>',
      '',
    ].join('\n');
    const imported = await importStatementFile(t.db, { accountId: account.id, text: report, trigger: 'manual' });
    expect(imported.counts).toMatchObject({ inserted: 1, rejected: 0 });
    const rows = await t.db
      .selectFrom('transactions')
      .select(['source', 'jpm_transaction_id', 'customer_reference', 'status'])
      .where('account_id', '=', account.id)
      .orderBy('source')
      .execute();
    expect(rows).toEqual([
      { source: 'camt052', jpm_transaction_id: '', customer_reference: 'INV-2', status: 'pending' },
      { source: 'jpm_api', jpm_transaction_id: 'P1', customer_reference: '', status: 'pending' },
    ]);
  });
});

/**
 * The same items in a file and from the API, one side leaving out a field the other carries: the API
 * sending no customer reference where the file has one (or the file none where the API has one), a camt.053
 * without BAI codes (`BkTxCd/Prtry`). Each item is stored once, in either order and when both imports run at
 * once, with a `re_identified` decision (rule `missing_field_across_channels`) naming the matched facts and
 * the missing field; every day is proved and no duplicate is suspected. The bank's items are changed in the
 * simulator's ledger between rendering the file and answering the API, so the two channels differ exactly
 * in the field left out.
 */
describe('a field one channel leaves out: the item is matched across channels and stored once', () => {
  const FROM: IsoDate = '2026-11-09';
  const TO: IsoDate = '2026-11-13';
  const RULE = 'missing_field_across_channels';
  let t: TestDb;
  let env: ValidationSim;

  beforeAll(async () => {
    t = await createTestDb();
    env = await startValidationSim(t.db, { today: TODAY, historyDays: 40, accounts: 8, txPerDay: 12 });
  });
  afterAll(async () => {
    await env.stop();
    await t.drop();
  });

  type Account = ValidationSim['accounts'][number];
  const businessDays = (from: IsoDate, to: IsoDate) =>
    eachDay(from, to).filter((d) => env.sim.ledger.calendar.isBusinessDay(d));
  const dayItems = (account: Account, day: IsoDate) =>
    env.sim.ledger.day(env.sim.ledger.account(account.jpmAccountId)!, day)!.items;
  /** Ordinary items (no quirk) that carry a customer reference: two a day. */
  const referenced = (account: Account) =>
    businessDays(FROM, TO).flatMap((d) =>
      dayItems(account, d)
        .filter((i) => i.marks.length === 0 && i.customerRef !== '')
        .slice(0, 2),
    );
  const bai2Of = (account: Account, from = FROM, to = TO) =>
    renderBai2(env.sim.ledger, { accountIds: [account.jpmAccountId], from, to, clock: env.sim.clock() });
  const camtOf = (account: Account, from = FROM, to = TO) =>
    renderCamt053(env.sim.ledger, { accountIds: [account.jpmAccountId], from, to, clock: env.sim.clock() });
  const importFile = (account: Account, text: string) =>
    importStatementFile(t.db, { accountId: account.id, text, trigger: 'manual', now: env.now });

  /** Runs `fn` with the items' customer references blanked in the bank's ledger, then puts them back. */
  async function withoutCustomerReferences<T>(
    items: readonly { customerRef: string }[],
    fn: () => T | Promise<T>,
  ): Promise<T> {
    const kept = items.map((i) => i.customerRef);
    for (const i of items) {
      i.customerRef = '';
    }
    try {
      return await fn();
    } finally {
      items.forEach((i, k) => {
        i.customerRef = kept[k]!;
      });
    }
  }

  const decisions = (account: Account) =>
    t.db
      .selectFrom('transaction_decisions')
      .select(['transaction_id', 'decision', 'rule', 'source', 'evidence'])
      .where('account_id', '=', account.id)
      .where('rule', '=', RULE)
      .orderBy('id')
      .execute();

  /** Every posted item the bank reports for the days is held once; every day proved; no duplicate suspected. */
  async function heldOnceAndProved(account: Account, from = FROM, to = TO): Promise<void> {
    const days = businessDays(from, to);
    await onPostedDays(t.db, account.id, days, env.now());
    const rows = await t.db
      .selectFrom('transactions')
      .select(['booking_date', 'direction', 'amount_minor'])
      .where('account_id', '=', account.id)
      .where('status', '=', 'posted')
      .execute();
    for (const day of days) {
      const bank = accountDayView(env.sim.ledger, env.sim.clock(), account.jpmAccountId, day);
      expect(
        rows
          .filter((r) => r.booking_date === day)
          .map((r) => `${r.direction}:${r.amount_minor}`)
          .sort(),
        day,
      ).toEqual(bank.records.map((r) => `${r.direction === 'CREDIT' ? 'credit' : 'debit'}:${r.amountMinor}`).sort());
    }
    const proofs = await t.db
      .selectFrom('account_days')
      .select(['day', 'state', 'reason'])
      .where('account_id', '=', account.id)
      .where('day', '>=', from)
      .where('day', '<=', to)
      .execute();
    expect(proofs.filter((p) => p.state !== 'proved')).toEqual([]);
    expect(proofs).toHaveLength(days.length);
    const suspicions = await t.db
      .selectFrom('duplicate_suspicions')
      .select(['booking_date', 'live_count', 'bank_count'])
      .where('account_id', '=', account.id)
      .where('active', '=', true)
      .execute();
    expect(suspicions).toEqual([]);
  }

  it("the API leaves out customer references the BAI2 file carries, file first: the API record takes the file's row over", async () => {
    const account = env.accounts[0]!;
    const items = referenced(account);
    expect(items.length).toBeGreaterThanOrEqual(8);
    const file = bai2Of(account);
    await importFile(account, file);
    await withoutCustomerReferences(items, () => env.syncRange(account.id, FROM, TO));
    await withoutCustomerReferences(items, () => heldOnceAndProved(account));

    const made = await decisions(account);
    expect(made).toHaveLength(items.length);
    expect(made.map((d) => (d.evidence as { customerReference: string }).customerReference)).toEqual(
      made.map(() => ''),
    );
    for (const d of made) {
      expect(d).toMatchObject({ decision: 're_identified', source: 'jpm_api' });
      expect(d.evidence).toMatchObject({
        previousSource: 'bai2',
        source: 'jpm_api',
        previousJpmTransactionId: '',
        rowTakenOver: true,
        group: { records: 1, rows: 1 },
      });
      const { missing, matched, newJpmTransactionId } = d.evidence as {
        missing: unknown[];
        matched: string[];
        newJpmTransactionId: string;
      };
      expect(missing).toEqual([
        { field: 'customerReference', missingIn: 'jpm_api', value: expect.any(String) as unknown },
      ]);
      expect(matched).toEqual(['bookingDate', 'direction', 'amountMinor', 'currency', 'baiTypeCode', 'bankReference']);
      expect(newJpmTransactionId).not.toBe('');
    }
    expect(new Set(made.map((d) => (d.evidence as { missing: { value: string }[] }).missing[0]!.value))).toEqual(
      new Set(items.map((i) => i.customerRef)),
    );
    // The file's version of each row is kept.
    const versions = await t.db
      .selectFrom('transaction_versions')
      .select(['transaction_id', 'source', 'reason'])
      .where(
        'transaction_id',
        'in',
        made.map((d) => d.transaction_id),
      )
      .execute();
    expect(versions.map((v) => `${v.source}:${v.reason}`)).toEqual(made.map(() => 'jpm_api:re_identified'));
    // Each one record against one row, yet the reference the API left out is never kept from the file: the live row
    // states the API's empty value and the note, the file's reference is in the row's previous version.
    const live = await t.db
      .selectFrom('transactions')
      .select(['customer_reference', 'data_quality'])
      .where(
        'id',
        'in',
        made.map((d) => d.transaction_id),
      )
      .execute();
    expect(live).toEqual(
      made.map(() => ({
        customer_reference: '',
        data_quality: [{ field: 'customerReference', problem: 'left out by jpm_api; not kept from bai2' }],
      })),
    );
    const previous = await t.db
      .selectFrom('transaction_versions')
      .select('previous')
      .where(
        'transaction_id',
        'in',
        made.map((d) => d.transaction_id),
      )
      .execute();
    expect(new Set(previous.map((v) => (v.previous as { customer_reference: string }).customer_reference))).toEqual(
      new Set(items.map((i) => i.customerRef)),
    );

    // The file again: nothing written, no second decision.
    const again = await withoutCustomerReferences(items, () => importFile(account, file));
    expect(again.counts).toMatchObject({ inserted: 0, updated: 0, rejected: 0 });
    expect(await decisions(account)).toHaveLength(items.length);
    await withoutCustomerReferences(items, () => heldOnceAndProved(account));
  });

  it('API first, then a BAI2 file without the customer references and a camt.053 without BAI codes: the files confirm the rows, once', async () => {
    const account = env.accounts[1]!;
    const items = referenced(account);
    await env.syncRange(account.id, FROM, TO);
    const rowsBefore = await t.db
      .selectFrom('transactions')
      .select(['id', 'content_hash', 'version'])
      .where('account_id', '=', account.id)
      .orderBy('id')
      .execute();
    const bai2 = await withoutCustomerReferences(items, () => bai2Of(account));
    const camt = camtOf(account).replace(/<BkTxCd>.*?<\/BkTxCd>/g, '');
    const first = await importFile(account, bai2);
    expect(first.counts).toMatchObject({ inserted: 0, updated: 0, rejected: 0 });
    const second = await importFile(account, camt);
    expect(second.counts).toMatchObject({ inserted: 0, updated: 0, rejected: 0 });
    expect(
      await t.db
        .selectFrom('transactions')
        .select(['id', 'content_hash', 'version'])
        .where('account_id', '=', account.id)
        .orderBy('id')
        .execute(),
    ).toEqual(rowsBefore);
    await heldOnceAndProved(account);

    const made = await decisions(account);
    const bySource = Map.groupBy(made, (d) => d.source);
    expect(bySource.get('bai2')).toHaveLength(items.length);
    for (const d of bySource.get('bai2') ?? []) {
      expect(d.evidence).toMatchObject({
        previousSource: 'jpm_api',
        source: 'bai2',
        rowTakenOver: false,
        customerReference: '',
      });
      expect((d.evidence as { missing: unknown }).missing).toEqual([
        { field: 'customerReference', missingIn: 'bai2', value: expect.any(String) as unknown },
      ]);
    }
    // Every camt entry lacks its BAI code: each posted item of the days is confirmed once by the camt file.
    const posted = rowsBefore.length;
    expect(bySource.get('camt053')).toHaveLength(posted);
    expect(
      (bySource.get('camt053') ?? []).every((d) =>
        (d.evidence as { missing: { field: string; missingIn: string }[] }).missing.some(
          (m) => m.field === 'baiTypeCode' && m.missingIn === 'camt053',
        ),
      ),
    ).toBe(true);

    // Both files again: no data row, no decision, no day's evidence rewritten.
    const before = await decisions(account);
    expect((await importFile(account, bai2)).counts).toMatchObject({ inserted: 0, updated: 0 });
    expect((await importFile(account, camt)).counts).toMatchObject({ inserted: 0, updated: 0 });
    expect(await decisions(account)).toEqual(before);
    await heldOnceAndProved(account);
  });

  it("a camt.053 without BAI codes first, then the API: every item once, the API's BAI codes kept", async () => {
    const account = env.accounts[2]!;
    const camt = camtOf(account).replace(/<BkTxCd>.*?<\/BkTxCd>/g, '');
    const imported = await importFile(account, camt);
    expect(imported.counts.inserted).toBeGreaterThan(30);
    await env.syncRange(account.id, FROM, TO);
    await heldOnceAndProved(account);
    const rows = await t.db
      .selectFrom('transactions')
      .select(['source', 'bai_type_code'])
      .where('account_id', '=', account.id)
      .execute();
    expect(rows.filter((r) => r.source !== 'jpm_api' || r.bai_type_code === null)).toEqual([]);
    expect(await decisions(account)).toHaveLength(imported.counts.inserted);
  });

  /** The first business day (from the start of the window back) holding the simulator's three identical fees. */
  function feeDay(account: Account): { day: IsoDate; fees: ReturnType<typeof dayItems> } {
    for (const day of businessDays('2026-10-26', TO)) {
      const fees = dayItems(account, day).filter((i) => i.marks.includes('identical'));
      if (fees.length === 3) {
        return { day, fees };
      }
    }
    throw new Error('no day with identical fees');
  }

  it("three identical fees, the file's with customer references A, B, C and the API's without: matched one to one, in both orders", async () => {
    for (const [account, fileFirst] of [
      [env.accounts[3]!, true],
      [env.accounts[4]!, false],
    ] as const) {
      const { day, fees } = feeDay(account);
      const kept = fees.map((f) => f.customerRef);
      fees.forEach((f, k) => {
        f.customerRef = `FEE-${'ABC'[k]!}`;
      });
      const file = bai2Of(account, day, day);
      await withoutCustomerReferences(fees, async () => {
        if (fileFirst) {
          await importFile(account, file);
          await env.syncRange(account.id, day, day);
        } else {
          await env.syncRange(account.id, day, day);
          expect((await importFile(account, file)).counts).toMatchObject({ inserted: 0, updated: 0 });
        }
        await heldOnceAndProved(account, day, day);
      });
      fees.forEach((f, k) => {
        f.customerRef = kept[k]!;
      });
      const made = (await decisions(account)).filter((d) =>
        (d.evidence as { missing: { field: string }[] }).missing.some((m) => m.field === 'customerReference'),
      );
      expect(
        made.map((d) => (d.evidence as { missing: { value: string }[] }).missing[0]!.value).sort(),
        `fileFirst ${fileFirst}`,
      ).toEqual(['FEE-A', 'FEE-B', 'FEE-C']);
      expect(new Set(made.map((d) => d.transaction_id)).size).toBe(3);
      expect(made.map((d) => (d.evidence as { group: unknown }).group)).toEqual(
        made.map(() => ({ records: 3, rows: 3 })),
      );
    }
  });

  it("the API's three fees without ids nor references confirm the file's three identical ones: the day's tally counts them as the rows they landed on, no duplicate suspected", async () => {
    const account = env.accounts[6]!;
    const { day, fees } = feeDay(account);
    const kept = fees.map((f) => f.customerRef);
    for (const f of fees) {
      f.customerRef = 'FEE-X';
    }
    await importFile(account, bai2Of(account, day, day));
    // The bank's API sends these fees without their ids.
    const inner = await env.syncDeps.clientFor('');
    const idless: BankClient = {
      async *transactionPages(q) {
        for await (const page of inner.transactionPages(q)) {
          yield {
            ...page,
            records: page.records.map((r) =>
              r.asOfDate === day &&
              (r as { bankReferenceSearchable?: { standardValue?: string } }).bankReferenceSearchable?.standardValue ===
                fees[0]!.bankRef
                ? { ...r, transactionId: '' }
                : r,
            ),
          };
        }
      },
      getBalances: (q) => inner.getBalances(q),
    };
    await withoutCustomerReferences(fees, async () => {
      const counts = await syncAccountWindow(
        { ...env.syncDeps, clientFor: () => Promise.resolve(idless) },
        { runId: null, accountId: account.id, mode: 'range', from: day, to: day, kinds: ['transactions', 'balances'] },
      );
      expect(counts).toMatchObject({ inserted: 0 });
      await heldOnceAndProved(account, day, day);
    });
    fees.forEach((f, k) => {
      f.customerRef = kept[k]!;
    });
    const rows = await t.db
      .selectFrom('transactions')
      .select(['source', 'customer_reference'])
      .where('account_id', '=', account.id)
      .where('booking_date', '=', day)
      .where('customer_reference', 'like', 'FEE-%')
      .orderBy('customer_reference')
      .execute();
    expect(rows).toEqual(fees.map(() => ({ source: 'bai2', customer_reference: 'FEE-X' })));
  });

  it("a camt.053 without BAI codes confirms the BAI2 file's rows, the API takes them over, the camt.053 again: no data row, no decision", async () => {
    const account = env.accounts[7]!;
    await importFile(account, bai2Of(account));
    const camt = camtOf(account).replace(/<BkTxCd>.*?<\/BkTxCd>/g, '');
    expect((await importFile(account, camt)).counts).toMatchObject({ inserted: 0, updated: 0 });
    await env.syncRange(account.id, FROM, TO);
    const before = await decisions(account);
    expect(before.length).toBeGreaterThan(30);
    // The rows are the API's now, the pair of channels another: the camt.053's keys are the rows' aliases.
    expect((await importFile(account, camt)).counts).toMatchObject({ inserted: 0, updated: 0 });
    expect(await decisions(account)).toEqual(before);
    await heldOnceAndProved(account);
  });

  it('the file import and the API sync of the same days at once: each item stored once', async () => {
    const account = env.accounts[5]!;
    const items = referenced(account);
    const file = bai2Of(account);
    // Another connection holds the account's write lock until both the import and the sync wait for it, so
    // their pages of the same days meet for certain (whichever gets the lock first).
    const holder = createDb({ url: t.url, poolMax: 1 });
    try {
      await withoutCustomerReferences(items, async () => {
        let both: Promise<unknown> = Promise.resolve();
        await holder.transaction().execute(async (trx) => {
          await lockAccountForWrite(trx, account.id);
          both = Promise.all([importFile(account, file), env.syncRange(account.id, FROM, TO)]);
          const failed = both.then(
            () => undefined,
            (err: unknown) => err,
          );
          for (let waited = 0; ; waited += 10) {
            const { n } = (
              await sql<{ n: number }>`
              select count(*)::int as n from pg_locks l join pg_database d on d.oid = l.database
              where d.datname = current_database() and l.locktype = 'advisory' and not l.granted`.execute(trx)
            ).rows[0]!;
            if (n === 2) {
              break;
            }
            const err = await Promise.race([failed, new Promise((r) => setTimeout(r, 10, 'waiting'))]);
            if (err !== 'waiting' || waited > 30_000) {
              throw new Error(`the import and the sync never both waited for the account's lock (${n} waiting)`, {
                cause: err,
              });
            }
          }
        });
        await both;
        await heldOnceAndProved(account);
      });
    } finally {
      await holder.destroy();
    }
    expect(await decisions(account)).toHaveLength(items.length);
  });
});
