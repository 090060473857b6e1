import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importStatementFile } from '../../src/main/statement-import.ts';
import { OccurrenceCounter } from '../../src/normalization/identity.ts';
import { normalizeTransactions } from '../../src/normalization/transactions.ts';
import { ingestTransactionPage, type AccountRef, type WalkClaims } from '../../src/sync/ingest.ts';
import { createTestDb, type TestDb } from '../helpers/db.ts';
import { createAccount, createTenancy } from '../factories/tenancy.ts';
import { ingestWire, wireTransaction, type WireOptions } from '../factories/transactions.ts';
import { bai2File, type Bai2Item } from '../factories/bai2.ts';

/**
 * A $25.00 fee a BAI2 file reports with a customer reference and the API without it (README, "Statement files",
 * Limits): the API's record takes the file's row over keeping the file's reference, and what happens to that row
 * afterwards: the API's next change of the item, a re-issued id, a walk of two pages, a takeover through an alias.
 */
const DAY = '2026-11-02';

const fee = (custRef: string): Bai2Item => ({
  type: '698',
  amount: 2500n,
  bankRef: '6680134283FA',
  custRef,
  text: 'SERVICE FEE',
});

/** A camt.053 statement of the same account and day with the fee (customer reference as EndToEndId). */
function camt053(jpmAccountId: string, custRef: string): string {
  const bal = (code: string, amount: string) =>
    `<Bal><Tp><CdOrPrtry><Cd>${code}</Cd></CdOrPrtry></Tp><Amt Ccy="USD">${amount}</Amt><CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>${DAY}</Dt></Dt></Bal>`;
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08">',
    '<BkToCstmrStmt><GrpHdr><MsgId>STMT-1</MsgId><CreDtTm>2026-11-03T02:00:00</CreDtTm></GrpHdr>',
    `<Stmt><Id>${jpmAccountId}-${DAY}</Id><Acct><Id><Othr><Id>${jpmAccountId}</Id></Othr></Id><Ccy>USD</Ccy></Acct>`,
    bal('OPBD', '1000000.00'),
    bal('CLBD', '999975.00'),
    `<Ntry><Amt Ccy="USD">25.00</Amt><CdtDbtInd>DBIT</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts><BookgDt><Dt>${DAY}</Dt></BookgDt><AcctSvcrRef>6680134283FA</AcctSvcrRef>` +
      `<BkTxCd><Prtry><Cd>698</Cd><Issr>BAI</Issr></Prtry></BkTxCd><NtryDtls><TxDtls><Refs><EndToEndId>${custRef}</EndToEndId></Refs></TxDtls></NtryDtls>` +
      '<AddtlNtryInf>SERVICE FEE</AddtlNtryInf></Ntry>',
    '</Stmt>',
    '</BkToCstmrStmt></Document>',
    '',
  ].join('\n');
}

/** The API's record of the fee. */
function apiFee(jpmAccountId: string, o: Partial<WireOptions> = {}) {
  return wireTransaction({
    transactionId: 'FEE-1',
    jpmAccountId,
    asOfDate: DAY,
    valueDate: null,
    direction: 'DEBIT',
    amount: '25.00',
    baiTypeCode: '698',
    bankReference: '6680134283FA',
    customerReference: '',
    shortDescription: 'SERVICE FEE',
    ...o,
  });
}

/** The note of a takeover: a field the API left out is never kept from the file, whatever the look-alike group. */
const NOT_KEPT = [{ field: 'customerReference', problem: 'left out by jpm_api; not kept from bai2' }];

describe('a row the API took over from a file, a field the API leaves out never kept from it', () => {
  let t: TestDb;
  beforeAll(async () => {
    t = await createTestDb();
  });
  afterAll(async () => {
    await t.drop();
  });

  const fees = (accountId: string) =>
    t.db
      .selectFrom('transactions')
      .select([
        'id',
        'source',
        'jpm_transaction_id',
        'customer_reference',
        'description',
        'data_quality',
        'status',
        'amount_minor',
        'version',
      ])
      .where('account_id', '=', accountId)
      .where('bai_type_code', '=', '698')
      .orderBy('id')
      .execute();
  const events = async (accountId: string) =>
    (await t.db.selectFrom('change_events').select('id').where('account_id', '=', accountId).execute()).length;
  const decisions = (accountId: string) =>
    t.db
      .selectFrom('transaction_decisions')
      .select(['transaction_id', 'decision', 'rule', 'source', 'evidence'])
      .where('account_id', '=', accountId)
      .orderBy('id')
      .execute();

  /** A file with fee FEE-A, then the API's FEE-1 without the reference: one row, the API's, FEE-A not kept (in its versions). */
  async function takenOver(): Promise<AccountRef & { jpmAccountId: string; text: string }> {
    const account = await createAccount(t.db, await createTenancy(t.db));
    const text = bai2File(account.jpmAccountId, [fee('FEE-A')]);
    expect((await importStatementFile(t.db, { accountId: account.id, text, trigger: 'manual' })).counts).toMatchObject({
      inserted: 1,
    });
    expect(await ingestWire(t.db, account, [apiFee(account.jpmAccountId)])).toMatchObject({ inserted: 0, updated: 1 });
    const taken = await fees(account.id);
    expect(taken.map((f) => [f.source, f.jpm_transaction_id, f.customer_reference, f.data_quality])).toEqual([
      ['jpm_api', 'FEE-1', '', NOT_KEPT],
    ]);
    // Even one fee against one row: the file's reference stays in the row's history only.
    const previous = await t.db
      .selectFrom('transaction_versions')
      .select('previous')
      .where('transaction_id', '=', taken[0]!.id)
      .execute();
    expect(previous.map((v) => (v.previous as { customer_reference: string }).customer_reference)).toEqual(['FEE-A']);
    return { ...account, text };
  }

  it("the API's next change of the record keeps the not-kept note; the same record again changes nothing", async () => {
    const account = await takenOver();
    const changed = apiFee(account.jpmAccountId, { shortDescription: 'SERVICE FEE NOV' });
    expect(await ingestWire(t.db, account, [changed])).toMatchObject({ inserted: 0, updated: 1 });
    const [row] = await fees(account.id);
    expect(row).toMatchObject({
      source: 'jpm_api',
      jpm_transaction_id: 'FEE-1',
      customer_reference: '',
      description: 'SERVICE FEE NOV',
      data_quality: NOT_KEPT,
      version: 3,
    });
    // No flip-flop: the same record again, and the file again, write no version and no change event.
    const before = await events(account.id);
    expect(await ingestWire(t.db, account, [changed])).toMatchObject({ inserted: 0, updated: 0, unchanged: 1 });
    expect(
      (await importStatementFile(t.db, { accountId: account.id, text: account.text, trigger: 'manual' })).counts,
    ).toMatchObject({ inserted: 0, updated: 0 });
    expect(await fees(account.id)).toEqual([row]);
    expect(await events(account.id)).toBe(before);
    // The API sending the reference at last: its own value, no note.
    expect(
      await ingestWire(t.db, account, [
        apiFee(account.jpmAccountId, { shortDescription: 'SERVICE FEE NOV', customerReference: 'FEE-A' }),
      ]),
    ).toMatchObject({ updated: 1 });
    expect((await fees(account.id)).map((f) => [f.customer_reference, f.data_quality])).toEqual([['FEE-A', null]]);
  });

  it('the bank re-issuing the id (matched by fingerprint) keeps the not-kept note', async () => {
    const account = await takenOver();
    const reissued = apiFee(account.jpmAccountId, { transactionId: 'FEE-1B' });
    expect(await ingestWire(t.db, account, [reissued])).toMatchObject({ inserted: 0, updated: 1 });
    const [row] = await fees(account.id);
    expect(row).toMatchObject({
      source: 'jpm_api',
      jpm_transaction_id: 'FEE-1B',
      customer_reference: '',
      data_quality: NOT_KEPT,
      version: 3,
    });
    const before = await events(account.id);
    expect(await ingestWire(t.db, account, [reissued])).toMatchObject({ inserted: 0, updated: 0, unchanged: 1 });
    expect(await fees(account.id)).toEqual([row]);
    expect(await events(account.id)).toBe(before);
  });

  it('an alias never takes a row an earlier page of the walk took: a second fee without a reference on page 2 is stored', async () => {
    const account = await createAccount(t.db, await createTenancy(t.db));
    await importStatementFile(t.db, {
      accountId: account.id,
      text: bai2File(account.jpmAccountId, [fee('A')]),
      trigger: 'manual',
    });
    const idless = (custRef: string) => apiFee(account.jpmAccountId, { transactionId: '', customerReference: custRef });
    // The API's fee without id nor reference confirms the file's row (an alias of the row is recorded).
    expect(await ingestWire(t.db, account, [idless('')])).toMatchObject({ inserted: 0, unchanged: 1 });
    expect(await fees(account.id)).toHaveLength(1);
    // A later walk of the day: two fees now, the A fee with its reference (page 1, the row's own fingerprint)
    // and a new one without (page 2, the alias's key): the bank reports two fees.
    const occurrences = new OccurrenceCounter();
    const claims: WalkClaims = new Set();
    for (const record of [idless('A'), idless('')]) {
      const page = normalizeTransactions([record], occurrences);
      await ingestTransactionPage(t.db, account, { ...page, fetched: 1 }, null, claims);
    }
    expect((await fees(account.id)).map((f) => f.customer_reference).sort()).toEqual(['', 'A']);
  });

  it("an alias never takes a row that is no longer of the record's look-alike group (the bank changed its amount)", async () => {
    const account = await createAccount(t.db, await createTenancy(t.db));
    await importStatementFile(t.db, {
      accountId: account.id,
      text: bai2File(account.jpmAccountId, [fee('A')]),
      trigger: 'manual',
    });
    const idless = apiFee(account.jpmAccountId, { transactionId: '' });
    expect(await ingestWire(t.db, account, [idless])).toMatchObject({ inserted: 0, unchanged: 1 });
    // The API's FEE-1 takes the row over (through the alias), then the bank changes its amount to $30.00.
    expect(await ingestWire(t.db, account, [apiFee(account.jpmAccountId)])).toMatchObject({ inserted: 0, updated: 1 });
    expect(await ingestWire(t.db, account, [apiFee(account.jpmAccountId, { amount: '30.00' })])).toMatchObject({
      inserted: 0,
      updated: 1,
    });
    // A $25.00 fee without id nor reference again: the alias's row is a $30.00 item now, so this one is stored.
    expect(await ingestWire(t.db, account, [idless])).toMatchObject({ inserted: 1 });
    expect((await fees(account.id)).map((f) => [f.jpm_transaction_id, f.amount_minor, f.customer_reference])).toEqual([
      ['FEE-1', '3000', ''],
      ['', '2500', ''],
    ]);
  });

  it("a takeover through an alias is decided (re_identified, the bank's new id); a confirmation through one is not", async () => {
    const account = await createAccount(t.db, await createTenancy(t.db));
    const text = bai2File(account.jpmAccountId, [fee('A')]);
    await importStatementFile(t.db, { accountId: account.id, text, trigger: 'manual' });
    // Without id: confirms the row by the rule, decided once; the same again confirms it through the alias, not decided.
    const idless = apiFee(account.jpmAccountId, { transactionId: '' });
    await ingestWire(t.db, account, [idless]);
    await ingestWire(t.db, account, [idless]);
    const confirmed = await decisions(account.id);
    expect(confirmed.map((d) => [d.decision, d.rule, (d.evidence as { rowTakenOver: boolean }).rowTakenOver])).toEqual([
      ['re_identified', 'missing_field_across_channels', false],
    ]);
    // With the bank's id: found through the alias, it takes the row over: a new version and its decision.
    expect(await ingestWire(t.db, account, [apiFee(account.jpmAccountId, { transactionId: 'FEE-9' })])).toMatchObject({
      inserted: 0,
      updated: 1,
    });
    const [row] = await fees(account.id);
    expect(row).toMatchObject({
      source: 'jpm_api',
      jpm_transaction_id: 'FEE-9',
      customer_reference: '',
      data_quality: NOT_KEPT,
    });
    const made = await decisions(account.id);
    expect(made).toHaveLength(2);
    expect(made[1]).toMatchObject({
      transaction_id: row!.id,
      decision: 're_identified',
      rule: 'missing_field_across_channels',
      source: 'jpm_api',
    });
    expect(made[1]!.evidence).toMatchObject({
      previousJpmTransactionId: '',
      newJpmTransactionId: 'FEE-9',
      previousSource: 'bai2',
      source: 'jpm_api',
      rowTakenOver: true,
      byAlias: true,
      missing: [{ field: 'customerReference', missingIn: 'jpm_api', value: 'A' }],
    });
    const versions = await t.db
      .selectFrom('transaction_versions')
      .select(['reason', 'source'])
      .where('transaction_id', '=', row!.id)
      .execute();
    expect(versions).toEqual([{ reason: 're_identified', source: 'jpm_api' }]);
    // The API and the file again: nothing written, no further decision.
    expect(await ingestWire(t.db, account, [apiFee(account.jpmAccountId, { transactionId: 'FEE-9' })])).toMatchObject({
      updated: 0,
      unchanged: 1,
    });
    expect((await importStatementFile(t.db, { accountId: account.id, text, trigger: 'manual' })).counts).toMatchObject({
      inserted: 0,
      updated: 0,
    });
    expect(await decisions(account.id)).toHaveLength(2);
  });
  it('two fees the file tells apart only by the reference the API leaves out: no reference is stated on an API id, the same on every run', async () => {
    for (let run = 0; run < 4; run++) {
      const account = await createAccount(t.db, await createTenancy(t.db));
      const text = bai2File(account.jpmAccountId, [fee('FEE-A'), fee('FEE-B')]);
      await importStatementFile(t.db, { accountId: account.id, text, trigger: 'manual' });
      const api = (id: string, d = 'SERVICE FEE') =>
        apiFee(account.jpmAccountId, { transactionId: id, shortDescription: d });
      expect(await ingestWire(t.db, account, [api('FEE-1'), api('FEE-2')])).toMatchObject({ inserted: 0, updated: 2 });
      const taken = (await fees(account.id))
        .map((f) => [f.source, f.jpm_transaction_id, f.customer_reference, f.data_quality])
        .sort();
      expect(taken).toEqual([
        ['jpm_api', 'FEE-1', '', NOT_KEPT],
        ['jpm_api', 'FEE-2', '', NOT_KEPT],
      ]);
      // The file's values stay in the rows' history.
      const previous = await t.db
        .selectFrom('transaction_versions')
        .select('previous')
        .where(
          'transaction_id',
          'in',
          (await fees(account.id)).map((f) => f.id),
        )
        .execute();
      expect(previous.map((v) => (v.previous as { customer_reference: string }).customer_reference).sort()).toEqual([
        'FEE-A',
        'FEE-B',
      ]);
      // The API's next change keeps the note (the value is still the API's own), and the file again writes nothing.
      expect(await ingestWire(t.db, account, [api('FEE-1', 'SERVICE FEE NOV'), api('FEE-2')])).toMatchObject({
        inserted: 0,
        updated: 1,
      });
      expect((await fees(account.id)).map((f) => [f.customer_reference, f.data_quality])).toEqual([
        ['', NOT_KEPT],
        ['', NOT_KEPT],
      ]);
      expect(
        (await importStatementFile(t.db, { accountId: account.id, text, trigger: 'manual' })).counts,
      ).toMatchObject({ inserted: 0, updated: 0 });
      expect(await fees(account.id)).toHaveLength(2);
    }
  });

  it('two fees the API first confirmed without ids (aliases), then sends with ids: no reference is stated, the same on every run', async () => {
    for (let run = 0; run < 3; run++) {
      const account = await createAccount(t.db, await createTenancy(t.db));
      const text = bai2File(account.jpmAccountId, [fee('FEE-A'), fee('FEE-B')]);
      await importStatementFile(t.db, { accountId: account.id, text, trigger: 'manual' });
      // Without ids the API's two fees confirm the file's rows (2 against 2, paired in occurrence order, recorded as aliases).
      expect(
        await ingestWire(t.db, account, [
          apiFee(account.jpmAccountId, { transactionId: '' }),
          apiFee(account.jpmAccountId, { transactionId: '' }),
        ]),
      ).toMatchObject({ inserted: 0, updated: 0, unchanged: 2 });
      const aliases = await t.db
        .selectFrom('transaction_aliases')
        .select('look_alikes')
        .where('account_id', '=', account.id)
        .execute();
      expect(aliases.map((a) => a.look_alikes)).toEqual(
        aliases.map(() => ({
          records: 2,
          rows: 2,
          sources: ['bai2'],
          fields: ['baiTypeCode', 'bankReference', 'customerReference'],
        })),
      );
      // With ids each takes its alias's row over: the pairing was arbitrary, so neither keeps the file's reference.
      expect(
        await ingestWire(t.db, account, [
          apiFee(account.jpmAccountId),
          apiFee(account.jpmAccountId, { transactionId: 'FEE-2' }),
        ]),
      ).toMatchObject({ inserted: 0, updated: 2 });
      const taken = (await fees(account.id))
        .map((f) => [f.source, f.jpm_transaction_id, f.customer_reference, f.data_quality])
        .sort();
      expect(taken).toEqual([
        ['jpm_api', 'FEE-1', '', NOT_KEPT],
        ['jpm_api', 'FEE-2', '', NOT_KEPT],
      ]);
    }
  });

  it("a fee FEE-A beside one without a reference whose row the API's other fee took by its exact fingerprint: no reference is kept", async () => {
    const account = await createAccount(t.db, await createTenancy(t.db));
    await importStatementFile(t.db, {
      accountId: account.id,
      text: bai2File(account.jpmAccountId, [fee('FEE-A'), fee('')]),
      trigger: 'manual',
    });
    // FEE-1 takes the row without a reference by its fingerprint key; FEE-2 is left with the FEE-A row alone, but the
    // group was two rows: which API fee is FEE-A is not known.
    expect(
      await ingestWire(t.db, account, [
        apiFee(account.jpmAccountId),
        apiFee(account.jpmAccountId, { transactionId: 'FEE-2' }),
      ]),
    ).toMatchObject({ inserted: 0, updated: 2 });
    const taken = (await fees(account.id))
      .map((f) => [f.source, f.jpm_transaction_id, f.customer_reference, f.data_quality])
      .sort();
    expect(taken).toEqual([
      ['jpm_api', 'FEE-1', '', null],
      ['jpm_api', 'FEE-2', '', NOT_KEPT],
    ]);
  });

  it('a camt.053 of the fee after the API took the BAI2 row over confirms that row, writing no data row (the reference it carries is missing on the row)', async () => {
    const account = await takenOver();
    const camt = camt053(account.jpmAccountId, 'FEE-A');
    expect(
      (await importStatementFile(t.db, { accountId: account.id, text: camt, trigger: 'manual' })).counts,
    ).toMatchObject({ inserted: 0, updated: 0, unchanged: 1 });
    expect(
      (await importStatementFile(t.db, { accountId: account.id, text: camt, trigger: 'manual' })).counts,
    ).toMatchObject({ inserted: 0, updated: 0, unchanged: 1 });
    expect(
      (await fees(account.id)).map((f) => [
        f.source,
        f.jpm_transaction_id,
        f.customer_reference,
        f.data_quality,
        f.version,
      ]),
    ).toEqual([['jpm_api', 'FEE-1', '', NOT_KEPT, 2]]);
  });

  it('a row found by its fingerprint group alone (the bank dropped the ids, then listed the fees in another order) keeps the not-kept note, no reference', async () => {
    const account = await createAccount(t.db, await createTenancy(t.db));
    const api = (id: string, d: string) => apiFee(account.jpmAccountId, { transactionId: id, shortDescription: d });
    // Each fee taken over one against one: the file's FEE-A and the API's FEE-1; then a second FEE-A in the file
    // (stored: the first one confirms FEE-1's row through its alias) and the API's FEE-2 beside FEE-1 (matched by id).
    await importStatementFile(t.db, {
      accountId: account.id,
      text: bai2File(account.jpmAccountId, [fee('FEE-A')]),
      trigger: 'manual',
    });
    expect(await ingestWire(t.db, account, [api('FEE-1', 'X1')])).toMatchObject({ inserted: 0, updated: 1 });
    expect(
      (
        await importStatementFile(t.db, {
          accountId: account.id,
          text: bai2File(account.jpmAccountId, [fee('FEE-A'), fee('FEE-A')]),
          trigger: 'manual',
        })
      ).counts,
    ).toMatchObject({ inserted: 1 });
    expect(await ingestWire(t.db, account, [api('FEE-1', 'X1'), api('FEE-2', 'X2')])).toMatchObject({
      inserted: 0,
      updated: 1,
      unchanged: 1,
    });
    expect(
      (await fees(account.id)).map((f) => [f.jpm_transaction_id, f.customer_reference, f.data_quality]).sort(),
    ).toEqual([
      ['FEE-1', '', NOT_KEPT],
      ['FEE-2', '', NOT_KEPT],
    ]);
    expect(await ingestWire(t.db, account, [api('', 'X1'), api('', 'X2')])).toMatchObject({ inserted: 0, updated: 2 });
    // One page each, X2 first: its occurrence key is X1's row's, so X1 (changed) finds its row through the group only.
    const occurrences = new OccurrenceCounter();
    const claims: WalkClaims = new Set();
    for (const record of [api('', 'X2'), api('', 'X1 CHANGED')]) {
      const page = normalizeTransactions([record], occurrences);
      await ingestTransactionPage(t.db, account, { ...page, fetched: 1 }, null, claims);
    }
    const end = (await fees(account.id))
      .map((f) => [f.description, f.customer_reference, (f.data_quality as { problem: string }[]).at(-1)])
      .sort();
    expect(end).toEqual([
      ['X1 CHANGED', '', NOT_KEPT[0]],
      ['X2', '', NOT_KEPT[0]],
    ]);
  });
});
