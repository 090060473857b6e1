import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { encodeFeedCursor } from '../../src/events/change-feed.ts';
import { ChangePageSchema, TransactionDetailSchema, type TransactionDto } from '../../src/read-api/dto.ts';
import { databaseClock } from '../../src/storage/intraday.repo.ts';
import { reconcileIntraday, resolvePending } from '../../src/sync/supersede.ts';
import { createAccount, createTenancy } from '../factories/tenancy.ts';
import { ingestWire, wireTransaction } from '../factories/transactions.ts';
import { bearer, bodyOf, createTestApi, expectProblem, type TestApi } from '../helpers/api-app.ts';

/**
 * A downstream ledger built on the read API: it copies transactions by polling GET /v1/changes over HTTP and
 * applying each event's `transaction` as an upsert by id. After every step it must hold exactly what
 * GET /v1/transactions/{id} answers for every row it has.
 */
type ChangeEventDto = z.output<typeof ChangePageSchema>['data'][number];

class Ledger {
  readonly rows = new Map<string, TransactionDto>();
  readonly events: ChangeEventDto[] = [];
  private readonly api: TestApi;
  private readonly key: string;
  cursor: string;
  constructor(api: TestApi, key: string, cursor: string) {
    this.api = api;
    this.key = key;
    this.cursor = cursor;
  }

  /** Polls until `until` holds for the events read so far (events appear once older write transactions ended). */
  async pollUntil(until: (events: readonly ChangeEventDto[]) => boolean): Promise<void> {
    for (let i = 0; i < 400; i++) {
      const page = bodyOf(
        ChangePageSchema,
        await request(this.api.app).get(`/v1/changes?cursor=${this.cursor}&limit=3`).set(bearer(this.key)),
      );
      for (const e of page.data) {
        this.events.push(e);
        if (e.transaction) {
          this.rows.set(e.entityId, e.transaction);
        }
      }
      this.cursor = page.nextCursor;
      if (!page.hasMore && until(this.events)) {
        return;
      }
      if (page.data.length === 0) {
        await new Promise((r) => setTimeout(r, 25));
      }
    }
    throw new Error('the feed did not deliver the expected events');
  }

  /** What the API says now about every row the ledger holds. */
  async truth(): Promise<Map<string, TransactionDto>> {
    const out = new Map<string, TransactionDto>();
    for (const id of this.rows.keys()) {
      const res = await request(this.api.app).get(`/v1/transactions/${id}`).set(bearer(this.key));
      const { history: _h, decisions: _d, ...row } = bodyOf(TransactionDetailSchema, res);
      out.set(id, row);
    }
    return out;
  }
}

describe('change feed as a ledger reads it', () => {
  let api: TestApi;
  let key: string;
  let tenancy: Awaited<ReturnType<typeof createTenancy>>;

  beforeAll(async () => {
    api = await createTestApi();
    tenancy = await createTenancy(api.t.db, { name: 'Ledger Co' });
    key = await api.key('viewer', tenancy.organizationId);
  });
  afterAll(async () => {
    await api.close();
  });

  async function startLedger(): Promise<Ledger> {
    const res = await request(api.app).get('/v1/changes/cursor').set(bearer(key));
    return new Ledger(api, key, (res.body as { cursor: string }).cursor);
  }

  it('pending → posted: the posted row that replaced a pending one is announced with its link (supersedes)', async () => {
    const account = await createAccount(api.t.db, tenancy);
    const ledger = await startLedger();
    const date = '2026-11-10';
    await ingestWire(api.t.db, account, [
      wireTransaction({
        transactionId: 'PEND-1',
        jpmAccountId: account.jpmAccountId,
        asOfDate: date,
        postCode: 'I',
        amount: '250.00',
        bankReference: 'REF-LINK-1',
      }),
    ]);
    // The posted record arrives, and the ledger reads it before the day is resolved.
    await ingestWire(api.t.db, account, [
      wireTransaction({
        transactionId: 'POST-1',
        jpmAccountId: account.jpmAccountId,
        asOfDate: date,
        postCode: 'P',
        amount: '250.00',
        bankReference: 'REF-LINK-1',
      }),
    ]);
    await ledger.pollUntil((events) => events.filter((e) => e.kind === 'added').length === 2);
    const counts = await resolvePending(api.t.db, account, [date], null);
    expect(counts).toEqual({ superseded: 1, removed: 0 });
    await ledger.pollUntil((events) => events.some((e) => e.kind === 'removed'));

    const byJpmId = (id: string) => [...ledger.rows.values()].find((r) => r.jpmTransactionId === id)!;
    const pending = byJpmId('PEND-1');
    const posted = byJpmId('POST-1');
    expect(pending.status).toBe('superseded');
    expect(pending.supersededBy).toBe(posted.id);
    // The ledger's copy of the posted row knows which pending item it replaced, as the API does.
    expect(posted.supersedes).toBe(pending.id);
    expect(await ledger.truth()).toEqual(ledger.rows);
  });

  it('every state a ledger needs arrives as an event with exact money: withdrawn, shown again, corrected, reversed, posted', async () => {
    const account = await createAccount(api.t.db, tenancy, { currency: 'JPY', decimalLocation: 0 });
    const ledger = await startLedger();
    const day = '2026-11-12';
    const item = (id: string, o: Partial<Parameters<typeof wireTransaction>[0]> = {}) =>
      wireTransaction({
        transactionId: id,
        jpmAccountId: account.jpmAccountId,
        currency: 'JPY',
        decimalLocation: 0,
        asOfDate: day,
        ...o,
      });
    const walk = async (ids: string[]) => {
      const walkStartedAt = await databaseClock(api.t.db);
      await ingestWire(
        api.t.db,
        account,
        ids.map((id) => item(id, { postCode: 'I', amount: '1250', bankReference: `REF-${id}` })),
      );
      return reconcileIntraday(
        api.t.db,
        account,
        {
          day,
          ids: new Set(ids),
          provesAbsence: true,
          walkStartedAt,
          evidence: { totalRecords: ids.length, totalPages: 1, businessDaySource: 'test' },
        },
        null,
      );
    };
    const settled = (n: number) => (events: readonly ChangeEventDto[]) => events.length >= n;
    await walk(['I-1', 'I-2']);
    await ledger.pollUntil(settled(2));
    // I-2 withdrawn intraday, then shown again.
    expect(await walk(['I-1'])).toEqual({ removed: 1, restored: 0 });
    await ledger.pollUntil(settled(3));
    const i2 = () => [...ledger.rows.values()].find((r) => r.jpmTransactionId === 'I-2')!;
    expect(i2().status).toBe('removed');
    expect(await walk(['I-1', 'I-2'])).toEqual({ removed: 0, restored: 1 });
    await ledger.pollUntil(settled(4));
    expect(i2().status).toBe('pending');
    // A posted item, then the bank corrects its amount; a reversal comes as its own item.
    await ingestWire(api.t.db, account, [item('P-1', { amount: '98765432101', bankReference: 'REF-P-1' })]);
    await ingestWire(api.t.db, account, [
      item('P-1', { amount: '98765432109', bankReference: 'REF-P-1', remark: 'corrected' }),
    ]);
    await ingestWire(api.t.db, account, [
      item('P-1R', { amount: '98765432109', direction: 'DEBIT', bankReference: 'REF-P-1', remark: 'reversal' }),
    ]);
    // The day closes: I-1 posts as P-I1, I-2 never posts.
    await ingestWire(api.t.db, account, [item('P-I1', { amount: '1250', bankReference: 'REF-I-1' })]);
    await ledger.pollUntil(settled(8));
    expect(await resolvePending(api.t.db, account, [day], null)).toEqual({ superseded: 1, removed: 1 });
    await ledger.pollUntil(settled(11));

    const byId = new Map([...ledger.rows.values()].map((r) => [r.jpmTransactionId, r]));
    expect(byId.get('P-1')).toMatchObject({ amount: '98765432109', amountMinor: '98765432109', version: 2 });
    expect(byId.get('P-1R')).toMatchObject({ direction: 'debit', amount: '98765432109', decimalLocation: 0 });
    expect(byId.get('I-2')?.status).toBe('removed');
    expect(byId.get('I-1')).toMatchObject({ status: 'superseded', supersededBy: byId.get('P-I1')?.id });
    expect(byId.get('P-I1')?.supersedes).toBe(byId.get('I-1')?.id);
    expect(ledger.events.map((e) => e.kind)).toEqual([
      'added',
      'added',
      'removed',
      'modified',
      'added',
      'modified',
      'added',
      'added',
      'removed',
      'removed',
      'modified',
    ]);
    expect(await ledger.truth()).toEqual(ledger.rows);
  });

  it('a cursor whose position is outside 64-bit range is a 400 invalid_cursor naming the cursor, not read as another position', async () => {
    for (const position of [
      // One above the largest xid8: Postgres reads it as the largest, and the feed would wait there for ever.
      { xid: '18446744073709551616', id: '1' },
      { xid: '99999999999999999999', id: '1' },
      // One above the largest bigint.
      { xid: '1', id: '9223372036854775808' },
    ]) {
      const cursor = encodeFeedCursor({ epoch: 1, ...position });
      const problem = expectProblem(
        await request(api.app).get(`/v1/changes?cursor=${cursor}`).set(bearer(key)),
        400,
        'invalid_cursor',
      );
      expect(problem.errors?.map((e) => e.path)).toEqual(['query.cursor']);
    }
  });
});
