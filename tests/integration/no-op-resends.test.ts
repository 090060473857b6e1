import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseTransactionRecords } from '../../src/jpm/records.ts';
import { contentHash, OccurrenceCounter } from '../../src/normalization/identity.ts';
import { normalizeTransactions } from '../../src/normalization/transactions.ts';
import { JsonNumber, parseJsonLossless } from '../../src/shared/json.ts';
import { ingestTransactionPage, type AccountRef } from '../../src/sync/ingest.ts';
import { createAccount, createTenancy, type Tenancy } from '../factories/tenancy.ts';
import { createTestDb, type TestDb } from '../helpers/db.ts';
import { scriptedBank, scriptedDeps } from '../helpers/scripted-bank.ts';
import type { WireBalanceAccount } from '../../src/jpm/wire.schemas.ts';
import { syncAccountWindow } from '../../src/sync/sync-account.ts';

/**
 * The bank sending a stored record again: through the real path (the page's JSON text, lossless parse, wire schema,
 * normalization, ingestTransactionPage into Postgres). What a ledger reading the change feed expects: a re-send that
 * means the same (a number spelled another way, members in another order, a null member left out, white space
 * between tokens) is no new version and no `modified` event, and the raw record stays the text first stored; any
 * real change (an amount's value, a reference's bytes, a date, a status, any other field) is one.
 */
type Json = Record<string, unknown>;

let t: TestDb;
let tenancy: Tenancy;

beforeAll(async () => {
  t = await createTestDb();
  tenancy = await createTenancy(t.db);
});

afterAll(async () => {
  await t.drop();
});

const n = (text: string) => new JsonNumber(text);

/** A full J.P. Morgan record (every field of the wire schema), numbers as JSON numbers of the text given. */
function record(jpmAccountId: string, over: Json = {}): Json {
  const currency = { code: 'USD', description: 'US DOLLAR', decimalLocation: n('2'), currencySequence: n('0') };
  return {
    transactionId: 'TXN-NOOP-1',
    account: {
      accountId: jpmAccountId,
      accountName: 'OFFICE 123 INC',
      bankId: '02100002',
      branchId: '',
      bankName: 'JPMORGAN CHASE BANK, N.A.',
      currency,
      aba: '021000021',
    },
    asOfDateTime: '2026-11-03T15:00:12Z',
    valueDateTime: '2026-11-03T15:00:12Z',
    asOfDate: '2026-11-03',
    valueDate: '2026-11-03',
    recordTimestamp: '2026-11-03T15:00:12Z',
    lastUpdate: null,
    receivedTimestamp: '2026-11-03T15:00:12Z',
    productGroup: { groupCode: 'D/R', groupDescription: 'DEPOSIT AND REMITTANCE', wire: false },
    debitCreditCode: 'CREDIT',
    baiType: {
      typeCode: '399',
      summaryTypeCode: '390',
      description: 'MISCELLANEOUS CREDIT',
      shortDescription: 'INDIV OTHER/MISC',
      groupCode: 'OTHER',
      groupDescription: 'OTHER',
      productGroupCode: 'MISC',
      btrsTypeCode: '399',
      germanTypeCode: '835',
      swiftTypeCode: 'MSC',
    },
    ddaTxnCode: '194',
    originalTransactionCode: null,
    fundsTypeCode: 'SAME',
    currency,
    amount: n('100.5'),
    immediateAvailable: n('100.5'),
    day1Available: n('0'),
    day2Available: n('0'),
    day2PlusAvailable: null,
    day3PlusAvailable: n('0'),
    bankReferenceSearchable: { standardValue: 'INV 001', searchValue: 'INV 001' },
    customerReferenceSearchable: { standardValue: '10.50', searchValue: '10.50' },
    wireReferenceSearchable: null,
    repairCode: '',
    reversal: false,
    override: false,
    transactionStatus: 'O',
    shortDescription: 'MISC CREDIT',
    wireType: 'EMPTY',
    checkNumber: '0',
    lockboxSequenceCode: '',
    lockboxItems: n('0'),
    lockboxNumber: '',
    lockboxDepositDate: null,
    lockboxDepositTime: null,
    narrativeText: { 'YOUR REF    ': 'MISCELLANEOUS CREDIT', 'REMARK      ': 'FEE 12.50' },
    narrativeTypeCode: 'T',
    addenda: null,
    floatSpreadCode: '3',
    sepaDetailsXml: null,
    postCode: 'P',
    supplementalTextSet: {},
    supplementalTextRecordList: null,
    supplementalText: '7.50',
    thirdPartyBank: false,
    achBatchItems: null,
    sepaType: false,
    loggedAt: '2026-11-03T11:00:12.722739',
    ...over,
  };
}

/** The value with every object's members rewritten by `members` (their order, which are kept), at every depth. */
function everyObject(value: unknown, members: (entries: [string, unknown][]) => [string, unknown][]): unknown {
  if (Array.isArray(value) || value === null || typeof value !== 'object' || value instanceof JsonNumber) {
    return value;
  }
  return Object.fromEntries(members(Object.entries(value)).map(([k, v]) => [k, everyObject(v, members)]));
}

/** The value with every object's members in reverse order, at every depth. */
const reversed = (value: unknown) => everyObject(value, (entries) => entries.reverse());

/** The value with every member whose value is null left out, at every depth. */
const withoutNulls = (value: unknown) => everyObject(value, (entries) => entries.filter(([, v]) => v !== null));

/**
 * The bank's page holding these records, as JSON text, read the way the client reads an answer. `walk`: the rows
 * earlier pages of the same walk took (its claims), and the walk's occurrence counter.
 */
async function send(account: AccountRef, text: string, walk?: { claims: Set<string>; occurrences: OccurrenceCounter }) {
  const data = parseJsonLossless(text) as unknown[];
  const wire = parseTransactionRecords(data);
  expect(wire.rejects).toEqual([]);
  const occurrences = walk?.occurrences ?? new OccurrenceCounter();
  const page = normalizeTransactions(wire.records, occurrences, 0, { requested: 'prior_day' });
  expect(page.rejects).toEqual([]);
  return ingestTransactionPage(
    t.db,
    account,
    { records: page.records, rejects: [], fetched: data.length },
    null,
    walk?.claims,
  );
}

/** The account's row (one), its versions' changed fields and its change events, in order. */
async function history(accountId: string) {
  const rows = await t.db
    .selectFrom('transactions')
    .select(['id', 'version', 'raw', 'amount_minor', 'bank_reference'])
    .where('account_id', '=', accountId)
    .execute();
  expect(rows).toHaveLength(1);
  const row = rows[0]!;
  const versions = await t.db
    .selectFrom('transaction_versions')
    .select(['changed_fields'])
    .where('transaction_id', '=', row.id)
    .orderBy('version')
    .execute();
  const events = await t.db
    .selectFrom('change_events')
    .select(['kind'])
    .where('entity_id', '=', row.id)
    .orderBy('id')
    .execute();
  return { row, versions: versions.map((v) => v.changed_fields), events: events.map((e) => e.kind) };
}

async function newAccount() {
  return createAccount(t.db, tenancy);
}

describe('a record sent again that means the same', () => {
  it('with its numbers spelled another way is no new version and no event; the raw record stays the first text', async () => {
    const a = await newAccount();
    const first = JSON.stringify([record(a.jpmAccountId)]);
    expect(await send(a, first)).toMatchObject({ inserted: 1 });
    expect(first).toContain('"amount":100.5,');
    const stored = (await history(a.id)).row.raw;
    const spellings: Json[] = [
      { amount: n('100.50'), immediateAvailable: n('1.005e2') },
      { amount: n('1.005e2'), immediateAvailable: n('1005E-1'), day1Available: n('0.00'), day3PlusAvailable: n('0e7') },
      { amount: n('100.500000000000000000'), lockboxItems: n('-0') },
    ];
    for (const over of spellings) {
      expect(await send(a, JSON.stringify([record(a.jpmAccountId, over)]))).toMatchObject({
        inserted: 0,
        updated: 0,
        unchanged: 1,
      });
    }
    // A decimal location and sequence written as a serializer holding every number as a double writes them.
    const currency = { code: 'USD', description: 'US DOLLAR', decimalLocation: n('2.0'), currencySequence: n('0e0') };
    const fractional = record(a.jpmAccountId, { currency });
    (fractional.account as Json).currency = currency;
    expect(await send(a, JSON.stringify([fractional]))).toMatchObject({ updated: 0, unchanged: 1 });
    const after = await history(a.id);
    expect(after.events).toEqual(['added']);
    expect(after.versions).toEqual([]);
    expect(after.row.version).toBe(1);
    expect(after.row.raw).toEqual(stored);
    expect((after.row.raw as Json).amount).toBe('100.5');
  });

  it('with its members in another order, null members left out or added, or other white space, is no event', async () => {
    const a = await newAccount();
    const base = record(a.jpmAccountId);
    await send(a, JSON.stringify([base]));
    for (const text of [
      JSON.stringify([reversed(base)]),
      JSON.stringify([withoutNulls(base)]),
      JSON.stringify([{ ...base, futureField: null }]),
      JSON.stringify([base], null, 2).replaceAll('\n', '\r\n\t'),
    ]) {
      expect(await send(a, text)).toMatchObject({ inserted: 0, updated: 0, unchanged: 1 });
    }
    // Left out first, then sent as null: the same.
    const b = await newAccount();
    await send(b, JSON.stringify([withoutNulls(record(b.jpmAccountId))]));
    expect(await send(b, JSON.stringify([record(b.jpmAccountId)]))).toMatchObject({ updated: 0, unchanged: 1 });
    for (const id of [a.id, b.id]) {
      const h = await history(id);
      expect(h.events).toEqual(['added']);
      expect(h.versions).toEqual([]);
    }
  });
});

describe('a record sent again with a real change', () => {
  const changes: [string, (jpmAccountId: string) => Json, string[]][] = [
    ['the amount', (id) => record(id, { amount: n('100.51'), immediateAvailable: n('100.51') }), ['amount', 'raw']],
    [
      'a reference, by one trailing space',
      (id) => record(id, { bankReferenceSearchable: { standardValue: 'INV 001 ', searchValue: 'INV 001' } }),
      ['references', 'raw'],
    ],
    [
      'a number-like reference, by its spelling',
      (id) => record(id, { customerReferenceSearchable: { standardValue: '10.5', searchValue: '10.50' } }),
      ['references', 'raw'],
    ],
    ['the value date', (id) => record(id, { valueDate: '2026-11-04' }), ['value_date', 'raw']],
    ['the status', (id) => record(id, { transactionStatus: 'C' }), ['raw']],
    ['a number-like text field, by its spelling', (id) => record(id, { supplementalText: '7.5' }), ['raw']],
    ['a field from null to a value', (id) => record(id, { lockboxDepositDate: '2026-11-03' }), ['raw']],
    [
      'a narrative tag, by white space inside its text',
      (id) => record(id, { narrativeText: { 'YOUR REF    ': 'MISCELLANEOUS CREDIT', 'REMARK      ': 'FEE  12.50' } }),
      ['raw'],
    ],
  ];
  it.each(changes)('(%s) is a new version and a modified event', async (_, changed, fields) => {
    const a = await newAccount();
    await send(a, JSON.stringify([record(a.jpmAccountId)]));
    const next = JSON.stringify([changed(a.jpmAccountId)]);
    expect(await send(a, next)).toMatchObject({ inserted: 0, updated: 1 });
    const h = await history(a.id);
    expect(h.events).toEqual(['added', 'modified']);
    expect(h.versions).toEqual([fields]);
    // The raw record is the changed text's, exactly (as the client reads it).
    expect(h.row.raw).toEqual(
      JSON.parse(JSON.stringify(parseTransactionRecords([parseJsonLossless(next.slice(1, -1))]).records[0])),
    );
  });
});

describe('a row whose content hash is over the exact text (as every row is stored)', () => {
  /** Sets the account's row's content hash to the formula rows are stored with: over the parts and the exact raw record. */
  async function formerHash(a: AccountRef, text: string): Promise<void> {
    const wire = parseTransactionRecords(parseJsonLossless(text) as unknown[]).records;
    const [r] = normalizeTransactions(wire, new OccurrenceCounter(), 0, { requested: 'prior_day' }).records;
    const former = contentHash([
      r!.amountMinor.toString(),
      r!.direction,
      r!.bookingDate,
      r!.valueDate,
      r!.baiTypeCode,
      r!.baiSummaryCode,
      r!.bankReference,
      r!.customerReference,
      r!.description,
      r!.raw.transactionId,
      r!.raw,
    ]);
    const done = await sql`update transactions set content_hash = ${former} where account_id = ${a.id}`.execute(t.db);
    expect(done.numAffectedRows).toBe(1n);
  }

  it('sent again, as it was or spelled another way, is no event; a real change still is', async () => {
    const accounts = await Promise.all([newAccount(), newAccount(), newAccount()]);
    for (const a of accounts) {
      const text = JSON.stringify([record(a.jpmAccountId)]);
      await send(a, text);
      await formerHash(a, text);
    }
    const [same, respelled, changed] = accounts as [
      AccountRef & { jpmAccountId: string },
      (typeof accounts)[0],
      (typeof accounts)[0],
    ];
    expect(await send(same, JSON.stringify([record(same.jpmAccountId)]))).toMatchObject({ updated: 0, unchanged: 1 });
    expect(
      await send(
        respelled,
        JSON.stringify([reversed(record(respelled.jpmAccountId, { amount: n('100.50'), day1Available: n('0.0') }))]),
      ),
    ).toMatchObject({ updated: 0, unchanged: 1 });
    expect(
      await send(changed, JSON.stringify([record(changed.jpmAccountId, { transactionStatus: 'C' })])),
    ).toMatchObject({ updated: 1 });
    expect((await history(same.id)).events).toEqual(['added']);
    expect((await history(respelled.id)).events).toEqual(['added']);
    expect(await history(changed.id)).toMatchObject({ events: ['added', 'modified'], versions: [['raw']] });
    // Once rewritten by a real change, a re-send spelled another way is nothing again.
    expect(
      await send(
        changed,
        JSON.stringify([record(changed.jpmAccountId, { transactionStatus: 'C', amount: n('100.50') })]),
      ),
    ).toMatchObject({ updated: 0, unchanged: 1 });
    expect((await history(changed.id)).events).toEqual(['added', 'modified']);
  });
});

describe('a row holding a content hash of another kind (a `v2:` hash over the meaning)', () => {
  it('is compared by meaning: the same record again is no event; a real change rewrites it with the text hash', async () => {
    const a = await newAccount();
    const text = JSON.stringify([record(a.jpmAccountId)]);
    await send(a, text);
    const stored = await t.db
      .selectFrom('transactions')
      .select('content_hash')
      .where('account_id', '=', a.id)
      .executeTakeFirstOrThrow();
    await sql`update transactions set content_hash = ${'v2:another-kind'} where account_id = ${a.id}`.execute(t.db);
    expect(await send(a, text)).toMatchObject({ updated: 0, unchanged: 1 });
    const respelled = JSON.stringify([reversed(record(a.jpmAccountId, { amount: n('100.50') }))]);
    expect(await send(a, respelled)).toMatchObject({ updated: 0, unchanged: 1 });
    expect((await history(a.id)).events).toEqual(['added']);
    expect(await send(a, JSON.stringify([record(a.jpmAccountId, { transactionStatus: 'C' })]))).toMatchObject({
      updated: 1,
    });
    const after = await t.db
      .selectFrom('transactions')
      .select('content_hash')
      .where('account_id', '=', a.id)
      .executeTakeFirstOrThrow();
    expect(after.content_hash).not.toMatch(/^v2:/);
    expect(after.content_hash).toHaveLength(stored.content_hash.length);
  });
});

describe('the comparisons of one walk, for a record spelled another way', () => {
  /** The account's rows by short description, with their raw record, version and change events. */
  async function rows(accountId: string) {
    const found = await t.db
      .selectFrom('transactions')
      .select(['id', 'raw', 'version'])
      .where('account_id', '=', accountId)
      .execute();
    const events = await t.db
      .selectFrom('change_events')
      .select(['entity_id', 'kind'])
      .where('account_id', '=', accountId)
      .orderBy('id')
      .execute();
    return new Map(
      found.map((r) => [
        String((r.raw as Json).shortDescription),
        { raw: r.raw, version: r.version, events: events.filter((e) => e.entity_id === r.id).map((e) => e.kind) },
      ]),
    );
  }

  it('the same id twice on one page, the second spelled another way, is one record, not a conflict', async () => {
    const a = await newAccount();
    const base = record(a.jpmAccountId);
    const respelled = reversed(record(a.jpmAccountId, { amount: n('1.005e2'), lastUpdate: undefined }));
    expect(await send(a, JSON.stringify([base, respelled]))).toMatchObject({
      inserted: 1,
      unchanged: 1,
      rejected: 0,
    });
    // A second copy that really differs is still the walk's conflict.
    const b = await newAccount();
    expect(
      await send(b, JSON.stringify([record(b.jpmAccountId), record(b.jpmAccountId, { amount: n('100.51') })])),
    ).toMatchObject({ inserted: 1, rejected: 1 });
  });

  it('an id an earlier page of the walk stored, sent again spelled another way, is no conflict', async () => {
    const a = await newAccount();
    await send(a, JSON.stringify([record(a.jpmAccountId)]));
    const walk = { claims: new Set<string>(), occurrences: new OccurrenceCounter() };
    const text = JSON.stringify([record(a.jpmAccountId, { amount: n('100.50') })]);
    expect(await send(a, text, walk)).toMatchObject({ updated: 0, unchanged: 1, rejected: 0 });
    const respelled = JSON.stringify([withoutNulls(record(a.jpmAccountId, { immediateAvailable: n('1005e-1') }))]);
    expect(await send(a, respelled, walk)).toMatchObject({ updated: 0, unchanged: 1, rejected: 0 });
    // A copy that really differs on a later page is still the walk's conflict.
    const changed = JSON.stringify([record(a.jpmAccountId, { transactionStatus: 'C' })]);
    expect(await send(a, changed, walk)).toMatchObject({ updated: 0, rejected: 1 });
    expect((await history(a.id)).events).toEqual(['added']);
  });

  it('id-less look-alikes sent again spelled another way and in another order each keep their own row', async () => {
    const a = await newAccount();
    const fee = (name: string, over: Json = {}) =>
      record(a.jpmAccountId, { transactionId: '', shortDescription: name, ...over });
    expect(await send(a, JSON.stringify([fee('FEE A'), fee('FEE B')]))).toMatchObject({ inserted: 2 });
    const stored = await rows(a.id);
    expect([...stored.keys()].toSorted()).toEqual(['FEE A', 'FEE B']);
    // The same two, the other way round (so each has the other's occurrence number), spelled another way.
    const again = [
      reversed(fee('FEE B', { amount: n('100.50') })),
      withoutNulls(fee('FEE A', { amount: n('1.005e2') })),
    ];
    expect(await send(a, JSON.stringify(again))).toMatchObject({ inserted: 0, updated: 0, unchanged: 2 });
    expect(await rows(a.id)).toEqual(stored);
    // One of them really changed, the other spelled another way: only the changed one is a new version.
    const changed = [fee('FEE B', { amount: n('100.50') }), fee('FEE A', { transactionStatus: 'C' })];
    expect(await send(a, JSON.stringify(changed))).toMatchObject({ inserted: 0, updated: 1, unchanged: 1 });
    const after = await rows(a.id);
    expect(after.get('FEE B')).toEqual(stored.get('FEE B'));
    expect(after.get('FEE A')).toMatchObject({ version: 2, events: ['added', 'modified'] });
  });
});

describe('an unusable balance sent again', () => {
  it('spelled another way is its open reject seen again; a real change is another', async () => {
    const a = await newAccount();
    const DAY = '2026-11-03';
    const balance = (over: Json = {}): Json => ({
      asOfDate: DAY,
      currentDay: false,
      openingLedgerAmount: n('100.5'),
      endingLedgerAmount: null,
      openingAvailableAmount: n('100.5'),
      recordTimestamp: null,
      ...over,
    });
    /** A balances window of DAY against a bank answering with `list` as the JSON text it sends, read losslessly. */
    const syncBalances = (list: Json[]) => {
      const answer = parseJsonLossless(
        JSON.stringify([
          { accountId: a.jpmAccountId, currency: { code: 'USD', decimalLocation: n('2') }, balanceList: list },
        ]),
      ) as WireBalanceAccount[];
      return syncAccountWindow(
        scriptedDeps(
          t.db,
          scriptedBank([], () => answer),
          '2026-11-20',
        ),
        { runId: null, accountId: a.id, mode: 'range', from: DAY, to: DAY, kinds: ['balances'] },
      );
    };
    const open = () =>
      t.db
        .selectFrom('sync_rejects')
        .select(['reason', 'seen_count'])
        .where('account_id', '=', a.id)
        .where('resolved_at', 'is', null)
        .orderBy('id')
        .execute();
    expect(await syncBalances([balance()])).toMatchObject({ rejected: 1 });
    // The reason says what the latest send lacked (null, or the member left out).
    const reason = expect.stringMatching(/^endingLedgerAmount: is required but (null|missing)$/) as string;
    expect(await open()).toEqual([{ reason, seen_count: 1 }]);
    for (const list of [
      [balance({ openingLedgerAmount: n('100.50'), openingAvailableAmount: n('1.005e2') })],
      [reversed(balance()) as Json],
      [withoutNulls(balance()) as Json],
      [{ ...balance(), endingLedgerAmount: undefined, futureField: null }].map((b) => withoutNulls(b) as Json),
    ]) {
      expect(await syncBalances(list)).toMatchObject({ rejected: 1 });
    }
    expect(await open()).toEqual([{ reason, seen_count: 5 }]);
    expect(await syncBalances([balance({ openingLedgerAmount: n('100.49') })])).toMatchObject({ rejected: 1 });
    expect((await open()).map((r) => r.seen_count)).toEqual([5, 1]);
  });
});
