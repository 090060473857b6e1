import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { sql } from 'kysely';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { AccountSchema } from '../../src/admin-api/accounts.dto.ts';
import { RejectSchema } from '../../src/admin-api/syncs.dto.ts';
import { pageSchema } from '../../src/http/pagination.ts';
import { parseTransactionRecords } from '../../src/jpm/records.ts';
import { OccurrenceCounter } from '../../src/normalization/identity.ts';
import { normalizeTransactions } from '../../src/normalization/transactions.ts';
import { ChangePageSchema, TransactionDetailSchema, TransactionSchema } from '../../src/read-api/dto.ts';
import { uuidv7 } from '../../src/shared/ids.ts';
import { parseJsonLossless } from '../../src/shared/json.ts';
import { decodePgJson } from '../../src/shared/pg-text.ts';
import { upsertAccount } from '../../src/storage/accounts.repo.ts';
import type { Database } from '../../src/storage/db.ts';
import { ingestTransactionPage, type AccountRef } from '../../src/sync/ingest.ts';
import { createAccount, createTenancy, type Tenancy } from '../factories/tenancy.ts';
import { bearer, bodyOf, createTestApi, type TestApi } from '../helpers/api-app.ts';

/**
 * A bank that cuts text at a fixed UTF-16 length may send half of an emoji: a lone surrogate, as the JSON escape
 * `\ud83d`. JSON parsing and validation accept it; Postgres does not (`jsonb` refuses the page's document, a `text`
 * parameter arrives as U+FFFD). Such text is stored escaped (src/shared/pg-text.ts) and served exactly as sent.
 */
const FIXTURE = join(import.meta.dirname, '../fixtures/jpm/ok/lone-surrogates.json');
const DAY = '2026-11-03';

type Json = Record<string, unknown>;

async function ingest(db: Database, account: AccountRef, records: readonly unknown[]) {
  const wire = parseTransactionRecords(records);
  const page = normalizeTransactions(wire.records, new OccurrenceCounter(), 0, { requested: 'prior_day' });
  const rejects = [...wire.rejects, ...page.rejects];
  return ingestTransactionPage(db, account, { records: page.records, rejects, fetched: records.length }, null);
}

/** Numbers as their text: how a stored raw record compares with what the bank sent (lossless JSON). */
function numbersAsText(value: unknown): unknown {
  if (typeof value === 'number') {
    return String(value);
  }
  if (Array.isArray(value)) {
    return value.map(numbersAsText);
  }
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, numbersAsText(v)]));
  }
  return value;
}

/** Every string and key of a JSON value. */
function stringsOf(value: unknown): string[] {
  if (typeof value === 'string') {
    return [value];
  }
  if (value !== null && typeof value === 'object') {
    return Object.entries(value).flatMap(([k, v]) => [k, ...stringsOf(v)]);
  }
  return [];
}

describe('a page with text cut between the two halves of an emoji (lone surrogates)', () => {
  let api: TestApi;
  let tenancy: Tenancy;
  let account: AccountRef & { jpmAccountId: string };
  let cut: Json;
  let good: Json;
  let bad: Json;

  beforeAll(async () => {
    api = await createTestApi();
    tenancy = await createTenancy(api.t.db);
    account = await createAccount(api.t.db, tenancy);
    const record = (parseJsonLossless(readFileSync(FIXTURE, 'utf8')) as { record: Json }).record;
    cut = { ...record, account: { ...(record.account as Json), accountId: account.jpmAccountId }, asOfDate: DAY };
    cut.postCode = 'P';
    good = { ...cut, transactionId: 'TXN-GOOD', amount: '10.00', narrativeText: { 'REMARK      ': 'WHOLE 😀' } };
    good.bankReferenceSearchable = { standardValue: 'G', searchValue: null };
    good.customerReferenceSearchable = { standardValue: '', searchValue: null };
    good.shortDescription = 'GOOD';
    bad = { ...cut, transactionId: 'BAD-\ude00', amount: null, narrativeText: { 'REMARK      ': 'CUT \ud83d' } };
  });
  afterAll(async () => {
    await api.close();
  });

  it('is stored whole (the lone-surrogate record, the good one and the reject), and the same page again changes nothing', async () => {
    expect(await ingest(api.t.db, account, [good, cut, bad])).toMatchObject({ inserted: 2, rejected: 1, updated: 0 });
    expect(await ingest(api.t.db, account, [good, cut, bad])).toMatchObject({
      inserted: 0,
      updated: 0,
      unchanged: 2,
      rejected: 1,
    });
    const rows = await api.t.db
      .selectFrom('transactions')
      .select(['jpm_transaction_id', 'raw', 'bank_reference'])
      .where('account_id', '=', account.id)
      .orderBy('jpm_transaction_id')
      .execute();
    expect(rows.map((r) => r.jpm_transaction_id)).toEqual(['TXN-CUT-\u241bD83D', 'TXN-GOOD']);
    // The raw record decodes to exactly what the bank sent; stored, it holds no lone surrogate (psql shows ␛D83D).
    expect(numbersAsText(decodePgJson(rows[0]!.raw))).toEqual(numbersAsText(cut));
    expect(rows[0]!.bank_reference).toBe('REF \u241bDE00 LOW FIRST \u241bDC00\u241bD800 END');
    expect(stringsOf(rows[0]!.raw).every((s) => s.isWellFormed())).toBe(true);
    const rejects = await api.t.db
      .selectFrom('sync_rejects')
      .select(['raw', 'seen_count'])
      .where('account_id', '=', account.id)
      .execute();
    expect(rejects.map((r) => [numbersAsText(decodePgJson(r.raw)), r.seen_count])).toEqual([[numbersAsText(bad), 2]]);
  });

  it("the read API (list, detail, change feed) and the rejects list return the bank's exact text", async () => {
    const list = bodyOf(
      pageSchema(TransactionSchema),
      await request(api.app).get(`/v1/transactions?accountId=${account.id}`).set(bearer(api.adminKey)),
    );
    const served = list.data.find((t) => t.jpmTransactionId === 'TXN-CUT-\ud83d')!;
    const normalized = normalizeTransactions(parseTransactionRecords([cut]).records, new OccurrenceCounter(), 0, {
      requested: 'prior_day',
    }).records[0]!;
    const exact = {
      jpmTransactionId: 'TXN-CUT-\ud83d',
      bankReference: 'REF \ude00 LOW FIRST \udc00\ud800 END',
      customerReference: 'THANKS \ud83d',
      description: normalized.description,
      narrative: cut.narrativeText,
      amount: '3.25',
    };
    expect(normalized.description).toContain('THANKS \ud83d');
    expect(served).toMatchObject(exact);
    expect(list.data.find((t) => t.jpmTransactionId === 'TXN-GOOD')?.narrative).toEqual({ 'REMARK      ': 'WHOLE 😀' });

    const detail = bodyOf(
      TransactionDetailSchema,
      await request(api.app).get(`/v1/transactions/${served.id}`).set(bearer(api.adminKey)),
    );
    expect(detail).toMatchObject(exact);

    // The change feed's `added` event carries the same exact state. Events appear once every older write
    // transaction of the (shared) Postgres cluster has ended.
    const events: z.output<typeof ChangePageSchema>['data'] = [];
    let cursor: string | undefined;
    for (let i = 0; i < 400 && !events.some((e) => e.entityId === served.id); i++) {
      const page = bodyOf(
        ChangePageSchema,
        await request(api.app)
          .get(`/v1/changes${cursor === undefined ? '' : `?cursor=${cursor}`}`)
          .set(bearer(api.adminKey)),
      );
      events.push(...page.data);
      cursor = page.nextCursor;
      if (page.data.length === 0) {
        await new Promise((r) => setTimeout(r, 25));
      }
    }
    expect(events.find((e) => e.entityId === served.id)?.transaction).toMatchObject(exact);

    const rejects = bodyOf(
      pageSchema(RejectSchema),
      await request(api.app).get(`/v1/accounts/${account.id}/rejects`).set(bearer(api.adminKey)),
    );
    expect(rejects.data.map((r) => r.jpmTransactionId)).toEqual(['BAD-\ude00']);
  });

  it('a change the bank makes to such a record is stored, and the former version is served exactly', async () => {
    const changed: Json = {
      ...cut,
      shortDescription: 'PAYMENT THANKS \ude4f',
      narrativeText: { ...(cut.narrativeText as Json), 'REMARK      ': 'PAYMENT THANKS \ude4f' },
    };
    expect(await ingest(api.t.db, account, [good, changed])).toMatchObject({ inserted: 0, updated: 1 });
    const list = bodyOf(
      pageSchema(TransactionSchema),
      await request(api.app).get(`/v1/transactions?accountId=${account.id}`).set(bearer(api.adminKey)),
    );
    const row = list.data.find((t) => t.jpmTransactionId === 'TXN-CUT-\ud83d')!;
    expect(row.narrative).toEqual(changed.narrativeText);
    expect(row.description).toContain('THANKS \ude4f');
    const detail = bodyOf(
      TransactionDetailSchema,
      await request(api.app).get(`/v1/transactions/${row.id}`).set(bearer(api.adminKey)),
    );
    expect(detail.history).toHaveLength(1);
    expect(detail.history[0]!.values).toMatchObject({
      jpmTransactionId: 'TXN-CUT-\ud83d',
      bankReference: 'REF \ude00 LOW FIRST \udc00\ud800 END',
      customerReference: 'THANKS \ud83d',
    });
    expect(detail.history[0]!.values.description).toContain('THANKS \ud83d');
  });

  it('an account name the bank cut is stored escaped and served exactly (not as U+FFFD), also by an idempotent replay', async () => {
    const name = '東京 OFFICE \ud83d';
    const row = await upsertAccount(api.t.db, {
      id: uuidv7(),
      organizationId: tenancy.organizationId,
      integrationId: tenancy.integrationId,
      jpmAccountId: '000000055500011',
      bankId: '02100002',
      accountName: name,
      currency: 'USD',
      decimalLocation: 2,
      timeZone: 'America/New_York',
    });
    const stored = await sql<{
      account_name: string;
    }>`select account_name from bank_accounts where id = ${row.id}`.execute(api.t.db);
    expect(stored.rows[0]!.account_name).toBe('東京 OFFICE \u241bD83D');
    const served = bodyOf(
      AccountSchema,
      await request(api.app).get(`/v1/accounts/${row.id}`).set(bearer(api.adminKey)),
    );
    expect(served.accountName).toBe(name);

    // A mutating call answering the account under an Idempotency-Key: its response is kept for replays (jsonb).
    const pause = () =>
      request(api.app)
        .post(`/v1/accounts/${row.id}/pause`)
        .set(bearer(api.adminKey))
        .set('Idempotency-Key', 'pause-cut-name')
        .send({ reason: 'half an emoji' });
    const first = await pause();
    expect(first.status).toBe(200);
    expect(bodyOf(AccountSchema, first).accountName).toBe(name);
    const replay = await pause();
    expect(replay.status).toBe(200);
    expect(replay.headers['idempotent-replayed']).toBe('true');
    expect(replay.body).toEqual(first.body);
    expect(bodyOf(AccountSchema, replay).accountName).toBe(name);
  });
});
