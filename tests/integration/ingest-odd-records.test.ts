import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseTransactionRecords } from '../../src/jpm/records.ts';
import { contentHash, OccurrenceCounter } from '../../src/normalization/identity.ts';
import { normalizeTransactions } from '../../src/normalization/transactions.ts';
import { TransactionSchema } from '../../src/read-api/dto.ts';
import { pageSchema } from '../../src/http/pagination.ts';
import { uuidv7 } from '../../src/shared/ids.ts';
import { JsonNumber, parseJsonLossless } from '../../src/shared/json.ts';
import { toMinorUnits } from '../../src/shared/money.ts';
import { decodePgJson } from '../../src/shared/pg-text.ts';
import { upsertBalances } from '../../src/storage/balances.repo.ts';
import { upsertBankDayFetches } from '../../src/storage/bank-day-fetches.repo.ts';
import type { Database } from '../../src/storage/db.ts';
import { finalizeRun } from '../../src/sync/sync-run.ts';
import { addRunCounts, createSyncRun, finishRun } from '../../src/storage/sync-runs.repo.ts';
import {
  ingestTransactionPage,
  resolveRejectsOfCompleteWalk,
  type AccountRef,
  type WalkClaims,
} from '../../src/sync/ingest.ts';
import { recomputeAccountDays } from '../../src/validation/balance-proof.ts';
import { createAccount, createTenancy, type Tenancy } from '../factories/tenancy.ts';
import { bearer, bodyOf, createTestApi, type TestApi } from '../helpers/api-app.ts';
import { createTestDb, type TestDb } from '../helpers/db.ts';
import { startSimBank, type SimBank } from '../helpers/sim-bank.ts';

/**
 * Records with null, empty, missing, padded, very long and hostile fields, through the real path:
 * wire parsing (lossless JSON) → normalization → ingestTransactionPage into Postgres → the read API
 * over HTTP and the balance proof. Every record is stored once, exactly, and the day proves.
 */
const FIXTURES = join(import.meta.dirname, '../fixtures/jpm/ok');
const DAY = '2026-11-03';

type Json = Record<string, unknown>;

/** Sorted keys and numbers as text: how the stored raw record compares with what the bank sent. */
function canon(value: unknown): string {
  const norm = (v: unknown): unknown => {
    if (typeof v === 'number') {
      return String(v);
    }
    if (Array.isArray(v)) {
      return v.map(norm);
    }
    if (v !== null && typeof v === 'object') {
      return Object.fromEntries(
        Object.keys(v)
          .sort()
          .map((k) => [k, norm((v as Json)[k])]),
      );
    }
    return v;
  };
  return JSON.stringify(norm(value));
}

function standardValue(v: unknown): string {
  const s = v !== null && typeof v === 'object' ? (v as Json).standardValue : undefined;
  return typeof s === 'string' ? s : '';
}

/** One posted day of the account built from every ok/ scenario, each made unique where it had the shared sample id. */
function oddDay(jpmAccountId: string): Json[] {
  const files = readdirSync(FIXTURES)
    .filter((f) => f.endsWith('.json'))
    .sort();
  const records = files.map((file, i) => {
    const record = structuredClone(
      (parseJsonLossless(readFileSync(join(FIXTURES, file), 'utf8')) as { record: Json }).record,
    );
    record.account = { ...(record.account as Json), accountId: jpmAccountId };
    record.asOfDate = DAY;
    if (record.transactionId === 'TXN-C-FX-0001' || record.transactionId === 'TXN-C-779702312-7') {
      record.transactionId = `FX-${i}`;
    }
    if ('postCode' in record && !file.startsWith('missing-post-code')) {
      record.postCode = 'P';
    }
    if (file.startsWith('missing-post-code')) {
      delete record.postCode;
    }
    return record;
  });
  // Three identical records without an id: three real items, identified by fingerprint and occurrence.
  const idless = records.find((r) => !('transactionId' in r))!;
  return [...records, structuredClone(idless), structuredClone(idless)];
}

function netMinor(records: readonly Json[]): bigint {
  return records.reduce((sum, r) => {
    const amount = toMinorUnits(String(r.amount), 2);
    return r.debitCreditCode === 'DEBIT' ? sum - amount : sum + amount;
  }, 0n);
}

async function ingest(db: Database, account: AccountRef, records: readonly unknown[], runId: string | null = null) {
  const wire = parseTransactionRecords(records);
  const page = normalizeTransactions(wire.records, new OccurrenceCounter(), 0, { requested: 'prior_day' });
  const rejects = [...wire.rejects, ...page.rejects];
  return ingestTransactionPage(db, account, { records: page.records, rejects, fetched: records.length }, runId);
}

/**
 * The bank's side of a day whose posted records are `reported`: its final balance (moved by their net) and the tally
 * of its posted fetch (their counts and totals), as a complete walk of the day would store them.
 */
async function provable(db: Database, account: AccountRef, day: string, reported: readonly Json[]): Promise<void> {
  const minor = (r: Json) => toMinorUnits(String(r.amount), 2);
  const credits = reported.filter((r) => r.debitCreditCode !== 'DEBIT');
  const debits = reported.filter((r) => r.debitCreditCode === 'DEBIT');
  const sum = (rs: readonly Json[]) => rs.reduce((s, r) => s + minor(r), 0n);
  const net = netMinor(reported);
  const opening = 1_000_000n;
  await upsertBalances(db, [
    {
      id: uuidv7(),
      organization_id: account.organizationId,
      account_id: account.id,
      as_of_date: day,
      kind: 'final',
      currency: 'USD',
      decimal_location: 2,
      opening_ledger_minor: opening.toString(),
      opening_available_minor: null,
      ending_ledger_minor: (opening + net).toString(),
      ending_available_minor: null,
      record_timestamp: null,
      content_hash: `h-${day}-${net}`,
      raw: {},
    },
  ]);
  await upsertBankDayFetches(db, [
    {
      account_id: account.id,
      organization_id: account.organizationId,
      booking_date: day,
      sync_run_id: null,
      fetched_at: new Date().toISOString(),
      read_at: new Date().toISOString(),
      record_count: reported.length,
      credit_count: credits.length,
      debit_count: debits.length,
      credits_minor: sum(credits).toString(),
      debits_minor: sum(debits).toString(),
      repeated_fingerprints: {},
    },
  ]);
}

describe('a day of odd records, through the real path', () => {
  let api: TestApi;
  let tenancy: Tenancy;
  let account: AccountRef & { jpmAccountId: string };
  let records: Json[];

  beforeAll(async () => {
    api = await createTestApi();
    tenancy = await createTenancy(api.t.db);
    account = await createAccount(api.t.db, tenancy);
    records = oddDay(account.jpmAccountId);
  });
  afterAll(async () => {
    await api.close();
  });

  it('stores every record once, and re-syncs (same order or reversed) change nothing', async () => {
    const first = await ingest(api.t.db, account, records);
    expect(first).toMatchObject({ inserted: records.length, rejected: 0, updated: 0 });
    for (const again of [records, [...records].reverse()]) {
      expect(await ingest(api.t.db, account, again)).toMatchObject({
        inserted: 0,
        updated: 0,
        unchanged: records.length,
        rejected: 0,
      });
    }
    const n = await sql<{
      n: string;
    }>`select count(*)::text as n from transactions where account_id = ${account.id}`.execute(api.t.db);
    expect(Number(n.rows[0]!.n)).toBe(records.length);
    const rejects = await api.t.db
      .selectFrom('sync_rejects')
      .select('id')
      .where('account_id', '=', account.id)
      .execute();
    expect(rejects).toEqual([]);
  });

  it('keeps every raw record exactly as sent, U+0000 included (stored escaped, read back exact)', async () => {
    const rows = await api.t.db
      .selectFrom('transactions')
      .select(['raw', 'data_quality'])
      .where('account_id', '=', account.id)
      .execute();
    expect(rows.map((r) => canon(decodePgJson(r.raw))).sort()).toEqual(records.map((r) => canon(r)).sort());
    const stored = await sql<{
      nul: boolean;
    }>`select bool_or(raw::text like '%\\u0000%') as nul from transactions where account_id = ${account.id}`.execute(
      api.t.db,
    );
    expect(stored.rows[0]!.nul).toBe(false);
    expect(rows.filter((r) => r.data_quality !== null).length).toBeGreaterThan(10);
    // The narrative column is the raw record's narrativeText as sent (null when absent or null), for every record.
    const narratives = await api.t.db
      .selectFrom('transactions')
      .select(['narrative', 'raw'])
      .where('account_id', '=', account.id)
      .execute();
    expect(narratives.filter((r) => r.narrative !== null).length).toBeGreaterThan(10);
    for (const r of narratives) {
      expect(r.narrative).toEqual((r.raw as Json).narrativeText ?? null);
    }
  });

  it("the read API returns the bank's exact text: references, narrative, id (null when none sent)", async () => {
    const res = await request(api.app)
      .get(`/v1/transactions?accountId=${account.id}&limit=200`)
      .set(bearer(api.adminKey));
    expect(res.status).toBe(200);
    const body = bodyOf(pageSchema(TransactionSchema), res);
    const served = body.data
      .map((t) => canon([t.jpmTransactionId, t.bankReference, t.customerReference, t.narrative ?? null, t.amount]))
      .sort();
    const sent = records
      .map((r) => {
        const id = typeof r.transactionId === 'string' && r.transactionId !== '' ? r.transactionId : null;
        const amount = toMinorUnits(String(r.amount), 2);
        return canon([
          id,
          standardValue(r.bankReferenceSearchable),
          standardValue(r.customerReferenceSearchable),
          r.narrativeText ?? null,
          `${amount / 100n}.${(amount % 100n).toString().padStart(2, '0')}`,
        ]);
      })
      .sort();
    expect(served).toEqual(sent);
    const padded = body.data.find((t) => t.customerReference === '000123')!;
    expect(padded.bankReference).toBe('INV 001   ');
    const hostile = body.data.find((t) => t.jpmTransactionId === 'TXN-\u0000-東京-1')!;
    expect(hostile.customerReference).toBe('\u0000');
    expect(Object.keys(hostile.narrative as Json)).toContain('\u0000KEY ␀ 東京');
    const idless = body.data.filter((t) => t.jpmTransactionId === null);
    expect(idless.length).toBeGreaterThanOrEqual(5);
    expect(idless.every((t) => t.dataQuality?.some((q) => q.field === 'transactionId'))).toBe(true);
    // The exact reference finds its record (the filter compares the stored, escaped text).
    const byRef = await request(api.app)
      .get(`/v1/transactions?accountId=${account.id}&reference=${encodeURIComponent('INV 001   ')}`)
      .set(bearer(api.adminKey));
    expect(bodyOf(pageSchema(TransactionSchema), byRef).data.map((t) => t.customerReference)).toEqual(['000123']);
  });

  it('the day proves: opening + credits − debits = closing over every stored record', async () => {
    await provable(api.t.db, account, DAY, records);
    const [change] = await recomputeAccountDays(api.t.db, account.id, [DAY]);
    expect(change?.state).toBe('proved');
  });
});

describe('rows stored before references were kept exactly', () => {
  let api: TestApi;

  beforeAll(async () => {
    api = await createTestApi();
  });
  afterAll(async () => {
    await api.close();
  });

  it('a re-sync corrects the trimmed reference in place: same row, same identity, one version, no second row', async () => {
    const tenancy = await createTenancy(api.t.db);
    const account = await createAccount(api.t.db, tenancy);
    const base = (parseJsonLossless(readFileSync(join(FIXTURES, 'padded-references.json'), 'utf8')) as { record: Json })
      .record;
    const padded = { ...base, account: { ...(base.account as Json), accountId: account.jpmAccountId }, postCode: 'P' };
    const idless = { ...padded, transactionId: null, amount: '4.00' };
    await ingest(api.t.db, account, [padded, idless]);
    // What the former code stored: references trimmed, content hash over the trimmed references.
    const wire = parseTransactionRecords([padded, idless]).records;
    const now = normalizeTransactions(wire, new OccurrenceCounter(), 0, { requested: 'prior_day' }).records;
    for (const t of now) {
      const formerHash = contentHash([
        t.amountMinor.toString(),
        t.direction,
        t.bookingDate,
        t.valueDate,
        t.baiTypeCode,
        t.baiSummaryCode,
        t.bankReference.trim(),
        t.customerReference.trim(),
        t.description,
        t.raw.transactionId,
        t.raw,
      ]);
      await sql`update transactions set bank_reference = ${t.bankReference.trim()}, content_hash = ${formerHash}, narrative = null
        where account_id = ${account.id} and fingerprint_key = ${t.fingerprintKey}`.execute(api.t.db);
    }
    // A row from before the narrative column still serves the bank's narrative (from its raw record).
    const old = await request(api.app).get(`/v1/transactions?accountId=${account.id}`).set(bearer(api.adminKey));
    expect(bodyOf(pageSchema(TransactionSchema), old).data.map((t) => t.narrative)).toEqual([
      base.narrativeText,
      base.narrativeText,
    ]);
    const before = await api.t.db
      .selectFrom('transactions')
      .select(['id', 'fingerprint_key'])
      .where('account_id', '=', account.id)
      .orderBy('id')
      .execute();
    expect(await ingest(api.t.db, account, [padded, idless])).toMatchObject({ inserted: 0, updated: 2 });
    const after = await api.t.db
      .selectFrom('transactions')
      .select(['id', 'fingerprint_key', 'bank_reference', 'version', 'narrative'])
      .where('account_id', '=', account.id)
      .orderBy('id')
      .execute();
    expect(after.map((r) => [r.id, r.fingerprint_key])).toEqual(before.map((r) => [r.id, r.fingerprint_key]));
    // The update writes the narrative column again, from the record's narrativeText.
    expect(after.map((r) => r.narrative)).toEqual([base.narrativeText, base.narrativeText]);
    expect(after.map((r) => [r.bank_reference, r.version])).toEqual([
      ['INV 001   ', 2],
      ['INV 001   ', 2],
    ]);
    const versions = await api.t.db
      .selectFrom('transaction_versions')
      .select(['changed_fields'])
      .where('organization_id', '=', tenancy.organizationId)
      .execute();
    expect(versions.map((v) => v.changed_fields)).toEqual([['references'], ['references']]);
    expect(await ingest(api.t.db, account, [padded, idless])).toMatchObject({ inserted: 0, updated: 0, unchanged: 2 });
  });
});

describe('a record whose money facts are unusable', () => {
  let api: TestApi;
  let tenancy: Tenancy;
  let account: AccountRef & { jpmAccountId: string };
  const DAY2 = '2026-11-04';
  const DAY3 = '2026-11-05';
  let good: Json;

  beforeAll(async () => {
    api = await createTestApi();
    tenancy = await createTenancy(api.t.db);
    account = await createAccount(api.t.db, tenancy);
    const base = (parseJsonLossless(readFileSync(join(FIXTURES, 'padded-references.json'), 'utf8')) as { record: Json })
      .record;
    good = { ...base, account: { ...(base.account as Json), accountId: account.jpmAccountId }, postCode: 'P' };
  });
  afterAll(async () => {
    await api.close();
  });

  const openRejects = (db: Database) =>
    db
      .selectFrom('sync_rejects')
      .select([
        'id',
        'jpm_transaction_id',
        'record_index',
        'booking_date',
        'fields',
        'seen_count',
        'resolved_at',
        'resolution',
        'reason',
      ])
      .where('account_id', '=', account.id)
      .orderBy('id')
      .execute();

  it('is named (id, index, field), blocks its day as rejected_record, never piles up, and resolves once the bank sends it usable', async () => {
    const g = { ...good, transactionId: 'G-1', asOfDate: DAY2, amount: '10.00', debitCreditCode: 'CREDIT' };
    const bad = { ...good, transactionId: 'BAD-1', asOfDate: DAY2, amount: null, debitCreditCode: 'CREDIT' };
    for (let i = 0; i < 3; i++) {
      expect(await ingest(api.t.db, account, [g, bad])).toMatchObject({ rejected: 1 });
    }
    let rejects = await openRejects(api.t.db);
    expect(rejects).toEqual([
      expect.objectContaining({
        jpm_transaction_id: 'BAD-1',
        record_index: 1,
        booking_date: DAY2,
        fields: ['amount'],
        seen_count: 3,
        resolved_at: null,
        reason: 'amount: expected string, got null',
      }),
    ]);
    // The bank's balance has the item's 7.00; we hold only G-1: the proof names the reject.
    await provable(api.t.db, account, DAY2, [g, { ...bad, amount: '7.00' }]);
    const [blocked] = await recomputeAccountDays(api.t.db, account.id, [DAY2]);
    expect(blocked?.state).toBe('unproved');
    const day = await api.t.db
      .selectFrom('account_days')
      .select(['reason', 'evidence'])
      .where('account_id', '=', account.id)
      .where('day', '=', DAY2)
      .executeTakeFirstOrThrow();
    expect(day.reason).toBe('rejected_record');
    expect((day.evidence as { rejectedRecords?: unknown }).rejectedRecords).toEqual([rejects[0]!.id]);
    // Operators see it named, over the admin API.
    const listed = await request(api.app).get(`/v1/accounts/${account.id}/rejects`).set(bearer(api.adminKey));
    expect(listed.status).toBe(200);
    expect(listed.body).toMatchObject({
      data: [
        {
          id: rejects[0]!.id,
          recordType: 'transaction',
          jpmTransactionId: 'BAD-1',
          recordIndex: 1,
          bookingDate: DAY2,
          fields: ['amount'],
          reason: 'amount: expected string, got null',
          seenCount: 3,
          resolvedAt: null,
          resolution: null,
        },
      ],
      nextCursor: null,
    });

    // The next sync gets it with an amount: stored, the reject resolved, the day proves.
    expect(await ingest(api.t.db, account, [g, { ...bad, amount: '7.00' }])).toMatchObject({
      inserted: 1,
      rejected: 0,
    });
    rejects = await openRejects(api.t.db);
    expect(rejects).toEqual([expect.objectContaining({ jpm_transaction_id: 'BAD-1', resolution: 'stored' })]);
    expect(rejects[0]!.resolved_at).not.toBeNull();
    const [proved] = await recomputeAccountDays(api.t.db, account.id, [DAY2]);
    expect(proved?.state).toBe('proved');
    const open = await request(api.app).get(`/v1/accounts/${account.id}/rejects?state=open`).set(bearer(api.adminKey));
    expect(open.body).toEqual({ data: [], nextCursor: null });
    const resolved = await request(api.app)
      .get(`/v1/accounts/${account.id}/rejects?state=resolved`)
      .set(bearer(api.adminKey));
    expect(resolved.body).toMatchObject({ data: [{ jpmTransactionId: 'BAD-1', resolution: 'stored' }] });
  });

  it('a bad record the bank stops sending is resolved by the next complete walk, not by the walk that saw it', async () => {
    const runA = await createSyncRun(api.t.db, {
      organizationId: tenancy.organizationId,
      integrationId: tenancy.integrationId,
      accountId: account.id,
      trigger: 'manual',
      mode: 'range',
    });
    const runB = await createSyncRun(api.t.db, {
      organizationId: tenancy.organizationId,
      integrationId: tenancy.integrationId,
      accountId: account.id,
      trigger: 'manual',
      mode: 'range',
    });
    const g = { ...good, transactionId: 'G-3', asOfDate: DAY3 };
    const bad = { ...good, transactionId: undefined, asOfDate: DAY3, debitCreditCode: 'SIDEWAYS' };
    expect(await ingest(api.t.db, account, [g, bad], runA)).toMatchObject({ rejected: 1 });
    expect(await resolveRejectsOfCompleteWalk(api.t.db, account, [DAY3], runA)).toBe(0);
    expect(await ingest(api.t.db, account, [g], runB)).toMatchObject({ rejected: 0, unchanged: 1 });
    expect(await resolveRejectsOfCompleteWalk(api.t.db, account, [DAY3], runB)).toBe(1);
    const rejects = await openRejects(api.t.db);
    expect(rejects.find((r) => r.booking_date === DAY3)).toMatchObject({
      jpm_transaction_id: null,
      resolution: 'not_sent_again',
      fields: ['debitCreditCode'],
    });
  });

  it('a run whose windows all succeeded but rejected records ends partial, named records_rejected', async () => {
    const base = {
      organizationId: tenancy.organizationId,
      integrationId: tenancy.integrationId,
      accountId: account.id,
      trigger: 'manual' as const,
      mode: 'range' as const,
    };
    const outcome = async (rejected: number) => {
      const parent = await createSyncRun(api.t.db, { ...base, windowsTotal: 1 });
      const window = await createSyncRun(api.t.db, { ...base, parentRunId: parent });
      await addRunCounts(api.t.db, window, { fetched: 2, inserted: 1, rejected });
      await finishRun(api.t.db, window, 'succeeded');
      await finalizeRun(api.t.db, parent);
      return api.t.db
        .selectFrom('sync_runs')
        .select(['status', 'rejected', 'error_code'])
        .where('id', '=', parent)
        .executeTakeFirstOrThrow();
    };
    expect(await outcome(1)).toEqual({ status: 'partial', rejected: 1, error_code: 'records_rejected' });
    expect(await outcome(0)).toEqual({ status: 'succeeded', rejected: 0, error_code: null });
  });

  it('sent again spelled another way is the same open reject; a real change is another; after resolution, one new', async () => {
    const b = await createAccount(api.t.db, tenancy);
    const n = (text: string) => new JsonNumber(text);
    const DAY6 = '2026-11-06';
    const bad = (over: Json = {}): Json => ({
      ...good,
      account: { ...(good.account as Json), accountId: b.jpmAccountId },
      transactionId: 'BAD-R',
      asOfDate: DAY6,
      amount: null,
      immediateAvailable: n('100.5'),
      day1Available: n('0'),
      lockboxItems: null,
      ...over,
    });
    /** The bank's page of these records as JSON text, read as the client reads it. */
    const send = (text: string) => ingest(api.t.db, b, parseJsonLossless(text) as unknown[]);
    const reversedMembers = (o: Json) => Object.fromEntries(Object.entries(o).reverse());
    const withoutNulls = (o: Json) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== null));
    const rejectsOf = async (state: 'open' | 'resolved') =>
      (await request(api.app).get(`/v1/accounts/${b.id}/rejects?state=${state}`).set(bearer(api.adminKey)).expect(200))
        .body as { data: { jpmTransactionId: string; seenCount: number; resolution: string | null }[] };

    expect(await send(JSON.stringify([bad()]))).toMatchObject({ rejected: 1 });
    for (const text of [
      JSON.stringify([bad({ immediateAvailable: n('100.50'), day1Available: n('0.00') })]),
      JSON.stringify([bad({ immediateAvailable: n('1.005e2') })]),
      JSON.stringify([reversedMembers(bad())]),
      JSON.stringify([withoutNulls(bad())]),
      JSON.stringify([{ ...bad(), futureField: null }]),
    ]) {
      expect(await send(text)).toMatchObject({ rejected: 1 });
    }
    expect((await rejectsOf('open')).data).toEqual([
      expect.objectContaining({ jpmTransactionId: 'BAD-R', seenCount: 6 }),
    ]);
    // Two spellings of it on one page: the same record once more.
    expect(
      await send(JSON.stringify([bad({ immediateAvailable: n('100.500') }), bad({ day1Available: n('0e3') })])),
    ).toMatchObject({ rejected: 2 });
    expect((await rejectsOf('open')).data).toEqual([
      expect.objectContaining({ jpmTransactionId: 'BAD-R', seenCount: 7 }),
    ]);
    // A real change (a value) is another reject, spelled either way.
    expect(await send(JSON.stringify([bad({ immediateAvailable: n('99') })]))).toMatchObject({ rejected: 1 });
    expect(await send(JSON.stringify([bad({ immediateAvailable: n('99.0') })]))).toMatchObject({ rejected: 1 });
    expect((await rejectsOf('open')).data.map((r) => r.seenCount)).toEqual([2, 7]);

    // The bank then sends the record usable: stored, both rejects resolved.
    expect(await send(JSON.stringify([bad({ amount: n('7.00') })]))).toMatchObject({ inserted: 1, rejected: 0 });
    expect((await rejectsOf('open')).data).toEqual([]);
    // Sent bad again, spelled another way: one new open reject (as the same text would be), the resolved ones kept.
    expect(await send(JSON.stringify([bad({ immediateAvailable: n('100.50') })]))).toMatchObject({ rejected: 1 });
    expect(await send(JSON.stringify([bad()]))).toMatchObject({ rejected: 1 });
    expect((await rejectsOf('open')).data).toEqual([
      expect.objectContaining({ jpmTransactionId: 'BAD-R', seenCount: 2 }),
    ]);
    expect((await rejectsOf('resolved')).data.map((r) => [r.seenCount, r.resolution])).toEqual([
      [2, 'stored'],
      [7, 'stored'],
    ]);
  });
});

describe('the real sync path over mTLS: the bank (the simulator replaying a file) sends a day of odd records', () => {
  const JPM_ACCOUNT = '000000099887766';
  let t: TestDb;
  let env: SimBank;
  let dir: string;
  let records: Json[];

  beforeAll(async () => {
    t = await createTestDb();
    dir = await mkdtemp(join(tmpdir(), 'odd-replay-'));
    const usable = oddDay(JPM_ACCOUNT);
    const bad = { ...usable[0]!, transactionId: 'BAD-R', amount: null };
    records = [...usable, bad];
    // As the bank sends it: amounts as JSON numbers from their exact text, U+0000 as the JSON escape.
    const asSent = records.map((r) => (typeof r.amount === 'string' ? { ...r, amount: new JsonNumber(r.amount) } : r));
    await writeFile(join(dir, 'day.json'), JSON.stringify({ data: asSent }));
    env = await startSimBank(t.db, {
      today: '2026-11-20',
      replayFile: join(dir, 'day.json'),
      accounts: [{ accountId: JPM_ACCOUNT, currency: 'USD' }],
    });
  });
  afterAll(async () => {
    await env.stop();
    await t.drop();
    await rm(dir, { recursive: true, force: true });
  });

  it('stores every usable record exactly (postCode decided by the history request), names the unusable one, and a re-sync adds nothing', async () => {
    const account = env.accounts[0]!;
    const run = (n: number) =>
      createSyncRun(t.db, {
        organizationId: env.tenancy.organizationId,
        integrationId: env.tenancy.integrationId,
        accountId: account.id,
        trigger: 'manual',
        mode: 'range',
        windowFrom: DAY,
        windowTo: DAY,
        id: uuidv7(),
        windowsTotal: n,
      });
    const first = await env.sync(account.id, {
      mode: 'range',
      from: DAY,
      to: DAY,
      kinds: ['transactions'],
      runId: await run(1),
    });
    expect(first).toMatchObject({ inserted: records.length - 1, rejected: 1, updated: 0 });
    const rows = await t.db
      .selectFrom('transactions')
      .select(['raw', 'status', 'post_code'])
      .where('account_id', '=', account.id)
      .execute();
    expect(rows.map((r) => canon(decodePgJson(r.raw))).sort()).toEqual(
      records
        .slice(0, -1)
        .map((r) => canon(r))
        .sort(),
    );
    expect(new Set(rows.map((r) => `${r.post_code}/${r.status}`))).toEqual(new Set(['P/posted']));
    const second = await env.sync(account.id, {
      mode: 'range',
      from: DAY,
      to: DAY,
      kinds: ['transactions'],
      runId: await run(1),
    });
    expect(second).toMatchObject({ inserted: 0, updated: 0, unchanged: records.length - 1, rejected: 1 });
    const rejects = await t.db
      .selectFrom('sync_rejects')
      .select(['jpm_transaction_id', 'fields', 'booking_date', 'seen_count', 'resolved_at'])
      .where('account_id', '=', account.id)
      .execute();
    // Seen by both runs, so neither complete walk resolved it: one open row, seen twice.
    expect(rejects).toEqual([
      { jpm_transaction_id: 'BAD-R', fields: ['amount'], booking_date: DAY, seen_count: 2, resolved_at: null },
    ]);
  });
});

describe('id-less look-alikes of a day on two pages of one walk', () => {
  let t: TestDb;
  beforeAll(async () => {
    t = await createTestDb();
  });
  afterAll(async () => {
    await t.drop();
  });

  /** One walk of two bank pages: a distinct record and two of three identical id-less fees on the first, the third fee on the second. */
  async function walk(db: Database, account: AccountRef, jpmAccountId: string) {
    const record = (amount: string, id = '') =>
      parseJsonLossless(
        `{${id === '' ? '' : `"transactionId":"${id}",`}"account":{"accountId":"${jpmAccountId}"},` +
          `"currency":{"code":"USD","decimalLocation":2},"asOfDate":"${DAY}","debitCreditCode":"DEBIT","amount":${amount},"postCode":"P","baiType":{"typeCode":"698"}}`,
      );
    const pages = [[record('10.00', 'CHK-1'), record('25.00'), record('25.00')], [record('25.00')]];
    const occurrences = new OccurrenceCounter();
    const claims: WalkClaims = new Set();
    let inserted = 0;
    let unchanged = 0;
    for (const records of pages) {
      const page = normalizeTransactions(parseTransactionRecords(records).records, occurrences, 0, {
        requested: 'prior_day',
      });
      const counts = await ingestTransactionPage(db, account, { ...page, fetched: records.length }, null, claims);
      inserted += counts.inserted;
      unchanged += counts.unchanged;
    }
    return { inserted, unchanged };
  }

  it('stores the third fee as a row of its own, and the same walk again stores nothing', async () => {
    const account = await createAccount(t.db, await createTenancy(t.db));
    const ref = { id: account.id, organizationId: account.organizationId };
    expect(await walk(t.db, ref, account.jpmAccountId)).toEqual({ inserted: 4, unchanged: 0 });
    expect(await walk(t.db, ref, account.jpmAccountId)).toEqual({ inserted: 0, unchanged: 4 });
    const rows = await t.db
      .selectFrom('transactions')
      .select('fingerprint_key')
      .where('account_id', '=', account.id)
      .where('jpm_transaction_id', '=', '')
      .execute();
    expect(rows.map((r) => r.fingerprint_key.split(':')[2]).sort()).toEqual(['1', '2', '3']);
  });
});
