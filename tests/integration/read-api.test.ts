import { sql } from 'kysely';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type z } from 'zod';
import { purgeChangeFeed } from '../../src/events/change-feed.ts';
import { pageSchema } from '../../src/http/pagination.ts';
import { normalizeBalances } from '../../src/normalization/balances.ts';
import {
  BalanceSchema,
  ChangePageSchema,
  LatestBalancesSchema,
  TransactionDetailSchema,
  TransactionSchema,
} from '../../src/read-api/dto.ts';
import { uuidv7 } from '../../src/shared/ids.ts';
import { toMinorUnits } from '../../src/shared/money.ts';
import { addDays } from '../../src/shared/time.ts';
import { upsertBalances } from '../../src/storage/balances.repo.ts';
import { resolvePending } from '../../src/sync/supersede.ts';
import { createAccount, createTenancy, type Tenancy } from '../factories/tenancy.ts';
import { ingestWire, seeded, wireTransaction, type WireOptions } from '../factories/transactions.ts';
import { bearer, bodyOf, createTestApi, expectProblem, type TestApi } from '../helpers/api-app.ts';
import { catchUpFeedReaders } from '../helpers/search-step.ts';

const TxPage = pageSchema(TransactionSchema);
type Tx = z.output<typeof TransactionSchema>;
type Account = Awaited<ReturnType<typeof createAccount>>;

const SHORT = ['WIRE TRANSFER', 'ACH CREDIT', 'CHECK PAID', 'LOCKBOX DEPOSIT', 'BANK FEE'];
const BAI = ['195', '165', '475', '115', '699'];
const FIRST_DAY = '2026-10-01';

/** Stored rows straight from the table: the oracle the API's filters are checked against. */
async function storedRows(api: TestApi, organizationId: string) {
  return api.t.db
    .selectFrom('transactions')
    .select([
      'id',
      'account_id',
      'status',
      'direction',
      'amount_minor',
      'decimal_location',
      'booking_date',
      'value_date',
      'bai_type_code',
      'bank_reference',
      'customer_reference',
      'description',
    ])
    .where('organization_id', '=', organizationId)
    .execute();
}

/** Generates and ingests `n` transactions for an account through normalization and ingest. */
async function seedAccount(api: TestApi, account: Account, n: number, seed: number, scale: number): Promise<void> {
  const rnd = seeded(seed);
  const records = [];
  for (let i = 0; i < n; i++) {
    const id = `${account.jpmAccountId}-${i}`;
    const minor = BigInt(1 + Math.floor(rnd() * 5_000_000));
    const whole = (minor / 10n ** BigInt(scale)).toString();
    const frac = scale === 0 ? '' : `.${(minor % 10n ** BigInt(scale)).toString().padStart(scale, '0')}`;
    const date = addDays(FIRST_DAY, i % 45);
    const common: Omit<WireOptions, 'transactionId'> = {
      jpmAccountId: account.jpmAccountId,
      amount: `${whole}${frac}`,
      decimalLocation: scale,
      currency: scale === 0 ? 'JPY' : 'USD',
      asOfDate: date,
      valueDate: i % 7 === 0 ? null : addDays(date, i % 3),
      direction: i % 3 === 0 ? 'DEBIT' : 'CREDIT',
      baiTypeCode: BAI[i % BAI.length]!,
      bankReference: `BR${seed}-${i}`,
      customerReference: i % 4 === 0 ? `INV-${seed}-${i % 200}` : '',
      shortDescription: SHORT[i % SHORT.length]!,
      remark: `invoice ${1000 + (i % 97)} for order ${i}`,
    };
    // One in ten is an intraday (pending) item; half of those post the next morning (superseded), half never do (removed).
    if (i % 10 === 0) {
      records.push(wireTransaction({ ...common, transactionId: `${id}-I`, postCode: 'I' }));
      if (i % 20 === 0) {
        records.push(wireTransaction({ ...common, transactionId: id, postCode: 'P' }));
      }
    } else {
      records.push(wireTransaction({ ...common, transactionId: id, postCode: 'P' }));
    }
  }
  for (let i = 0; i < records.length; i += 500) {
    await ingestWire(api.t.db, account, records.slice(i, i + 500));
  }
  const dates = Array.from({ length: 45 }, (_, d) => addDays(FIRST_DAY, d));
  await resolvePending(api.t.db, account, dates, null);
}

async function walk(
  api: TestApi,
  key: string,
  query: string,
  limit = 200,
  between?: () => Promise<void>,
): Promise<Tx[]> {
  const out: Tx[] = [];
  let cursor: string | null = null;
  do {
    const url: string = `/v1/transactions?${query}${query ? '&' : ''}limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`;
    const res = await request(api.app).get(url).set(bearer(key));
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const page = bodyOf(TxPage, res);
    out.push(...page.data);
    cursor = page.nextCursor;
    if (between) {
      await between();
    }
  } while (cursor);
  return out;
}

/** Exact comparison of a stored minor amount (scale dl) with a decimal bound: both scaled to 18 places. */
function cmpAmount(minor: string, dl: number, bound: string): number {
  const a = BigInt(minor) * 10n ** BigInt(18 - dl);
  const b = toMinorUnits(bound, 18);
  return a === b ? 0 : a < b ? -1 : 1;
}

describe('read API', () => {
  let api: TestApi;
  let orgA: Tenancy;
  let orgB: Tenancy;
  let usd: Account;
  let jpy: Account;
  let other: Account;
  let keyA: string;

  beforeAll(async () => {
    api = await createTestApi();
    orgA = await createTenancy(api.t.db, { name: 'Org A' });
    orgB = await createTenancy(api.t.db, { name: 'Org B' });
    usd = await createAccount(api.t.db, orgA, { currency: 'USD', decimalLocation: 2 });
    jpy = await createAccount(api.t.db, orgA, { currency: 'JPY', decimalLocation: 0 });
    other = await createAccount(api.t.db, orgB);
    await seedAccount(api, usd, 2000, 1, 2);
    await seedAccount(api, jpy, 1000, 2, 0);
    await seedAccount(api, other, 300, 3, 2);
    await sql`analyze`.execute(api.t.db);
    keyA = await api.key('viewer', orgA.organizationId);
  });
  afterAll(async () => {
    await api.close();
  });

  it('serves camelCase DTOs with exact decimal amounts and never internal columns', async () => {
    const res = await request(api.app).get(`/v1/transactions?accountId=${jpy.id}&limit=5`).set(bearer(keyA));
    const page = bodyOf(TxPage, res);
    expect(page.data).toHaveLength(5);
    for (const t of page.data) {
      expect(t.amount).toMatch(/^\d+$/); // JPY: no decimals
      expect(t.amountMinor).toBe(t.amount);
    }
    // Exactly the documented fields: nothing internal (raw, fingerprint, content hash) rides along.
    const raw = res.body as { data: Record<string, unknown>[] };
    expect(Object.keys(raw.data[0]!).sort()).toEqual(Object.keys(TransactionSchema.shape).sort());
    expect(JSON.stringify(res.body)).not.toMatch(/fingerprint|content_?hash|"raw"/i);
    // Instants are formatted by Postgres (read.repo.ts): the same text a JS Date of the stored value gives.
    const stored = await api.t.db
      .selectFrom('transactions')
      .select(['id', 'first_seen_at', 'updated_at'])
      .where(
        'id',
        'in',
        page.data.map((t) => t.id),
      )
      .execute();
    expect(page.data.map((t) => [t.id, t.firstSeenAt, t.updatedAt]).sort()).toEqual(
      stored.map((r) => [r.id, r.first_seen_at.toISOString(), r.updated_at.toISOString()]).sort(),
    );
    const usdPage = bodyOf(
      TxPage,
      await request(api.app).get(`/v1/transactions?accountId=${usd.id}&limit=5`).set(bearer(keyA)),
    );
    for (const t of usdPage.data) {
      expect(t.amount).toMatch(/^\d+\.\d{2}$/);
      expect(toMinorUnits(t.amount, 2).toString()).toBe(t.amountMinor);
    }
  });

  it('filters match an independent evaluation over the stored rows', async () => {
    const rows = await storedRows(api, orgA.organizationId);
    expect(rows.length).toBeGreaterThan(3000);
    const cases: { query: string; keep: (r: (typeof rows)[number]) => boolean }[] = [
      { query: '', keep: () => true },
      { query: `accountId=${jpy.id}`, keep: (r) => r.account_id === jpy.id },
      {
        query: 'bookingDateFrom=2026-10-10&bookingDateTo=2026-10-20',
        keep: (r) => r.booking_date >= '2026-10-10' && r.booking_date <= '2026-10-20',
      },
      {
        query: 'valueDateFrom=2026-11-01&valueDateTo=2026-11-03',
        keep: (r) => r.value_date !== null && r.value_date >= '2026-11-01' && r.value_date <= '2026-11-03',
      },
      { query: 'status=superseded,removed', keep: (r) => r.status === 'superseded' || r.status === 'removed' },
      { query: 'status=pending', keep: (r) => r.status === 'pending' },
      { query: 'direction=debit', keep: (r) => r.direction === 'debit' },
      { query: 'currency=JPY', keep: (r) => r.account_id === jpy.id },
      {
        query: 'amountMin=10000.5&amountMax=20000',
        keep: (r) =>
          cmpAmount(r.amount_minor, r.decimal_location, '10000.5') >= 0 &&
          cmpAmount(r.amount_minor, r.decimal_location, '20000') <= 0,
      },
      { query: 'baiCode=475', keep: (r) => r.bai_type_code === '475' },
      { query: 'reference=BR1-42', keep: (r) => r.bank_reference === 'BR1-42' || r.customer_reference === 'BR1-42' },
      { query: 'reference=INV-2-8', keep: (r) => r.bank_reference === 'INV-2-8' || r.customer_reference === 'INV-2-8' },
      { query: 'q=INVOICE%201042%20', keep: (r) => r.description.toLowerCase().includes('invoice 1042 ') },
      { query: 'q=100%25', keep: (r) => r.description.includes('100%') },
      {
        query: `accountId=${usd.id}&direction=credit&bookingDateFrom=2026-10-05&amountMax=30000.00&status=posted`,
        keep: (r) =>
          r.account_id === usd.id &&
          r.direction === 'credit' &&
          r.booking_date >= '2026-10-05' &&
          r.status === 'posted' &&
          cmpAmount(r.amount_minor, r.decimal_location, '30000.00') <= 0,
      },
    ];
    for (const c of cases) {
      const expected = rows
        .filter(c.keep)
        .map((r) => r.id)
        .sort();
      const got = await walk(api, keyA, c.query, 500);
      expect(got.map((t) => t.id).sort(), c.query).toEqual(expected);
      expect(new Set(got.map((t) => t.id)).size, c.query).toBe(got.length);
    }
    // A short value-date range is read one value day at a time and merged: small pages walk across the days, in order.
    for (const sort of ['bookingDate', '-bookingDate'] as const) {
      const inRange = rows.filter(
        (r) => r.value_date !== null && r.value_date >= '2026-10-20' && r.value_date <= '2026-10-24',
      );
      expect(inRange.length).toBeGreaterThan(20);
      const got = await walk(api, keyA, `valueDateFrom=2026-10-20&valueDateTo=2026-10-24&sort=${sort}`, 7);
      const order = inRange.map((r) => `${r.booking_date} ${r.id}`).sort();
      expect(got.map((t) => `${t.bookingDate} ${t.id}`)).toEqual(sort === 'bookingDate' ? order : order.reverse());
    }
    // One bound, or more than 31 days: each value day of the data is read in page order from the cursor, the pages
    // are the first rows of all of them.
    for (const [query, keep] of [
      ['valueDateFrom=2026-10-20', (d: string) => d >= '2026-10-20'],
      ['valueDateTo=2026-10-12', (d: string) => d <= '2026-10-12'],
      ['valueDateFrom=2026-08-01&valueDateTo=2026-10-15', (d: string) => d >= '2026-08-01' && d <= '2026-10-15'],
      ['valueDateFrom=0001-01-01&valueDateTo=9999-12-31&direction=debit', () => true],
    ] as const) {
      const inRange = rows.filter(
        (r) => r.value_date !== null && keep(r.value_date) && (!query.includes('debit') || r.direction === 'debit'),
      );
      expect(inRange.length, query).toBeGreaterThan(20);
      for (const sort of ['bookingDate', '-bookingDate'] as const) {
        const got = await walk(api, keyA, `${query}&sort=${sort}`, 7);
        const order = inRange.map((r) => `${r.booking_date} ${r.id}`).sort();
        expect(
          got.map((t) => `${t.bookingDate} ${t.id}`),
          query,
        ).toEqual(sort === 'bookingDate' ? order : order.reverse());
      }
    }
    // A reference is read from the bank-reference and the customer-reference index and merged: small pages walk
    // across both in order, each row once (also one whose two references are the same text).
    await ingestWire(
      api.t.db,
      jpy,
      ['SAME', 'BANK'].map((kind, i) =>
        wireTransaction({
          transactionId: `REF-${kind}`,
          jpmAccountId: jpy.jpmAccountId,
          amount: `${i + 7}`,
          decimalLocation: 0,
          currency: 'JPY',
          asOfDate: addDays(FIRST_DAY, 11 + i),
          bankReference: 'INV-2-8',
          customerReference: kind === 'SAME' ? 'INV-2-8' : '',
        }),
      ),
    );
    const withRef = (await storedRows(api, orgA.organizationId)).filter(
      (r) => r.bank_reference === 'INV-2-8' || r.customer_reference === 'INV-2-8',
    );
    expect(withRef.filter((r) => r.bank_reference === 'INV-2-8')).toHaveLength(2);
    expect(withRef.length).toBeGreaterThan(5);
    for (const sort of ['bookingDate', '-bookingDate', 'firstSeen'] as const) {
      const got = await walk(api, keyA, `reference=INV-2-8&sort=${sort}`, 2);
      const key = (t: { booking_date: string; id: string }) =>
        sort === 'firstSeen' ? t.id : `${t.booking_date} ${t.id}`;
      const order = withRef.map(key).sort();
      expect(
        got.map((t) => key({ booking_date: t.bookingDate, id: t.id })),
        sort,
      ).toEqual(sort === '-bookingDate' ? order.reverse() : order);
    }
    // Filters read as a bounded walk (a page of 20 walks at most 2,100 rows of the organization's ~3,200, then reads the
    // filter's own index): common values fill pages from the walk, rare ones and the last pages from the index; each
    // page in order either way.
    await ingestWire(
      api.t.db,
      jpy,
      Array.from({ length: 60 }, (_, i) =>
        wireTransaction({
          transactionId: `COMMON-${i}`,
          jpmAccountId: jpy.jpmAccountId,
          amount: `${i + 11}`,
          decimalLocation: 0,
          currency: 'JPY',
          asOfDate: addDays(FIRST_DAY, i % 45),
          bankReference: `BRC-${i}`,
          customerReference: 'NEW',
        }),
      ),
    );
    const all = await storedRows(api, orgA.organizationId);
    const bounded: { query: string; keep: (r: (typeof all)[number]) => boolean }[] = [
      { query: 'amountMin=4900000', keep: (r) => cmpAmount(r.amount_minor, r.decimal_location, '4900000') >= 0 },
      {
        query: 'amountMin=45000&amountMax=1000000',
        keep: (r) =>
          cmpAmount(r.amount_minor, r.decimal_location, '45000') >= 0 &&
          cmpAmount(r.amount_minor, r.decimal_location, '1000000') <= 0,
      },
      { query: `accountId=${jpy.id}&status=removed`, keep: (r) => r.account_id === jpy.id && r.status === 'removed' },
      {
        query: 'bookingDateFrom=2026-10-05&bookingDateTo=2026-10-08&direction=debit',
        keep: (r) => r.booking_date >= '2026-10-05' && r.booking_date <= '2026-10-08' && r.direction === 'debit',
      },
      { query: 'reference=NEW', keep: (r) => r.bank_reference === 'NEW' || r.customer_reference === 'NEW' },
    ];
    for (const c of bounded) {
      const matching = all.filter(c.keep);
      expect(matching.length, c.query).toBeGreaterThan(0);
      for (const sort of ['bookingDate', '-bookingDate', 'firstSeen'] as const) {
        const key = (t: { booking_date: string; id: string }) =>
          sort === 'firstSeen' ? t.id : `${t.booking_date} ${t.id}`;
        const order = matching.map(key).sort();
        const got = await walk(api, keyA, `${c.query}&sort=${sort}`, 20);
        expect(
          got.map((t) => key({ booking_date: t.bookingDate, id: t.id })),
          `${c.query} ${sort}`,
        ).toEqual(sort === '-bookingDate' ? order.reverse() : order);
      }
    }
  });

  it('orders stably and pages without gaps or repeats while new rows arrive', async () => {
    for (const sort of ['-bookingDate', 'bookingDate', 'firstSeen'] as const) {
      const before = new Set((await storedRows(api, orgA.organizationId)).map((r) => r.id));
      let batch = 0;
      const rnd = seeded(99);
      const seen = await walk(api, keyA, `sort=${sort}`, 97, async () => {
        batch++;
        await ingestWire(
          api.t.db,
          usd,
          Array.from({ length: 5 }, (_, i) =>
            wireTransaction({
              transactionId: `LIVE-${sort}-${batch}-${i}`,
              jpmAccountId: usd.jpmAccountId,
              asOfDate: addDays(FIRST_DAY, Math.floor(rnd() * 50)),
            }),
          ),
        );
      });
      const ids = seen.map((t) => t.id);
      expect(new Set(ids).size, `${sort}: repeats`).toBe(ids.length);
      for (const id of before) {
        expect(ids.includes(id), `${sort}: gap`).toBe(true);
      }
      // The order is the documented one.
      for (let i = 1; i < seen.length; i++) {
        const [a, b] = [seen[i - 1]!, seen[i]!];
        const ok =
          sort === 'firstSeen'
            ? a.id < b.id
            : sort === 'bookingDate'
              ? a.bookingDate < b.bookingDate || (a.bookingDate === b.bookingDate && a.id < b.id)
              : a.bookingDate > b.bookingDate || (a.bookingDate === b.bookingDate && a.id > b.id);
        expect(ok, `${sort} order at ${i}`).toBe(true);
      }
    }
  });

  it('rejects a cursor used with different filters, and bad filters by name', async () => {
    const first = bodyOf(
      TxPage,
      await request(api.app).get('/v1/transactions?limit=2&direction=credit').set(bearer(keyA)),
    );
    expectProblem(
      await request(api.app)
        .get(`/v1/transactions?limit=2&direction=debit&cursor=${first.nextCursor}`)
        .set(bearer(keyA)),
      400,
      'invalid_cursor',
    );
    const bad = expectProblem(
      await request(api.app).get('/v1/transactions?amountMin=1,000&bookingDateFrom=2026-02-30').set(bearer(keyA)),
      400,
      'validation_failed',
    );
    expect(bad.errors?.map((e) => e.path).sort()).toEqual(['query.amountMin', 'query.bookingDateFrom']);
  });

  it('a transaction comes with its version history and the decisions that explain it', async () => {
    // The bank corrects a posted record: a new version, the old one kept.
    await ingestWire(api.t.db, usd, [
      wireTransaction({
        transactionId: `${usd.jpmAccountId}-1`,
        jpmAccountId: usd.jpmAccountId,
        amount: '12.34',
        asOfDate: addDays(FIRST_DAY, 1),
        bankReference: 'BR1-1',
        shortDescription: 'ACH CREDIT',
        remark: 'corrected',
      }),
    ]);
    const corrected = await api.t.db
      .selectFrom('transactions')
      .select('id')
      .where('jpm_transaction_id', '=', `${usd.jpmAccountId}-1`)
      .executeTakeFirstOrThrow();
    const detail = bodyOf(
      TransactionDetailSchema,
      await request(api.app).get(`/v1/transactions/${corrected.id}`).set(bearer(keyA)),
    );
    expect(detail.amount).toBe('12.34');
    expect(detail.version).toBe(2);
    expect(detail.history).toHaveLength(1);
    expect(detail.history[0]!.version).toBe(1);
    expect(detail.history[0]!.changedFields).toContain('amount');
    expect(detail.history[0]!.values.amount).not.toBe('12.34');

    // A pending item replaced by its posted item: both ends explain the link.
    const pending = await api.t.db
      .selectFrom('transactions')
      .select(['id', 'superseded_by'])
      .where('jpm_transaction_id', '=', `${usd.jpmAccountId}-20-I`)
      .executeTakeFirstOrThrow();
    const p = bodyOf(
      TransactionDetailSchema,
      await request(api.app).get(`/v1/transactions/${pending.id}`).set(bearer(keyA)),
    );
    expect(p.status).toBe('superseded');
    expect(p.supersededBy).toBe(pending.superseded_by);
    expect(p.decisions).toEqual([
      expect.objectContaining({ decision: 'superseded', rule: 'exact', relatedTransactionId: pending.superseded_by }),
    ]);
    const posted = bodyOf(
      TransactionDetailSchema,
      await request(api.app).get(`/v1/transactions/${pending.superseded_by}`).set(bearer(keyA)),
    );
    expect(posted.supersedes).toBe(pending.id);
    expect(posted.decisions.map((d) => d.decision)).toEqual(['superseded']);
    // A pending item that never posted.
    const gone = await api.t.db
      .selectFrom('transactions')
      .select('id')
      .where('jpm_transaction_id', '=', `${usd.jpmAccountId}-10-I`)
      .executeTakeFirstOrThrow();
    const g = bodyOf(
      TransactionDetailSchema,
      await request(api.app).get(`/v1/transactions/${gone.id}`).set(bearer(keyA)),
    );
    expect(g.status).toBe('removed');
    expect(g.decisions).toEqual([expect.objectContaining({ decision: 'removed', rule: 'not_in_prior_day' })]);
  });

  it('balance history and latest balances per account', async () => {
    const wire = (date: string, currentDay: boolean, ending: string) => ({
      asOfDate: date,
      currentDay,
      openingLedgerAmount: '100.00',
      endingLedgerAmount: ending,
      openingAvailableAmount: '90.00',
      endingAvailableAmount: ending,
    });
    const { balances } = normalizeBalances([
      {
        accountId: usd.jpmAccountId,
        currency: { code: 'USD', decimalLocation: 2 },
        balanceList: [
          wire('2026-11-02', false, '1000.10'),
          wire('2026-11-03', false, '2000.20'),
          wire('2026-11-04', true, '3000.30'),
        ],
      },
    ]);
    await upsertBalances(
      api.t.db,
      balances.map((b) => ({
        id: uuidv7(),
        organization_id: orgA.organizationId,
        account_id: usd.id,
        as_of_date: b.asOfDate,
        kind: b.kind,
        currency: b.currency,
        decimal_location: b.decimalLocation,
        opening_ledger_minor: b.openingLedgerMinor?.toString() ?? null,
        opening_available_minor: b.openingAvailableMinor?.toString() ?? null,
        ending_ledger_minor: b.endingLedgerMinor?.toString() ?? null,
        ending_available_minor: b.endingAvailableMinor?.toString() ?? null,
        record_timestamp: b.recordTimestamp,
        content_hash: b.contentHash,
        raw: b.raw,
      })),
    );
    const history = bodyOf(
      pageSchema(BalanceSchema),
      await request(api.app).get(`/v1/accounts/${usd.id}/balances?limit=2`).set(bearer(keyA)),
    );
    expect(history.data.map((b) => [b.asOfDate, b.kind, b.endingLedger])).toEqual([
      ['2026-11-04', 'current_day', '3000.30'],
      ['2026-11-03', 'final', '2000.20'],
    ]);
    const rest = bodyOf(
      pageSchema(BalanceSchema),
      await request(api.app)
        .get(`/v1/accounts/${usd.id}/balances?limit=2&cursor=${history.nextCursor}`)
        .set(bearer(keyA)),
    );
    expect(rest.data.map((b) => b.asOfDate)).toEqual(['2026-11-02']);
    expect(rest.nextCursor).toBeNull();
    const finals = bodyOf(
      pageSchema(BalanceSchema),
      await request(api.app).get(`/v1/accounts/${usd.id}/balances?kind=final&from=2026-11-03`).set(bearer(keyA)),
    );
    expect(finals.data.map((b) => b.asOfDate)).toEqual(['2026-11-03']);

    const latest = bodyOf(
      pageSchema(LatestBalancesSchema),
      await request(api.app).get('/v1/balances/latest').set(bearer(keyA)),
    );
    expect(latest.data.map((l) => l.accountId).sort()).toEqual([usd.id, jpy.id].sort());
    const u = latest.data.find((l) => l.accountId === usd.id)!;
    expect(u.final?.asOfDate).toBe('2026-11-03');
    expect(u.final?.endingLedgerMinor).toBe('200020');
    expect(u.currentDay?.asOfDate).toBe('2026-11-04');
    expect(latest.data.find((l) => l.accountId === jpy.id)).toMatchObject({ final: null, currentDay: null });
  });

  it('the change feed over HTTP: from now, in order, and 410 with a resync recipe for an expired cursor', async () => {
    const start = bodyOf(ChangePageSchema, await request(api.app).get('/v1/changes?from=now').set(bearer(keyA)));
    expect(start.data).toEqual([]);
    await ingestWire(api.t.db, usd, [wireTransaction({ transactionId: 'FEED-1', jpmAccountId: usd.jpmAccountId })]);
    await ingestWire(api.t.db, other, [
      wireTransaction({ transactionId: 'FEED-OTHER', jpmAccountId: other.jpmAccountId }),
    ]);
    const events: z.output<typeof ChangePageSchema>['data'] = [];
    // Events appear once every older write transaction of the (shared) Postgres cluster has ended: other test files'
    // transactions may hold them back for seconds on a busy machine (at most 30 s here).
    let cursor = start.nextCursor;
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline && !events.some((e) => e.transaction?.jpmTransactionId === 'FEED-1')) {
      const page = bodyOf(
        ChangePageSchema,
        await request(api.app).get(`/v1/changes?cursor=${cursor}`).set(bearer(keyA)),
      );
      events.push(...page.data);
      cursor = page.nextCursor;
      if (page.data.length === 0) {
        await new Promise((r) => setTimeout(r, 25));
      }
    }
    // "From now" starts at the oldest write still open anywhere on the cluster, so a change committed
    // moments before (here: an earlier test's, while another test file held a transaction open) may
    // come too: at least once, never lost. This test's own writes: only org A's, once.
    expect(
      events
        .filter((e) => e.transaction?.jpmTransactionId?.startsWith('FEED-'))
        .map((e) => [e.kind, e.transaction?.jpmTransactionId]),
    ).toEqual([['added', 'FEED-1']]);

    const head = await request(api.app).get('/v1/changes/cursor').set(bearer(keyA));
    expect(head.body).toMatchObject({ cursor: expect.any(String) as string, retentionDays: 90 });
    await catchUpFeedReaders(api.t.db);
    await purgeChangeFeed(api.t.db, { retentionDays: 90, now: new Date(Date.now() + 100 * 86_400_000) });
    const gone = expectProblem(
      await request(api.app).get(`/v1/changes?cursor=${start.nextCursor}`).set(bearer(keyA)),
      410,
      'cursor_expired',
    );
    expect(gone.detail).toMatch(/90 days/);
    expect(gone.detail).toMatch(/GET \/v1\/changes\/cursor.*GET \/v1\/transactions/);
    expectProblem(await request(api.app).get('/v1/changes?cursor=xyz').set(bearer(keyA)), 400, 'invalid_cursor');
  });

  describe('organization scope', () => {
    it("a key of one organization never sees another organization's data", async () => {
      const bIds = new Set((await storedRows(api, orgB.organizationId)).map((r) => r.id));
      const all = await walk(api, keyA, '', 500);
      expect(all.some((t) => bIds.has(t.id))).toBe(false);
      expect(all.every((t) => t.organizationId === orgA.organizationId)).toBe(true);
      const bTx = [...bIds][0]!;
      expectProblem(await request(api.app).get(`/v1/transactions/${bTx}`).set(bearer(keyA)), 404, 'not_found');
      expectProblem(
        await request(api.app).get(`/v1/transactions?organizationId=${orgB.organizationId}`).set(bearer(keyA)),
        404,
        'not_found',
      );
      expectProblem(
        await request(api.app).get(`/v1/transactions?accountId=${other.id}`).set(bearer(keyA)),
        404,
        'not_found',
      );
      expectProblem(
        await request(api.app).get(`/v1/accounts/${other.id}/balances`).set(bearer(keyA)),
        404,
        'not_found',
      );
      expectProblem(
        await request(api.app).get(`/v1/changes?organizationId=${orgB.organizationId}`).set(bearer(keyA)),
        404,
        'not_found',
      );
      const latest = bodyOf(
        pageSchema(LatestBalancesSchema),
        await request(api.app).get(`/v1/balances/latest?accountId=${other.id}`).set(bearer(keyA)),
      );
      expect(latest.data).toEqual([]);
      const feed = bodyOf(ChangePageSchema, await request(api.app).get('/v1/changes?limit=1000').set(bearer(keyA)));
      expect(feed.data.every((e) => e.organizationId === orgA.organizationId)).toBe(true);
      // An unscoped key sees both, and may narrow to one.
      const b = await walk(api, api.adminKey, `organizationId=${orgB.organizationId}`, 500);
      expect(new Set(b.map((t) => t.id))).toEqual(bIds);
    });

    it('the OpenAPI document describes the read API and webhooks', async () => {
      const doc = (await request(api.app).get('/openapi.json')).body as {
        paths: Record<string, Record<string, { responses: Record<string, unknown> }>>;
      };
      for (const path of [
        '/v1/transactions',
        '/v1/transactions/{id}',
        '/v1/accounts/{id}/balances',
        '/v1/balances/latest',
        '/v1/changes',
        '/v1/changes/cursor',
        '/v1/webhooks',
        '/v1/webhooks/{id}',
        '/v1/webhooks/{id}/rotate-secret',
        '/v1/webhooks/{id}/deliveries/{deliveryId}/replay',
      ]) {
        expect(doc.paths[path], path).toBeDefined();
      }
      expect(Object.keys(doc.paths['/v1/changes']!.get!.responses)).toContain('410');
    });

    it('every read route needs a key', async () => {
      for (const path of [
        '/v1/transactions',
        `/v1/transactions/${uuidv7()}`,
        `/v1/accounts/${usd.id}/balances`,
        '/v1/balances/latest',
        '/v1/changes',
        '/v1/changes/cursor',
      ]) {
        expectProblem(await request(api.app).get(path), 401, 'unauthenticated');
      }
    });
  });

  it('list queries use the keyset indexes (EXPLAIN over a few thousand rows)', async () => {
    const { compileListTransactions } = await import('../../src/storage/read.repo.ts');
    const plan = async (
      filter: Parameters<typeof compileListTransactions>[1],
      sort: 'bookingDate' | '-bookingDate' | 'firstSeen',
    ) => {
      const q = compileListTransactions(api.t.db, filter, { sort, limit: 50 });
      const r = await api.t.db.executeQuery<{ 'QUERY PLAN': string }>({ ...q, sql: `explain ${q.sql}` });
      return r.rows.map((x) => x['QUERY PLAN']).join('\n');
    };
    expect(await plan({ organizationId: orgA.organizationId }, '-bookingDate')).toMatch(
      /Index Scan Backward using transactions_org_booking_idx/,
    );
    expect(await plan({ accountId: usd.id }, 'bookingDate')).toMatch(
      /Index Scan using transactions_account_booking_id_idx/,
    );
    expect(await plan({ organizationId: orgA.organizationId }, 'firstSeen')).toMatch(
      /Index Scan using (transactions_org_id_idx|transactions_pkey)/,
    ); // org A is most of the table here
    expect(await plan({ organizationId: orgA.organizationId, reference: 'BR1-42' }, '-bookingDate')).toMatch(
      /reference_idx/,
    );
    // Text search reads the search table's trigram index (filled after commit by the search step). At 3,000 rows a
    // sequential scan of it is cheaper; the index must at least be usable, so that the planner switches to it as the table grows.
    // (With the text alone the planner may also walk the search table in page order; with another filter every match counts.)
    const textPlan = await api.t.db.transaction().execute(async (trx) => {
      await sql`set local enable_seqscan = off`.execute(trx);
      const q = compileListTransactions(
        trx,
        { text: 'order 1234', statuses: ['posted'] },
        { sort: '-bookingDate', limit: 50 },
      );
      return (await trx.executeQuery<{ 'QUERY PLAN': string }>({ ...q, sql: `explain ${q.sql}` })).rows
        .map((x) => x['QUERY PLAN'])
        .join('\n');
    });
    expect(textPlan).toMatch(/Bitmap Index Scan on transaction_search_description_trgm_idx/);
  });
});
